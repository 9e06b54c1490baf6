"""Inference backends behind one small interface.

A backend turns a weights file into a `CascadeModel`: the cascade's stage specs
(crop geometry, shared with training) and one runner per stage, a callable
(N, 3, S, S) float32 RGB in [0, 1] -> (N, 68, 2) float32 normalised outputs.
The FORMATS table is read by both the exporter and the loader.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..models.cascade import StageSpec, run_cascade


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    module: str  # facealign.backends.<module> has load(path, **kw) -> CascadeModel
    needs_gpu: bool


FORMATS: dict[str, Format] = {
    "torch": Format("torch", ".pt", "torch_backend", False),
    "onnxruntime": Format("onnxruntime", ".onnx", "onnxruntime_backend", False),
    "tensorrt": Format("tensorrt", ".engine", "tensorrt_backend", True),
}


@dataclass
class CascadeModel:
    stages: list[StageSpec]
    runners: list[Callable[[np.ndarray], np.ndarray]]
    backend: str
    meta: dict = field(default_factory=dict)

    def __call__(self, frames, boxes_xyxy, flip: bool = False) -> list[np.ndarray]:
        """Frame points (N, 68, 2) after each stage; see models.cascade.run_cascade."""
        if len(boxes_xyxy) == 0:
            return [np.zeros((0, 68, 2), np.float32) for _ in self.stages]
        return run_cascade(self.stages, self.runners, frames, boxes_xyxy, flip=flip)

    def refine(self, frames, pts, flip: bool = False) -> list[np.ndarray]:
        """Tracking: the last stage alone, its crop placed by `pts` (N, 68, 2), the last
        frame's points -> [(N, 68, 2) frame points]. The first stage only has to find a
        face in a loose box; a face that moved a little since its last points is what
        the last stage is trained on (stage 1's errors are larger than a frame's motion)."""
        if len(pts) == 0:
            return [np.zeros((0, 68, 2), np.float32)]
        return run_cascade(self.stages[-1:], self.runners[-1:], frames, pts=np.asarray(pts, np.float32), flip=flip)


def backend_for(path, backend: str = "auto") -> str:
    """`backend` if given, else the one whose suffix the file has.

    A .pt file goes to TensorRT when a CUDA GPU and `tensorrt` are there; else to
    torch, which itself runs on CUDA (FP16 + CUDA graphs) when it sees a GPU.
    """
    if backend != "auto":
        if backend not in FORMATS:
            raise ValueError(f"unknown backend {backend!r}; choose from auto, {', '.join(FORMATS)}")
        return backend
    suffix = Path(path).suffix.lower()
    if suffix == FORMATS["torch"].suffix and _tensorrt_usable():
        return "tensorrt"  # a .pt on an NVIDIA GPU with TensorRT: FP16 engines, built once and cached
    for f in FORMATS.values():
        if f.suffix == suffix:
            return f.name
    raise ValueError(f"{path}: cannot tell the backend from the suffix {suffix!r}; "
                     f"expected one of {', '.join(f.suffix for f in FORMATS.values())}")


def _tensorrt_usable() -> bool:
    """A CUDA GPU is visible and `tensorrt` is importable (without importing it)."""
    import importlib.util

    import torch

    return importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


def load_backend(path, backend: str = "auto", **kwargs) -> CascadeModel:
    """Load a weights file with the named backend (or the one its suffix implies)."""
    name = backend_for(path, backend)
    module = importlib.import_module(f"{__name__}.{FORMATS[name].module}")
    return module.load(Path(path), **kwargs)
