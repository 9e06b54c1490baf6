"""Where the shipped weights live and how a preset name becomes a file.

weights/<preset>.pt is the cascade (half precision); weights/<preset>.onnx is
the same cascade exported for onnxruntime, the CPU default. With backend="auto"
a machine without a CUDA GPU (or device="cpu") gets the .onnx file, one with a
GPU and CUDA PyTorch the .pt file (TensorRT builds its engines from it, or torch
runs it on CUDA).

weights/<preset>.int8.onnx, where present, is its INT8 copy (`facealign export weights/<preset>.onnx
--format onnx --int8`); onnxruntime on the CPU takes it before the float file, since it is shipped
only when it costs at most 0.05 of common-subset NME (weights/README.md, "Speed"). To run the float
file anyway, pass it: weights="weights/<preset>.onnx" (command line: --weights).

In a checkout (or an editable install) the files are the repository's weights/
folder; a wheel carries the same files as package data in facealign/_weights/.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent / "weights"  # the repository's top-level weights/
INSTALLED_DIR = PACKAGE_DIR / "_weights"  # where a wheel puts them (pyproject.toml: package-dir)
PRESETS = ("accurate", "fast")


def weights_dir() -> Path:
    """The folder of the shipped weights: the checkout's weights/, else the installed copy."""
    for d in (CHECKOUT_DIR, INSTALLED_DIR):
        if any((d / f"{p}{s}").is_file() for p in PRESETS for s in (".onnx", ".pt")):
            return d
    return CHECKOUT_DIR if CHECKOUT_DIR.is_dir() else INSTALLED_DIR


WEIGHTS_DIR = weights_dir()


def preferred_suffixes(backend: str = "auto", device: str = "auto") -> tuple[str, ...]:
    """The shipped file types `backend` can load, best first."""
    if backend in ("onnxruntime", "openvino"):
        return (".onnx",)
    if backend in ("torch", "tensorrt"):
        return (".pt",)
    from .backends.devices import torch_cuda, wants_gpu

    return (".pt", ".onnx") if wants_gpu(device) and torch_cuda() else (".onnx", ".pt")


def variants(suffix: str, device: str = "auto") -> tuple[str, ...]:
    """The copies of a `suffix` file to look for, best first: the INT8 one (".int8") before the float
    one ("") on the CPU (device auto or cpu: onnxruntime's CPU provider, or OpenVINO)."""
    return (".int8", "") if suffix == ".onnx" and not device.startswith("cuda") else ("",)


def resolve(weights=None, preset: str = "accurate", backend: str = "auto", device: str = "auto") -> Path:
    """An explicit weights path, else the shipped file of `preset` that suits `backend` and `device`."""
    if weights:
        path = Path(weights)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such weights file")
        return path
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    suffixes = preferred_suffixes(backend, device)
    for path in (WEIGHTS_DIR / f"{preset}{v}{s}" for s in suffixes for v in variants(s, device)):
        if path.is_file():
            return path
    raise FileNotFoundError(f"{WEIGHTS_DIR / (preset + suffixes[0])}: the {preset!r} weights for the {backend} backend are not installed; "
                            "pass weights=PATH (command line: --weights PATH)")
