"""PointCodec: crop pixels <-> the network's normalised outputs, shared by training and inference."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PointCodec:
    """Network outputs are in [-1, 1] across the crop: -1 is the left/top edge of
    pixel 0 (crop coordinate -0.5), +1 the right/bottom edge of the last pixel."""

    size: int

    @property
    def half(self) -> float:
        return self.size / 2.0

    def encode(self, pts_crop):
        """(…, 68, 2) crop pixel centres -> normalised targets (numpy or torch)."""
        return (pts_crop + 0.5) / self.half - 1.0

    def decode(self, out):
        """Normalised outputs -> crop pixel centres (numpy or torch)."""
        return (out + 1.0) * self.half - 0.5
