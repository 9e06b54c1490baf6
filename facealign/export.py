"""`facealign export WEIGHTS --format onnx|engine|torch [-o OUT] [--preset NAME] [--opset 17]`.

WEIGHTS is a cascade file (weights/accurate.pt) or a training checkpoint
(checkpoints/<name>/best.pt). The formats:

    onnx    one ONNX file, one independent subgraph per stage, metadata inside
            (see backends/onnxruntime_backend.py for the layout)
    engine  TensorRT FP16 engines, one per stage, in one .engine file (needs an
            NVIDIA GPU and `pip install facealign[tensorrt]`; see tensorrt_backend.py)
    torch   a half-precision cascade file: how a checkpoint becomes weights/<preset>.pt

Every export is checked afterwards: the written file is loaded with its backend
and compared with the source cascade (PyTorch, float32) on a random batch.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .backends import FORMATS, load_backend
from .backends.onnxruntime_backend import FORMAT, FORMAT_VERSION, NORMALISATION, io_names
from .models.cascade import CascadeFile, load_cascade, save_cascade
from .weights import WEIGHTS_DIR

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17


def facealign_version() -> str:
    try:
        return metadata.version("facealign")
    except metadata.PackageNotFoundError:
        return "unknown"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Stages(torch.nn.Module):
    """All stages side by side: forward(x1, x2, ...) -> (y1, y2, ...), no link between them."""

    def __init__(self, models):
        super().__init__()
        self.stages = torch.nn.ModuleList(models)

    def forward(self, *xs):
        return tuple(m(x) for m, x in zip(self.stages, xs))


def to_onnx(casc: CascadeFile, opset: int = DEFAULT_OPSET, preset: str | None = None, weights_sha256: str = ""):
    """The cascade as one onnx.ModelProto: float32, dynamic batch, metadata in metadata_props."""
    import onnx

    n = len(casc.stages)
    names_in, names_out = zip(*(io_names(i) for i in range(n)))
    example = tuple(torch.rand(2, 3, s.input_size, s.input_size) for s in casc.stages)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(_Stages(casc.models()).eval(), example, buf, dynamo=False, opset_version=opset,
                          input_names=list(names_in), output_names=list(names_out),
                          dynamic_axes={name: {0: "batch"} for name in names_in + names_out})
    model = onnx.load_from_string(buf.getvalue())
    meta = dict(casc.meta)
    if preset:
        meta["preset"] = preset
    props = {
        "facealign_format": FORMAT, "facealign_format_version": str(FORMAT_VERSION),
        "stages": json.dumps([asdict(s) for s in casc.stages]),
        "input_sizes": json.dumps([s.input_size for s in casc.stages]),
        "inputs": json.dumps(list(names_in)), "outputs": json.dumps(list(names_out)),
        "normalisation": NORMALISATION, "preset": str(meta.get("preset", "")),
        "facealign_version": facealign_version(), "weights_sha256": weights_sha256,
        "meta": json.dumps(meta, default=_jsonable),
    }
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"facealign {n}-stage 68-point landmark cascade. {NORMALISATION}"
    return model


def _jsonable(obj):
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    return str(obj)


# --- one function per format: (source cascade, output path, options) -> None ---------------------

def export_onnx(casc: CascadeFile, out: Path, opset: int, preset: str | None, weights_sha256: str) -> None:
    import onnx

    model = to_onnx(casc, opset, preset, weights_sha256)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


def export_engine(casc: CascadeFile, out: Path, opset: int, preset: str | None, weights_sha256: str) -> None:
    from .backends import tensorrt_backend

    model = to_onnx(casc, opset, preset, weights_sha256)
    tensorrt_backend.save_engine(out, model)


def export_torch(casc: CascadeFile, out: Path, opset: int, preset: str | None, weights_sha256: str) -> None:
    meta = dict(casc.meta)
    if preset:
        meta["preset"] = preset
    meta.setdefault("source_sha256", weights_sha256)
    save_cascade(out, casc.stages, casc.models(), meta, half=True)


@dataclass(frozen=True)
class Exporter:
    backend: str  # key of backends.FORMATS: gives the suffix and the loader
    write: Callable


EXPORTERS: dict[str, Exporter] = {
    "onnx": Exporter("onnxruntime", export_onnx),
    "engine": Exporter("tensorrt", export_engine),
    "torch": Exporter("torch", export_torch),
}


def export(weights, fmt: str, out=None, preset: str | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Export `weights` (cascade file or checkpoint) to `fmt`; returns the written path.

    out defaults to the weights path with the format's suffix (onnx, engine) or to
    weights/<preset>.pt (torch, which needs out or preset). Never overwrites the source.
    """
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORTERS)}")
    src = Path(weights)
    casc = load_cascade(src)
    exporter = EXPORTERS[fmt]
    if out is None:
        if fmt == "torch":
            if not preset:
                raise ValueError("--format torch needs -o OUT or --preset NAME (which writes weights/NAME.pt)")
            out = WEIGHTS_DIR / f"{preset}.pt"
        else:
            out = src.with_suffix(FORMATS[exporter.backend].suffix)
    out = Path(out)
    if out.resolve() == src.resolve():
        raise ValueError(f"{out}: refusing to overwrite the source weights; pass another -o")
    exporter.write(casc, out, opset, preset, sha256_file(src))
    log.info("exported %s -> %s (%s)", src, out, fmt)
    return out


def compare(casc: CascadeFile, path, backend: str = "auto", batch: int = 3, seed: int = 0) -> list[float]:
    """Max |source - exported| of each stage's normalised outputs on a random (batch, 3, S, S) input.

    The source runs in PyTorch float32 on the CPU; the exported file with `backend`.
    """
    model = load_backend(path, backend)
    rng = np.random.default_rng(seed)
    diffs = []
    for spec, torch_model, run in zip(casc.stages, casc.models(), model.runners):
        x = rng.random((batch, 3, spec.input_size, spec.input_size), dtype=np.float32)
        with torch.inference_mode():
            ref = torch_model(torch.from_numpy(x)).numpy()
        diffs.append(float(np.abs(np.asarray(run(x), np.float32) - ref).max()))
    return diffs


def add_arguments(p) -> None:
    p.add_argument("weights", help="cascade file (weights/accurate.pt) or training checkpoint (checkpoints/NAME/best.pt)")
    p.add_argument("--format", required=True, choices=list(EXPORTERS), help="what to write")
    p.add_argument("-o", "--output", help="output path (default: WEIGHTS with the format's suffix; "
                                          "for torch, weights/PRESET.pt)")
    p.add_argument("--preset", help="preset name stored in the file's metadata (e.g. accurate, fast)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default %(default)s)")
    p.add_argument("--no-check", action="store_true", help="skip comparing the written file with PyTorch")


def run(args) -> int:
    try:
        out = export(args.weights, args.format, args.output, args.preset, args.opset)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError) as e:
        print(f"facealign export: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if args.format == "onnx":
        print("onnx.checker: ok")
    if not args.no_check:
        backend = EXPORTERS[args.format].backend
        diffs = compare(load_cascade(args.weights), out, backend)
        print("max |torch - " + backend + "| per stage (normalised outputs, random batch): "
              + ", ".join(f"stage {i + 1}: {d:.2e}" for i, d in enumerate(diffs)))
    return 0
