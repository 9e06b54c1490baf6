"""Several training processes with torch's own launcher (torchrun), nothing home-made.

torchrun starts one process per GPU (or per CPU share) and tells each its place
through the environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
MASTER_ADDR/PORT). `facealign train CONFIG --nproc N` starts torchrun itself.
Rank 0 alone validates and writes; what it decides reaches the others by broadcast.
Every process torchrun starts joins a process group and trains in DistributedDataParallel,
one process included (`--nproc 1`, `torchrun --nproc_per_node 1`: DDP on one GPU is real);
a run without torchrun is one plain process. Collectives run on the group's device (NCCL
takes CUDA tensors only).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .devices import cores_per_process


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    launched: bool = False  # started by torchrun (a process group, DDP), even as its only process

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.launched or self.world > 1


def from_env() -> Ranks:
    """This process's place, as torchrun set it (one process when it did not)."""
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Ranks()
    return Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                 int(env.get("LOCAL_WORLD_SIZE", env["WORLD_SIZE"])), launched=True)


def init(ranks: Ranks, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPU."""
    if ranks.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)


def backend() -> str:
    """The process group's backend ("nccl", "gloo"), or "none" outside one."""
    return str(dist.get_backend()) if dist.is_initialized() else "none"


def collective_device() -> torch.device:
    """Where the group's collectives take their tensors: this process's GPU under NCCL, else the CPU."""
    if backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def shutdown() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def share(obj, ranks: Ranks):
    """Rank 0's `obj` on every rank (any picklable object; a no-op in one process)."""
    if not ranks.distributed:
        return obj
    box = [obj if ranks.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_ranks(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """Sum a small tensor over the ranks (e.g. [loss * n, n]); itself in one process. The sum is
    taken on the group's device (NCCL refuses CPU tensors) and comes back on `values`'s device."""
    if ranks.distributed and dist.is_initialized():
        summed = values.to(collective_device(), copy=True)
        dist.all_reduce(summed)
        return summed.to(values.device)
    return values


def launch(argv: list[str], nproc: int) -> int:
    """`python -m torch.distributed.run --standalone --nproc_per_node N -m facealign.training ARGV` -> its exit code.

    OMP_NUM_THREADS, when unset, is each process's share of the cores (what the trainer uses anyway),
    so torchrun does not print its banner about setting it to 1; the echoed line names it."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "facealign.training", *argv]
    env = dict(os.environ)
    threads = env.setdefault("OMP_NUM_THREADS", str(cores_per_process(nproc)))
    print("launching:", f"OMP_NUM_THREADS={threads}", shlex.join(cmd), flush=True)  # the whole line, to copy
    return subprocess.call(cmd, env=env)
