"""Export weights to another format: what `facealign export WEIGHTS --format onnx|engine|torch [-o OUT]
[--overwrite] [--preset NAME] [--opset 17] [--cache-dir DIR]` runs.

WEIGHTS is a cascade file (weights/accurate.pt) or a training checkpoint
(checkpoints/<name>/best.pt). The formats, each read and written in facealign/formats/:

    onnx    one ONNX file, one independent subgraph per stage, metadata inside (onnx_cascade.py);
            --fp16: the FP16-typed copy TensorRT 11 builds (formats/onnx_fp16.py: body in float16,
            decoding tail and inputs/outputs float32), to inspect or to run on onnxruntime;
            --int8: the INT8 copy for onnxruntime on the CPU (formats/onnx_int8.py, QDQ, per-channel,
            calibrated on 300-W training faces by facealign/quantize.py; WEIGHTS may be a float .onnx
            file, which needs no PyTorch)
    engine  TensorRT FP16 engines, one per stage, in one .engine file (engine_file.py; needs an
            NVIDIA GPU and `pip install ".[tensorrt]"`); engines come from the engine cache
    torch   a half-precision cascade file: how a checkpoint becomes weights/<preset>.pt (cascade_pt.py)

Every export is checked afterwards: the written file is loaded with its backend
and compared with the source cascade (PyTorch, float32) on a random batch.
Exporting needs PyTorch (`pip install ".[torch]"` in the checkout). Every error is one line, exit code 2.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .backends import FORMATS, load_backend
from .formats.cascade_pt import CascadeFile, load_cascade, save_cascade
from .formats.hashing import sha256_file
from .formats.onnx_cascade import DEFAULT_OPSET, OnnxCascade, read_onnx, to_onnx, write_onnx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    opset: int = DEFAULT_OPSET
    preset: str | None = None
    weights_sha256: str = ""
    cache_dir: str | None = None  # engine: the TensorRT engine cache
    device: str = "cuda"  # engine: the GPU to build on
    fp16: bool = False  # onnx: the FP16-typed graph
    int8: bool = False  # onnx: the INT8 copy, calibrated on training faces
    data: str | None = None  # int8: the 300-W root (default: data_root())
    calibration_faces: int = 256  # int8: training faces to calibrate on
    head_float: bool = False  # int8: the PIP heads' convolutions stay float32


# --- one function per format: (source cascade, output path, options) -> None ---------------------

def export_onnx(casc, out: Path, opts: Options) -> None:
    """casc: a CascadeFile, or (int8) an OnnxCascade read from a float .onnx file."""
    model = casc.model if isinstance(casc, OnnxCascade) else to_onnx(casc, opts.opset, opts.preset, opts.weights_sha256)
    if opts.int8:
        from .data import load_split
        from .quantize import quantize

        model = quantize(model, load_split("train", opts.data), opts.calibration_faces, head_float=opts.head_float)
    if opts.fp16:
        from .formats.onnx_fp16 import to_float16

        model = to_float16(model)
        entry = model.metadata_props.add()
        entry.key, entry.value = "precision", "float16"
    write_onnx(model, out)


def export_engine(casc: CascadeFile, out: Path, opts: Options) -> None:
    from .backends import tensorrt_backend

    model = to_onnx(casc, opts.opset, opts.preset, opts.weights_sha256)
    tensorrt_backend.save_engine(out, model, opts.cache_dir, opts.device)


def export_torch(casc: CascadeFile, out: Path, opts: Options) -> None:
    meta = dict(casc.meta)
    if opts.preset:
        meta["preset"] = opts.preset
    meta.setdefault("source_sha256", opts.weights_sha256)
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


def export(weights, fmt: str, out=None, preset: str | None = None, opset: int = DEFAULT_OPSET,
           cache_dir=None, device: str = "cuda", fp16: bool = False, overwrite: bool = False, int8: bool = False,
           data=None, calibration_faces: int = 256, head_float: bool = False) -> Path:
    """Export `weights` (cascade file or checkpoint; with int8 also a float .onnx file) to `fmt`; returns
    the written path.

    out defaults to the weights path with the format's suffix (onnx, engine; WEIGHTS.fp16.onnx for
    fp16, WEIGHTS.int8.onnx for int8) or to weights/<preset>.pt (torch, which needs out or preset).
    int8: calibrated on `calibration_faces` 300-W training faces under `data` (default data_root());
    head_float: the head's convolutions, and the tensors the decoding reads, left in float32 (the fast
    preset's file: common-subset NME 3.4500 against 3.4504 all in int8; weights/README.md).
    Never overwrites the source; an existing `out` (a shipped weights file, an earlier export) only
    with overwrite=True.
    """
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORTERS)}")
    if (fp16 or int8) and fmt != "onnx":
        raise ValueError(f"--{'fp16' if fp16 else 'int8'} applies to --format onnx only")
    if fp16 and int8:
        raise ValueError("--fp16 and --int8 are two different copies; ask for one")
    src = Path(weights)
    if src.suffix.lower() == ".onnx" and not int8:
        raise ValueError(f"{src}: an .onnx file can only be quantised here (--int8); export the .pt cascade "
                         "for the other formats")
    casc = read_onnx(src) if src.suffix.lower() == ".onnx" else load_cascade(src)
    exporter = EXPORTERS[fmt]
    if out is None:
        if fmt == "torch":
            if not preset:
                raise ValueError("--format torch needs -o OUT or --preset NAME (which writes weights/NAME.pt)")
            from .weights import WEIGHTS_DIR

            out = WEIGHTS_DIR / f"{preset}.pt"
        else:
            variant = ".fp16" if fp16 else ".int8" if int8 else ""
            out = src.with_suffix(variant + FORMATS[exporter.backend].suffix)
    out = Path(out)
    if out.resolve() == src.resolve():
        raise ValueError(f"{out}: refusing to overwrite the source weights; pass another -o")
    refuse_existing(out, overwrite)
    opts = Options(opset, preset, sha256_file(src), None if cache_dir is None else str(cache_dir), device, fp16,
                   int8, None if data is None else str(data), calibration_faces, head_float)
    exporter.write(casc, out, opts)
    log.info("exported %s -> %s (%s)", src, out, fmt)
    return out


def refuse_existing(out: Path, overwrite: bool) -> None:
    """FileExistsError (one line, with the way out) when `out` exists and overwrite is off."""
    if overwrite or not out.exists():
        return
    from .weights import WEIGHTS_DIR

    shipped = out.resolve().parent == Path(WEIGHTS_DIR).resolve()
    raise FileExistsError(f"{out} already exists{' (a shipped weights file)' if shipped else ''}; "
                          f"pass --overwrite to replace it, or -o OTHER to write elsewhere")


def compare(casc: CascadeFile, path, backend: str = "auto", batch: int = 3, seed: int = 0, **options) -> list[float]:
    """Max |source - exported| of each stage's normalised outputs and point scores on a random
    (batch, C, S, S) input. ValueError when the exported file has scores where the source has none,
    or lacks them where it has them.

    The source runs in PyTorch float32 on the CPU (its infer()); the exported file with `backend`.
    """
    import torch

    from .models.cascade import split_output

    model = load_backend(path, backend, **options)
    rng = np.random.default_rng(seed)
    diffs = []
    for i, (spec, torch_model, run) in enumerate(zip(casc.stages, casc.models(), model.runners)):
        x = rng.random((batch, spec.in_channels, spec.input_size, spec.input_size), dtype=np.float32)
        with torch.inference_mode():
            ref, ref_scores = torch_model.infer(torch.from_numpy(x))
        got, scores = split_output(run(x))
        if (scores is None) != (ref_scores is None):
            raise ValueError(f"{path}: stage {i + 1} has {'no ' if scores is None else ''}point scores, "
                             f"the source has {'none' if ref_scores is None else 'them'}")
        diff = np.abs(np.asarray(got, np.float32) - ref.numpy()).max()
        if scores is not None:
            diff = max(diff, np.abs(np.asarray(scores, np.float32) - ref_scores.numpy()).max())
        diffs.append(float(diff))
    return diffs
