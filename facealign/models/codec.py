"""Codecs: a stage's network outputs <-> points in its crop, shared by training and every backend.

Outputs are in [-1, 1] across the crop: -1 is the left/top edge of pixel 0 (crop coordinate
-0.5), +1 the right/bottom edge of the last pixel. What they mean depends on the stage, and
each meaning is one codec:
    PointCodec       absolute points (stage 1, and heads that locate points on a map)
    OffsetCodec      offsets from a fixed template (a residual stage 2), in half crops
    CorrectionCodec  corrections to the previous stage's points (a heatmap stage 2), in half crops
All encode targets the same way (absolute, `encode`); `decode(out, previous)` gives crop pixels.
Numpy or torch alike; nothing here imports torch unless a tensor comes in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PointCodec:
    """Absolute points: outputs in [-1, 1] across a `size`-pixel crop."""

    size: int

    @property
    def half(self) -> float:
        return self.size / 2.0

    def encode(self, pts_crop):
        """(…, K, 2) crop pixel centres -> normalised targets (numpy or torch)."""
        return (pts_crop + 0.5) / self.half - 1.0

    def decode(self, out, previous=None):
        """Normalised outputs -> crop pixel centres (numpy or torch); `previous` is not needed."""
        return (out + 1.0) * self.half - 0.5

    def to(self, device) -> "PointCodec":
        """This codec with its constants as tensors on `device` (training: a step copies nothing from
        the host); itself when it has none."""
        return self


@dataclass(frozen=True)
class OffsetCodec(PointCodec):
    """Offsets from `template` ((K, 2) crop pixels: a float32 array, or a tensor after `to`), in half crops."""

    template: object = None

    def decode(self, out, previous=None):
        template = self.template
        if isinstance(template, np.ndarray) and not isinstance(out, np.ndarray):  # a tensor: training
            import torch

            template = torch.as_tensor(template, device=out.device)
        return template + out * self.half

    def to(self, device) -> "OffsetCodec":
        import torch

        return OffsetCodec(self.size, torch.as_tensor(self.template, dtype=torch.float32, device=device))


@dataclass(frozen=True)
class CorrectionCodec(PointCodec):
    """Corrections to the previous stage's points (in this crop's pixels), in half crops."""

    def decode(self, out, previous=None):
        if previous is None:
            raise ValueError("a heatmap stage corrects the previous stage's points: pass previous=")
        return previous + out * self.half
