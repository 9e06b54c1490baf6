"""Fully connected regression heads: `avg` (torchvision's ResNet: global average pool, then fc)
and `flatten` (the stride-32 map flattened, keeping its layout, then fc). Outputs 2 x K numbers,
absolute points in stage 1 or offsets from the template in a residual stage 2."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_head
from .base import Head


class _Regression(Head):
    """The fc layer itself (state-dict keys fc.weight, fc.bias, as before heads were plug-ins)."""

    key = "fc"

    def __init__(self, chans: list[int], num_points: int, input_size: int, dropout: float = 0.0):
        super().__init__()
        cells = 1 if self.name == "avg" else (input_size // 32) ** 2
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()) if self.name == "avg" else nn.Flatten()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.num_points = num_points
        fc = nn.Linear(chans[3] * cells, num_points * 2)  # drawn as nn.Linear draws (the same random stream
        self.weight, self.bias = fc.weight, fc.bias  # as before: seeded runs repeat); init_weights follows

    def init_weights(self) -> None:
        nn.init.normal_(self.weight, std=1e-3)  # start at the mean (stage 1) or the template (stage 2)
        nn.init.zeros_(self.bias)

    def outputs(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        return F.linear(self.drop(self.pool(feats[-1])), self.weight, self.bias).view(-1, self.num_points, 2), ()

    def shift_outputs(self, shift: torch.Tensor) -> None:
        with torch.no_grad():
            self.bias += shift.to(self.bias).reshape(-1)


@register_head("avg")
class AvgHead(_Regression):
    pass


@register_head("flatten")
class FlattenHead(_Regression):
    pass
