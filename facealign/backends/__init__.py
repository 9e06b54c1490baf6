"""Inference backends behind one small interface.

A backend turns a weights file into a `CascadeModel`: the cascade's stage specs
(crop geometry, shared with training) and one runner per stage, a callable
(N, 3, S, S) float32 RGB in [0, 1] -> ((N, K, 2) float32 normalised outputs, (N, K) float32
point scores in [0, 1] or None when the stage's head has none), K the points of the
cascade's scheme (stored in its metadata: `CascadeModel.scheme`).
The FORMATS table is read by both the exporter and the loader; each backend
module is imported only when it loads something, so the onnxruntime path never
imports PyTorch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from ..install import TENSORRT_INDEX
from ..models.cascade import CascadeOutput, StageSpec, run_cascade
from ..schemes import PointScheme
from .devices import check_device, installed, torch_cuda, wants_gpu


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    module: str  # facealign.backends.<module> has load(path, **options) -> CascadeModel
    needs_gpu: bool
    options: tuple[str, ...]  # the keyword options its load() takes
    packages: tuple[str, ...]  # what it imports
    extra: str  # pip install ".[<extra>]" (in the checkout) brings them
    index: str = ""  # an extra package index the extra needs (TensorRT's wheels are on NVIDIA's own)


FORMATS: dict[str, Format] = {
    "torch": Format("torch", ".pt", "torch_backend", False, ("device",), ("torch", "torchvision"), "torch"),
    "onnxruntime": Format("onnxruntime", ".onnx", "onnxruntime_backend", False,
                          ("device", "threads", "providers", "session"), ("onnxruntime", "onnx"), ""),
    "tensorrt": Format("tensorrt", ".engine", "tensorrt_backend", True, ("device", "cache_dir"),
                       ("tensorrt", "torch"), "tensorrt", TENSORRT_INDEX),
    "openvino": Format("openvino", ".onnx", "openvino_backend", False, ("device", "threads", "precision"),
                       ("openvino", "onnx"), "openvino"),
}


@dataclass
class CascadeModel:
    stages: list[StageSpec]
    runners: list[Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]]
    backend: str
    meta: dict = field(default_factory=dict)
    has_scores: bool = False  # the last stage's runner gives point scores (its head has them)

    @cached_property
    def scheme(self) -> PointScheme:
        """The points it predicts (meta["scheme"]; the 68-point scheme for files from before it was stored),
        read once: every call passes it on."""
        return PointScheme.from_dict(self.meta.get("scheme"))

    def _none(self, stages: int) -> CascadeOutput:
        k = self.scheme.num_points
        return CascadeOutput([np.zeros((0, k, 2), np.float32) for _ in range(stages)],
                             np.zeros((0, k), np.float32) if self.has_scores else None)

    def __call__(self, frames, boxes_xyxy, flip: bool = False, observe=None) -> CascadeOutput:
        """Frame points (N, K, 2) after each stage, and `.scores`: the last stage's (N, K) point
        scores (None without them); observe(event, ms) is told the time of each crop and stage
        (stage1, stage2, ...); see models.cascade.run_cascade."""
        if len(boxes_xyxy) == 0:
            return self._none(len(self.stages))
        return run_cascade(self.stages, self.runners, frames, boxes_xyxy, flip=flip, observe=observe,
                           scheme=self.scheme)

    def refine(self, frames, pts, flip: bool = False, observe=None) -> CascadeOutput:
        """Tracking: the last stage alone, its crop placed by `pts` (N, K, 2; or a list of N (K, 2)
        arrays), the last frame's points -> [(N, K, 2) frame points] with its `.scores`. The first
        stage only has to find a face in a loose box; a face that moved a little since its last
        points is what the last stage is trained on (stage 1's errors are larger than a frame's motion)."""
        if len(pts) == 0:
            return self._none(1)
        return run_cascade(self.stages[-1:], self.runners[-1:], frames, pts=np.asarray(pts, np.float32), flip=flip,
                           names=[f"stage{len(self.stages)}"], observe=observe, scheme=self.scheme)


def join_chunks(chunks: list[tuple[np.ndarray, np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
    """A batch a runner ran in chunks: [(outputs, scores or None)] -> (outputs, scores or None), each
    concatenated in order."""
    outputs = np.concatenate([o for o, _ in chunks])
    return outputs, None if chunks[0][1] is None else np.concatenate([s for _, s in chunks])


def backend_for(path, backend: str = "auto", device: str = "auto") -> str:
    """`backend` if given, else the one whose suffix the file has.

    A .pt file goes to TensorRT when `device` may be a GPU, the driver sees one, and
    `tensorrt` and PyTorch (with CUDA) are installed; else to torch, which itself runs
    on CUDA (FP16 + CUDA graphs) when the device is one. device="cpu" never picks TensorRT.
    An .onnx file goes to onnxruntime; OpenVINO (same suffix) only by name, backend="openvino": it is
    faster for the accurate preset's file but not for fast's (docs/speed.md, section 11).
    """
    check_device(device)
    if backend != "auto":
        if backend not in FORMATS:
            raise ValueError(f"unknown backend {backend!r}; choose from auto, {', '.join(FORMATS)}")
        return backend
    suffix = Path(path).suffix.lower()
    if suffix == FORMATS["torch"].suffix and tensorrt_usable(device):
        return "tensorrt"  # a .pt on an NVIDIA GPU with TensorRT: FP16 engines, built once and cached
    for f in FORMATS.values():
        if f.suffix == suffix:
            return f.name
    raise ValueError(f"{path}: cannot tell the backend from the suffix {suffix!r}; "
                     f"expected one of {', '.join(f.suffix for f in FORMATS.values())}")


def tensorrt_usable(device: str = "auto") -> bool:
    """`device` may run on a GPU, and `tensorrt` and CUDA PyTorch are there (asks torch last)."""
    return wants_gpu(device) and installed("tensorrt") and torch_cuda()


def check_options(name: str, options: dict) -> None:
    """ValueError naming the unknown options of backend `name` and listing its valid ones."""
    fmt = FORMATS[name]
    unknown = sorted(set(options) - set(fmt.options))
    if unknown:
        raise ValueError(f"unknown option{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} for the "
                         f"{name} backend; valid options: {', '.join(fmt.options)}")


def check_packages(name: str) -> None:
    """ImportError saying how to install what backend `name` needs, if something is missing."""
    fmt = FORMATS[name]
    missing = [p for p in fmt.packages if not installed(p)]
    if missing:
        from ..install import pip_hint

        how = pip_hint(fmt.extra or None, fmt.index)
        other = "" if name == "onnxruntime" else " (or use backend='onnxruntime' with an .onnx file)"
        raise ImportError(f"the {name} backend needs {', '.join(missing)}: {how}{other}")


def available_backends(device: str = "auto") -> list[str]:
    """The backends this machine can run: their packages installed (check_packages) and, for one that
    needs a GPU (TensorRT), a CUDA GPU that PyTorch sees on `device`."""
    out = []
    for name, fmt in FORMATS.items():
        try:
            check_packages(name)
        except ImportError:
            continue
        if fmt.needs_gpu and not (wants_gpu(device) and torch_cuda()):
            continue
        out.append(name)
    return out


def load_backend(path, backend: str = "auto", **options) -> CascadeModel:
    """Load a weights file with the named backend (or the one its suffix and device imply).

    options: the backend's own (FORMATS[name].options); an unknown one is a ValueError.
    """
    name = backend_for(path, backend, options.get("device", "auto"))
    check_options(name, options)
    check_packages(name)
    module = importlib.import_module(f"{__name__}.{FORMATS[name].module}")
    return module.load(Path(path), **options)
