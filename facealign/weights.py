"""Where the shipped weights live and how a preset name becomes a file.

weights/<preset>.pt is the cascade (half precision); weights/<preset>.onnx is
the same cascade exported for onnxruntime, the CPU default. With backend="auto"
a machine without a CUDA GPU gets the .onnx file, one with a GPU the .pt file
(TensorRT builds its engines from it, or torch runs it on CUDA).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
PRESETS = ("accurate", "fast")


def _has_cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def resolve(weights=None, preset: str = "accurate", backend: str = "auto") -> Path:
    """An explicit weights path, else the shipped file of `preset` that suits `backend`."""
    if weights:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such weights file")
        return path
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    onnx, pt = WEIGHTS_DIR / f"{preset}.onnx", WEIGHTS_DIR / f"{preset}.pt"
    want_onnx = backend == "onnxruntime" or (backend == "auto" and not _has_cuda())
    for path in ((onnx, pt) if want_onnx else (pt,)):
        if path.is_file():
            return path
    raise FileNotFoundError(f"{pt}: the {preset!r} weights are not in this checkout; pass weights=PATH")
