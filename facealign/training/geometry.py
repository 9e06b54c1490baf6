"""Crops and similarities in torch, batched, on the training device.

The same conventions as facealign.transform (2x3 matrices that map source pixel
centres to crop pixel centres, bilinear sampling, black outside the picture), so a
crop cut here matches cv2.warpAffine's up to its fixed-point rounding.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def invert(matrix: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) affine maps -> their inverses (B, 2, 3), same dtype and device.

    In closed form: torch.linalg.inv checks its result on the host, a GPU sync in every stage-2
    step. A singular map gives inf/nan here instead of an error (a similarity never is one)."""
    a, b, d, e = matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1]
    det = a * e - b * d
    a_inv = torch.stack([torch.stack([e, -b], -1), torch.stack([-d, a], -1)], dim=1) / det.view(-1, 1, 1)
    return torch.cat([a_inv, -a_inv @ matrix[:, :, 2:]], dim=2)


def apply(matrix: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """(B, 2, 3) maps applied to (B, K, 2) points."""
    return pts @ matrix[:, :, :2].transpose(1, 2) + matrix[:, None, :, 2]


def warp(images: torch.Tensor, matrix: torch.Tensor, size: int) -> torch.Tensor:
    """Cut (B, C, size, size) crops out of (B, C, H, W) float pictures; matrix (B, 2, 3): picture -> crop pixels."""
    b, _, h, w = images.shape
    ax = torch.arange(size, device=images.device, dtype=matrix.dtype)
    ys, xs = torch.meshgrid(ax, ax, indexing="ij")
    grid = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)
    src = grid @ invert(matrix).transpose(1, 2)  # (B, size*size, 2) picture pixels
    # pixel centres -> grid_sample's align_corners=False coordinates (Python scales: no host-to-device copy)
    grid_norm = torch.stack([(src[..., 0] + 0.5) * (2.0 / w), (src[..., 1] + 0.5) * (2.0 / h)], dim=-1) - 1.0
    return F.grid_sample(images, grid_norm.view(b, size, size, 2).to(images.dtype), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def similarity(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Least-squares similarities (no reflection) mapping each of (B, K, 2) `src` onto (K, 2) `dst`
    -> (B, 2, 3); facealign.transform.similarity for a batch."""
    s = src - src.mean(1, keepdim=True)
    mu_d = dst.mean(0)
    d = (dst - mu_d).expand_as(s)
    denom = (s ** 2).sum((1, 2)).clamp_min(1e-12)
    re = (s[..., 0] * d[..., 0] + s[..., 1] * d[..., 1]).sum(1) / denom
    im = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(1) / denom
    rot = torch.stack([torch.stack([re, -im], -1), torch.stack([im, re], -1)], dim=1)  # (B, 2, 2)
    t = mu_d - (rot @ src.mean(1).unsqueeze(-1)).squeeze(-1)
    return torch.cat([rot, t.unsqueeze(-1)], dim=2)
