"""One training stage on synthetic batches: the device step's throughput without the data.

`synthetic_setup(cfg)` -> (Step, inputs, batch) as train/engine.py builds them for `cfg` (stage 1,
or stage 2 through the frozen `cfg.stage1`), with one pinned batch of random pictures that stands in
for the loader's: `step(*inputs(batch))` is one training step, crops cut on the device for stage 2.
A lent GPU machine has no 300-W (tools/gpu_check.py times the step this way); the loader, timed
apart by `facealign train --bench`, is not part of it.
"""
from __future__ import annotations

import numpy as np
import torch

from facealign.schemes import MULTIPIE_68
from facealign.transform import CropTransform

from .config import Config
from .data import context_size
from .devices import resolve_device, resolve_precision
from .inputs import Stage1Inputs, Stage2Inputs
from .models import frozen_stage1, stage_spec
from .step import Step


def synthetic_setup(cfg: Config, template=None, seed: int = 0, ddp: bool = False):
    """-> (Step, inputs, batch). template: stage 2's (68, 2) crop template in crop pixels (default: the
    last stage's template of the cascade file `cfg.stage1`, e.g. weights/accurate.pt). ddp: wrap the
    model in DistributedDataParallel (the process group must be up: distributed.init)."""
    dev = resolve_device(cfg.device)
    precision = resolve_precision(cfg.amp, dev)
    rng = np.random.default_rng(seed)
    b = cfg.batch_size
    if cfg.stage == 1:
        spec, inputs, side = stage_spec(cfg), Stage1Inputs(dev, cfg.channels_last), cfg.input_size
        batch = {"pts": rng.uniform(0.15 * side, 0.85 * side, (b, 68, 2))}
    else:
        spec1, stage1 = frozen_stage1(cfg, MULTIPIE_68)
        if template is None:
            from facealign.formats.cascade_pt import load_cascade

            template = load_cascade(cfg.stage1).stages[-1].template
        spec = stage_spec(cfg, template)
        inputs = Stage2Inputs(stage1.to(dev), spec1, spec, dev, cfg.channels_last, precision.dtype,
                              views=2 if cfg.consistency else 1, move=cfg.consistency_move)
        side = context_size([(spec1.input_size, spec1.crop_scale), (cfg.input_size, cfg.crop_scale)])
        to_crop1 = CropTransform.from_box(np.array([0.3, 0.3, 0.7, 0.7]) * side, spec1.input_size, spec1.crop_scale)
        batch = {"pts": rng.uniform(0.3 * side, 0.7 * side, (b, 68, 2)), "to_crop1": np.repeat(to_crop1.matrix[None], b, 0)}
    batch = {k: torch.from_numpy(v.astype(np.float32)) for k, v in batch.items()}
    batch["image"] = torch.from_numpy(rng.integers(0, 256, (b, side, side, 3), dtype=np.uint8))
    if dev.type == "cuda":
        batch = {k: v.pin_memory() for k, v in batch.items()}
    mem = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = spec.build().to(dev, memory_format=mem)
    return Step(model, spec, cfg, dev, precision, 1000, distributed=ddp), inputs, batch
