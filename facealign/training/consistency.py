"""Training for steady points in video: two views of each face, and a loss on their disagreement.

On a still head a video's frames differ by sensor and compression noise, and the stage-2 crop,
placed from the last frame's points, moves by a fraction of a pixel. A network whose answer
depends on exactly where the face sits in its crop, or on that noise, shakes (docs/video.md).
With `consistency` > 0 (stage 2), each training face is cut twice: the usual crop and a second one
moved by a small random similarity (MOVE), each with its own pixel noise (NOISE). Both are trained
on their true points as usual, and a term weighted by `consistency` asks that the two answers,
mapped into the same crop, agree: the mean distance between them, in crop pixels. The supervised
terms pull each answer to the truth; this one pulls the answer's error to be the same whatever the
crop's exact placement and the noise, which is what frame-to-frame shake is.

`consistency_rigid` < 1 weighs the part of the disagreement that a similarity explains (the two answers
moved, turned or scaled as a whole) by that factor, and the rest (the shape's) by 1: the shake that
docs/video.md measures has the head's similarity motion taken out, and the video filter passes it on
unchanged, so a network may be left freer there (0: only the shape must agree).

(Equivariance to small transforms as a training signal: Honari et al. 2018, "Improving landmark
localization with semi-supervised learning"; Dong et al. 2018, "Supervision-by-Registration".)
"""
from __future__ import annotations

import math

import torch

from .geometry import apply, invert

MOVE = {"shift": 0.015, "scale": 0.02, "rotate": 2.0}  # of the crop side, of its size, degrees: uniform +-
NOISE = 2.0 / 255  # sd of the Gaussian pixel noise added to each view, inputs in [0, 1]


def moved(to_crop: torch.Tensor, size: int, generator: torch.Generator | None = None,
          amount: float = 1.0) -> torch.Tensor:
    """(B, 2, 3) picture -> crop maps, each followed by a random similarity about the crop's centre
    (shift, scale and rotation uniform within MOVE times `amount`) -> the second view's maps (B, 2, 3)."""
    b, dev = to_crop.shape[0], to_crop.device
    u = (torch.rand(b, 4, generator=generator, device=dev) * 2 - 1) * amount  # uniform in [-amount, amount)
    angle = u[:, 0] * math.radians(MOVE["rotate"])
    scale = 1 + u[:, 1] * MOVE["scale"]
    shift = u[:, 2:] * (MOVE["shift"] * size)
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], dim=1)  # (B, 2, 2)
    centre = torch.full((b, 2, 1), (size - 1) / 2, device=dev)
    t = centre - rot @ centre + shift.unsqueeze(-1)
    move = torch.cat([rot, t], dim=2)
    return torch.cat([move[:, :, :2] @ to_crop[:, :, :2], move[:, :, :2] @ to_crop[:, :, 2:] + move[:, :, 2:]], 2)


def noisy(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inputs in [0, 1] with Gaussian noise of sd NOISE added, clipped to [0, 1]."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + NOISE * noise).clamp_(0, 1)


def between(to_crop_a: torch.Tensor, to_crop_b: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) maps of the two views -> (B, 2, 3) maps from view b's crop pixels to view a's."""
    inv_b = invert(to_crop_b)
    a = to_crop_a
    return torch.cat([a[:, :, :2] @ inv_b[:, :, :2], a[:, :, :2] @ inv_b[:, :, 2:] + a[:, :, 2:]], 2)


def disagreement(points_a: torch.Tensor, points_b: torch.Tensor, b_to_a: torch.Tensor) -> torch.Tensor:
    """Mean distance (crop pixels of view a) between (B, K, 2) view-a points and the view-b points
    mapped into view a's crop."""
    d = points_a - apply(b_to_a, points_b)
    return ((d * d).sum(-1) + 1e-12).sqrt().mean()  # (the epsilon: a finite gradient where they coincide)


def similar(points: torch.Tensor, onto: torch.Tensor) -> torch.Tensor:
    """(B, K, 2) points moved by, for each face, the least-squares similarity onto `onto` (B, K, 2)."""
    mp, mo = points.mean(1, keepdim=True), onto.mean(1, keepdim=True)
    p, o = points - mp, onto - mo
    norm = (p * p).sum((1, 2)).clamp_min(1e-12)
    a = (p * o).sum((1, 2)) / norm  # s cos
    b = (p[..., 0] * o[..., 1] - p[..., 1] * o[..., 0]).sum(1) / norm  # s sin
    a, b = a[:, None], b[:, None]
    return torch.stack([a * p[..., 0] - b * p[..., 1], b * p[..., 0] + a * p[..., 1]], -1) + mo


def split_disagreement(points_a: torch.Tensor, points_b: torch.Tensor, b_to_a: torch.Tensor,
                       rigid: float) -> torch.Tensor:
    """The disagreement of `disagreement`, split: the mean distance between view a's points and view b's
    (mapped into view a's crop) once view b's are moved by their best similarity onto view a's (the
    shape's disagreement), plus `rigid` times the mean distance that similarity moves them."""
    b = apply(b_to_a, points_b)
    fitted = similar(b, points_a)
    shape, whole = points_a - fitted, fitted - b
    return (((shape * shape).sum(-1) + 1e-12).sqrt().mean()
            + rigid * ((whole * whole).sum(-1) + 1e-12).sqrt().mean())
