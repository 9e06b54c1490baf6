"""Landmark losses on (B, 68, 2) points.

Units (config `loss_units`): `pixels`, the default, gives every loss predictions
and targets in pixels of the network's input crop (so Wing's omega=10 and
epsilon=2 are pixels of a 128 px crop, as in Feng et al. 2018; MSE is the mean
squared pixel error, L1 the mean absolute pixel error, SmoothL1 is Huber with
beta = 1 pixel). `unit` divides the points by the input size first: the study's
scale, points in [0, 1] of the crop, where SmoothL1's beta = 1 makes it half the
MSE; Wing's omega and epsilon are divided with them, so it keeps its shape.
All are averaged over points and both coordinates.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facealign.models.heads.integral import heatmap_kl  # noqa: F401 - the integral head's map loss


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


LOSSES = {"mse": mse, "l1": l1, "smoothl1": smoothl1, "wing": wing}


def point_loss(cfg):
    """The config's loss as f(pred, target) on (B, 68, 2) crop-pixel points, in the config's units."""
    fn = get_loss(cfg.loss)
    s = float(cfg.input_size) if cfg.loss_units == "unit" else 1.0
    omega, epsilon = cfg.wing_omega / s, cfg.wing_epsilon / s
    return lambda pred, target: fn(pred / s, target / s, omega=omega, epsilon=epsilon)


def get_loss(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[name]
