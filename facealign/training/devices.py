"""Which device a training process runs on, and in which precision.

`device` and `amp` are config keys (train/config.py checks their spelling); this
module checks that the device is there, before any data or weights are loaded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger("facealign.train")


class DeviceError(RuntimeError):
    """The configured device does not exist on this machine."""


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (None = full float32) and whether gradients need a GradScaler (fp16)."""

    name: str  # "off" | "bf16" | "fp16"

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    @property
    def scaled(self) -> bool:
        return self.name == "fp16"


def resolve_device(name: str, local_rank: int = 0, world_size: int = 1, local_world: int = 1) -> torch.device:
    """Config `device` -> torch.device; under torchrun, `cuda` means this process's local GPU, so the
    `local_world` processes of this machine need as many GPUs (DeviceError before anything starts)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError("device=mps: this machine has no Apple GPU that torch can use; "
                              "use device=cpu or device=auto")
        if world_size > 1:
            raise DeviceError("device=mps trains in one process only; drop --nproc / torchrun")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"device={name}: torch sees no CUDA GPU (torch {torch.__version__}, built for CUDA "
                          f"{torch.version.cuda or 'none'}); use device=cpu, or device=auto to take a GPU "
                          "only when there is one")
    count = torch.cuda.device_count()
    if ":" in name:
        if world_size > 1:
            raise DeviceError(f"device={name}: under torchrun each process takes the GPU of its local rank; "
                              "give device=cuda (choose GPUs with CUDA_VISIBLE_DEVICES)")
        index = int(name.split(":")[1])
    else:
        index = local_rank
        if local_world > count:
            raise DeviceError(f"device={name}: {local_world} training processes on this machine take one CUDA GPU "
                              f"each, and torch sees {count}; use --nproc {count} (torchrun --nproc_per_node "
                              f"{count}), or device=cpu")
    if index >= count:
        raise DeviceError(f"device=cuda:{index}: this machine has {count} CUDA GPU(s), "
                          f"cuda:0..cuda:{count - 1}")
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def check_sync_bn(sync_bn: bool, device: torch.device, world_size: int) -> None:
    """sync_bn needs CUDA (torch's SyncBatchNorm raises "only work with GPU modules" elsewhere)."""
    if sync_bn and device.type != "cuda":
        raise DeviceError(f"sync_bn=true needs CUDA GPUs (torch's SyncBatchNorm runs on GPUs only); "
                          f"this run is on {device.type}: leave sync_bn off")
    if sync_bn and world_size == 1:
        log.warning("sync_bn=true has no effect in one process")


CPU_BF16_MIN_BATCH = 32  # measured (docs/training.md): bf16 1.11-1.58x float32 at batch 32, 0.94x at batch 4


def resolve_precision(amp: str, device: torch.device, batch_size: int = CPU_BF16_MIN_BATCH) -> Precision:
    """Config `amp` -> Precision. auto: bf16 on a GPU that has it, else fp16; on a CPU with native
    bf16 instructions (AVX512-BF16 or AMX) bf16 from batch CPU_BF16_MIN_BATCH up, where it was
    measured faster; float32 on other CPUs and smaller batches."""
    if amp == "auto":
        if device.type == "cuda":
            return Precision("bf16" if torch.cuda.is_bf16_supported() else "fp16")
        fast = device.type == "cpu" and batch_size >= CPU_BF16_MIN_BATCH and cpu_has_bf16()
        return Precision("bf16" if fast else "off")
    if amp == "fp16" and device.type == "cpu":
        log.warning("amp=fp16 on the CPU: float16 matrix products are slow there; amp=bf16 is the CPU's "
                    "mixed precision")
    return Precision(amp)


def cpu_has_bf16() -> bool:
    """Does this CPU compute bf16 natively (AVX512-BF16 or AMX tiles)? torch.cpu's probes are private:
    a torch without them answers False (float32, the safe choice)."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(p() for p in probes if p is not None)


def cores_per_process(local_world_size: int) -> int:
    """This machine's cores shared out among its training processes (at least 1): the default
    torch threads, and (at most 8) the default loader workers, of each process."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, local_world_size))
