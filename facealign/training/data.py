"""Training data: the faces, one augmented sample per (epoch, face), and each process's batches.

Sample i of epoch e is drawn from a numpy Generator seeded by (seed, e, i), so a
sample is the same whatever the number of loader workers or training processes,
and a resumed run replays its epochs exactly. Every process walks the same seeded
order of the epoch in global batches of `batch_size` and takes its share of each.

A stage-1 sample is the augmented crop itself. A stage-2 sample is a larger
"context" picture around the face, from which the training step cuts stage 1's
crop (`to_crop1`), runs the frozen stage 1 on the device, and cuts stage 2's crop
where stage 1's points say (train/inputs.py).
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from facealign.data import FaceSet, load_split, train_val_split
from facealign.transform import CropTransform, points_box

from .augment import photometric, random_crop, random_flip, sample_crop
from .budget import steps_per_epoch
from .config import Config

log = logging.getLogger("facealign.train")

CONTEXT_SCALE = 2.5  # the context's side / the longer side of the points' box


def split_faces(cfg: Config, data_root=None) -> tuple[FaceSet, FaceSet]:
    """The training faces less the fixed, seeded validation hold-out -> (train, val)."""
    faces = load_split("train", cfg.data or data_root, cfg.dataset)
    tr, va = train_val_split(len(faces), cfg.val_fraction, seed=0)
    if cfg.max_train:
        tr = tr[: cfg.max_train]
        va = va[: max(16, min(len(va), cfg.max_train // 4))]
    log.info("%s: %d training faces, %d validation faces (%s)", cfg.name, len(tr), len(va), faces.counts)
    return faces.subset(tr), faces.subset(va)


def context_size(sizes_and_scales) -> int:
    """Context side in pixels: as sharp as the sharpest crop cut from it, a multiple of 32."""
    density = max(size / scale for size, scale in sizes_and_scales)  # crop pixels per box side
    return int(math.ceil(CONTEXT_SCALE * density / 32) * 32)


class FaceSamples(Dataset):
    """faces[i] augmented for epoch e: dataset[(e, i)] -> dict of numpy arrays.

    Stage 1 (context=0): {"image": (S, S, 3) uint8 BGR crop, "pts": (68, 2) float32 crop pixels}.
    Stage 2 (context=C): {"image": (C, C, 3) uint8 BGR context, "pts": (68, 2) context pixels,
    "to_crop1": (2, 3) float32, context pixels -> stage 1's crop pixels}.
    """

    def __init__(self, faces: FaceSet, cfg: Config, crop_size: int, crop_scale: float, context: int = 0):
        self.faces, self.cfg = faces, cfg
        self.crop_size, self.crop_scale, self.context = crop_size, crop_scale, context

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, key) -> dict:
        epoch, i = key
        c = self.cfg
        rng = np.random.default_rng([c.seed, epoch, i])
        image, pts = self.faces.image(i, cache=True), self.faces[i].pts
        if not self.context:
            crop, pts_crop, *_ = sample_crop(image, pts, self.crop_size, self.crop_scale, c.box_jitter, c.augment, rng,
                                             self.faces.scheme)
            return {"image": crop, "pts": pts_crop.astype(np.float32)}
        image, pts = random_flip(image, pts, c.augment, rng, self.faces.scheme)
        tf1 = random_crop(pts, self.crop_size, self.crop_scale, c.box_jitter, c.augment, rng)
        ctx = CropTransform.from_box(points_box(pts), self.context, CONTEXT_SCALE)
        picture = ctx.warp(np.ascontiguousarray(image))
        if c.augment.enabled:
            lo, hi = int(self.context * (0.5 - 0.5 / CONTEXT_SCALE)), int(self.context * (0.5 + 0.5 / CONTEXT_SCALE))
            picture = photometric(picture, c.augment, rng, face=(lo, lo, hi, hi))
        to_crop1 = tf1.matrix @ np.vstack([ctx.inverse, [0, 0, 1]])
        return {"image": picture, "pts": ctx.to_crop(pts), "to_crop1": to_crop1.astype(np.float32)}


def collate(samples: list[dict]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, world: int = 1) -> list[np.ndarray]:
    """The epoch's seeded order in global batches. A last batch too small to give every process
    two faces (BatchNorm needs two) is merged into the one before, so every face is seen once."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    batches = [order[s:s + batch_size] for s in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2 * world:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


class ShardedBatches(Sampler):
    """This process's share of every global batch of the epoch: batch[rank::world], as (epoch, i) keys."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n < 2 * world:
            raise ValueError(f"{n} training faces cannot give {world} process(es) two faces each")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return steps_per_epoch(self.n, self.batch_size, self.world)

    def __iter__(self):
        for batch in epoch_batches(self.n, self.batch_size, self.seed, self.epoch, self.world):
            yield [(self.epoch, int(i)) for i in batch[self.rank::self.world]]


def _worker_init(_):
    cv2.setNumThreads(1)  # the workers are the parallelism; OpenCV's own threads would fight them
    torch.set_num_threads(1)


def make_loader(dataset: FaceSamples, sampler: ShardedBatches, workers: int, pin: bool) -> DataLoader:
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate, pin_memory=pin,
                      worker_init_fn=_worker_init if workers else None, persistent_workers=workers > 0,
                      prefetch_factor=4 if workers else None, multiprocessing_context="spawn" if workers else None)
