"""`integral`: the points through a soft-argmax (integral regression, Sun et al. 2018). A small
top-down path brings layers 4..1 back to stride 4, one logit map per point, and each point is the
softmax-weighted mean of the map's cell centres, so the output is (B, K, 2) coordinates trained
with the point loss; `heatmap_weight` adds a DSNT-style loss on the maps themselves (heatmap_kl)."""
from __future__ import annotations

import torch
from torch import nn

from . import register_head
from .base import Head, cell_centres


def heatmap_kl(prob: torch.Tensor, target_norm: torch.Tensor, sigma_cells: float = 1.0) -> torch.Tensor:
    """KL(Gaussian at the target || the soft-argmax map), averaged over points (DSNT-style
    regularisation, Nibali et al. 2018): keeps each map one sharp blob at the right place,
    which a loss on the maps' means alone does not ask for.

    prob: (B, K, H, W) softmax maps; target_norm: (B, K, 2) targets in [-1, 1] over the crop.
    """
    b, k, h, w = prob.shape
    xs, ys = cell_centres(w, prob), cell_centres(h, prob)
    sx, sy = 2.0 * sigma_cells / w, 2.0 * sigma_cells / h
    gx = torch.exp(-0.5 * ((xs.view(1, 1, w) - target_norm[..., :1]) / sx) ** 2)  # (B, K, W)
    gy = torch.exp(-0.5 * ((ys.view(1, 1, h) - target_norm[..., 1:]) / sy) ** 2)  # (B, K, H)
    target = gy.unsqueeze(-1) * gx.unsqueeze(-2)
    target = target / target.sum((-2, -1), keepdim=True).clamp_min(1e-12)
    kl = target * (torch.log(target.clamp_min(1e-12)) - torch.log(prob.clamp_min(1e-12)))
    return kl.sum((-2, -1)).mean()


@register_head("integral")
class IntegralHead(Head):
    """Feature maps at strides 4, 8, 16, 32 -> (B, K, 2) soft-argmax points in [-1, 1]."""

    key = "integral"
    features = (0, 1, 2, 3)
    absolute = True
    loss_keys = {"weight": "heatmap_weight", "sigma": "heatmap_sigma"}  # (config head_options)

    def __init__(self, chans: list[int], num_points: int, input_size: int = 0, dim: int = 48):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in chans)
        self.smooth = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim),
                                    nn.ReLU(inplace=True))
        self.logits = nn.Conv2d(dim, num_points, 1)
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.normal_(self.logits.weight, std=1e-3)  # flat maps: every point starts at the centre
        nn.init.zeros_(self.logits.bias)

    def outputs(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        """-> (soft-argmax points, (the (B, K, H, W) softmax maps,))"""
        x = self.lateral[-1](feats[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(feats[:-1])):
            x = lat(f) + nn.functional.interpolate(x, size=f.shape[-2:], mode="nearest")
        logits = self.logits(self.smooth(x))
        b, k, h, w = logits.shape
        prob = logits.flatten(2).softmax(-1).view(b, k, h, w)
        xs, ys = cell_centres(w, prob), cell_centres(h, prob)
        return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1), (prob,)

    def loss(self, out, target_norm: torch.Tensor, weight: float = 0.0, sigma: float = 1.0) -> dict[str, torch.Tensor]:
        """{"heatmap": weight x heatmap_kl of the maps} when weight > 0."""
        return {"heatmap": weight * heatmap_kl(out.maps[0].float(), target_norm, sigma)} if weight else {}
