"""From a loader batch to the network's input and its target, on the training device.

Stage 1: the batch holds the crops. Stage 2: it holds the context pictures; the
frozen stage 1 runs on its crops, batched, and stage 2's crops are cut where
stage 1's points say, as the cascade does at inference (facealign.models.cascade).
With `views=2` (config `consistency`) stage 2 gets each face twice, the second crop
moved a little (training/consistency.py).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from facealign.models import StageSpec
from facealign.models.heatmap import render

from . import consistency
from .geometry import apply, invert, similarity, warp


class StepInputs(NamedTuple):
    """One training step's tensors on the device: the network's input (N, C, S, S), the true points in
    its crop pixels (N, K, 2), the previous stage's points there for a stage that corrects them (else
    None), and with two views of each face (N = 2B, the second views last) the (B, 2, 3) maps from a
    second view's crop pixels to its first view's (else None)."""

    x: torch.Tensor
    target: torch.Tensor
    previous: torch.Tensor | None = None
    pairs: torch.Tensor | None = None


def to_network(images: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """(B, H, W, 3) uint8 BGR -> (B, 3, H, W) float32 RGB in [0, 1] on `device` (facealign.models.to_input)."""
    x = images.to(device, non_blocking=True).flip(-1).permute(0, 3, 1, 2).float().div_(255.0)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class Stage1Inputs:
    def __init__(self, device: torch.device, channels_last: bool = False):
        self.device, self.channels_last = device, channels_last

    def __call__(self, batch: dict) -> StepInputs:
        """-> input (B, 3, S, S), target points (B, 68, 2) in crop pixels."""
        return StepInputs(to_network(batch["image"], self.device, self.channels_last),
                          batch["pts"].to(self.device, non_blocking=True))


class Stage2Inputs:
    """Stage 1 (frozen, on the device) places stage 2's crop in each context picture. views=2: each
    face also gets a second crop, moved by a small similarity (consistency.MOVE times `move`), and
    both get pixel noise (training/consistency.py)."""

    def __init__(self, stage1: torch.nn.Module, spec1: StageSpec, spec2: StageSpec, device: torch.device,
                 channels_last: bool = False, autocast_dtype: torch.dtype | None = None, views: int = 1,
                 move: float = 1.0):
        if views not in (1, 2):
            raise ValueError(f"views must be 1 or 2, got {views}")
        self.stage1, self.spec1, self.spec2 = stage1, spec1, spec2
        self.autocast_dtype, self.views, self.move = autocast_dtype, views, move
        self.template = torch.as_tensor(spec2.template, dtype=torch.float32, device=device)
        self.device, self.channels_last = device, channels_last

    @torch.no_grad()
    def __call__(self, batch: dict) -> StepInputs:
        """-> stage 2's input (B, C, S2, S2), target points (B, 68, 2) in stage 2's crop pixels,
        stage 1's points there when stage 2 sees them as a heatmap channel (C = 4), else None; with
        two views 2B of each, and the maps between them. Geometry in float32; only stage 1's forward
        pass in the mixed precision, if any."""
        context = to_network(batch["image"], self.device)
        to_crop1 = batch["to_crop1"].to(self.device, non_blocking=True)
        pts_context = batch["pts"].to(self.device, non_blocking=True)
        crop1 = warp(context, to_crop1, self.spec1.input_size)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            raw = self.stage1(crop1)
        pts1 = self.spec1.decode(raw.float())  # stage 1's points, its crop's pixels
        pts1_context = apply(invert(to_crop1), pts1)
        to_crop2 = similarity(pts1_context, self.template)
        pairs = None
        if self.views == 2:
            second = consistency.moved(to_crop2, self.spec2.input_size, amount=self.move)
            pairs = consistency.between(to_crop2, second)
            to_crop2 = torch.cat([to_crop2, second])
            context, pts1_context, pts_context = (torch.cat([t, t]) for t in (context, pts1_context, pts_context))
        crop2 = warp(context, to_crop2, self.spec2.input_size)
        if self.views == 2:
            crop2 = consistency.noisy(crop2)
        previous = None
        if self.spec2.heatmap_sigma:
            previous = apply(to_crop2, pts1_context)
            crop2 = torch.cat([crop2, render(previous, self.spec2.input_size, self.spec2.heatmap_sigma)], dim=1)
        if self.channels_last:
            crop2 = crop2.contiguous(memory_format=torch.channels_last)
        return StepInputs(crop2, apply(to_crop2, pts_context), previous, pairs)
