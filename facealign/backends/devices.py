"""Which devices this machine has, asked cheaply: no PyTorch import on a machine without a GPU.

`cuda_device_count()` asks the NVIDIA driver itself (libcuda through ctypes): 0 where there is
no driver or no GPU, so a CPU machine never pays for importing torch to learn that.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import re
import sys

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@functools.lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """CUDA GPUs the driver sees (0 without a driver); never imports torch."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so", "libcuda.dylib"]
    found = ctypes.util.find_library("cuda")
    for name in ([found] if found else []) + names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        try:
            if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
        except AttributeError:
            return 0
        return count.value
    return 0


def installed(package: str) -> bool:
    """`package` is importable (without importing it)."""
    return importlib.util.find_spec(package) is not None


def check_device(device: str) -> str:
    """A device string "auto", "cpu", "cuda" or "cuda:N", else ValueError listing those."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    return device


def check_threads(threads):
    """A backend's `threads` option: a positive integer or None (ValueError otherwise)."""
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return threads


def wants_gpu(device: str) -> bool:
    """Would `device` run on a CUDA GPU here? "auto" does when the driver sees one."""
    device = check_device(device)
    if device == "auto":
        return cuda_device_count() > 0
    return device.startswith("cuda")


def torch_cuda() -> bool:
    """PyTorch is installed and sees a CUDA GPU (imports torch only when the driver has a GPU)."""
    return cuda_device_count() > 0 and installed("torch") and _torch_cuda_available()


def _torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cuda_index(device: str) -> int:
    """"cuda:N" -> N, "cuda" -> 0."""
    return int(device.split(":", 1)[1]) if ":" in device else 0
