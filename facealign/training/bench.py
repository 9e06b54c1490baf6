"""`facealign train CONFIG --bench STEPS`: training throughput, and nothing written.

Times STEPS training steps after a few warm-up ones, with the run's own data
loader, device, precision and processes: images/s over all processes, the share
of the time spent waiting for the loader's next batch, and the time of one step
(stage 2's step includes running stage 1 and cutting its crops on the device).
"""
from __future__ import annotations

import time

import torch

from . import distributed
from .config import Config
from .engine import Trainer

WARMUP = 3


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(cfg: Config, steps: int, data_root=None) -> dict:
    t = Trainer(cfg, data_root, write=False)
    wait = work = 0.0
    images = done = 0
    while done < WARMUP + steps:
        batches = t.batches()
        while done < WARMUP + steps:
            t0 = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:  # the next epoch
                t.epoch += 1
                break
            t1 = time.perf_counter()
            _, n = t.train_step(batch)
            _sync(t.device)
            t2 = time.perf_counter()
            if done >= WARMUP:
                wait, work, images = wait + t1 - t0, work + t2 - t1, images + n
            done += 1
    # on the process's device: an NCCL group all-reduces CUDA tensors only
    totals = distributed.sum_over_ranks(torch.tensor([images, wait, work], dtype=torch.float64, device=t.device),
                                        t.ranks)
    ddp = distributed.backend()
    distributed.shutdown()
    n, wait_sum, work_sum = totals.cpu().tolist()
    per_rank = (wait_sum + work_sum) / t.ranks.world
    return {"images_per_s": n / per_rank, "data_wait_share": wait_sum / (wait_sum + work_sum),
            "step_ms": 1000 * work_sum / t.ranks.world / steps, "steps": steps, "processes": t.ranks.world,
            "workers": t.workers, "threads": torch.get_num_threads(), "device": str(t.device),
            "precision": t.precision.name, "batch_size": cfg.batch_size, "ddp": ddp,
            "channels_last": cfg.channels_last, "compile": cfg.compile}
