"""Landmark losses on (B, 68, 2) points in crop pixels.

Units: every loss receives predictions and targets in pixels of the network's
input crop (so Wing's omega=10 and epsilon=2 are pixels of a 128 px crop, as in
Feng et al. 2018). MSE is the mean squared pixel error, L1 the mean absolute
pixel error, SmoothL1 is Huber with beta = 1 pixel, all averaged over points and
both coordinates.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facealign.models.resnet import cell_centres


def mse(pred, target, **_):
    return F.mse_loss(pred, target)


def l1(pred, target, **_):
    return F.l1_loss(pred, target)


def smoothl1(pred, target, **_):
    return F.smooth_l1_loss(pred, target, beta=1.0)


def wing(pred, target, omega: float = 10.0, epsilon: float = 2.0, **_):
    """Wing loss: omega*ln(1+|x|/epsilon) for |x| < omega, |x| - C beyond, C = omega - omega*ln(1+omega/epsilon)."""
    x = (pred - target).abs()
    c = omega - omega * math.log(1.0 + omega / epsilon)
    return torch.where(x < omega, omega * torch.log1p(x / epsilon), x - c).mean()


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


LOSSES = {"mse": mse, "l1": l1, "smoothl1": smoothl1, "wing": wing}


def get_loss(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
