"""The previous stage's points drawn as one input channel (DAN-style, Kowalski et al. 2017).

One function for inference (numpy, in run_cascade, whatever the backend) and training
(torch, on the device), so both feed a heatmap stage the same picture.
"""
from __future__ import annotations

import numpy as np


def render(pts_crop, size: int, sigma: float):
    """(N, K, 2) points in crop pixels (numpy or torch) -> (N, 1, size, size) float32 in [0, 1]:
    the sum of one Gaussian per point (peak 1 at its pixel centre, `sigma` crop pixels), clipped at 1."""
    if isinstance(pts_crop, np.ndarray):
        pts = pts_crop.astype(np.float32)
        grid, einsum, exp = np.arange(size, dtype=np.float32), np.einsum, np.exp
    else:
        import torch

        pts = pts_crop.float()
        grid, einsum, exp = torch.arange(size, dtype=torch.float32, device=pts.device), torch.einsum, torch.exp
    scale = -0.5 / (sigma * sigma)
    gx = exp(scale * (grid[None, None, :] - pts[..., 0:1]) ** 2)  # (N, K, S) along x
    gy = exp(scale * (grid[None, None, :] - pts[..., 1:2]) ** 2)  # (N, K, S) along y
    return einsum("nky,nkx->nyx", gy, gx).clip(0, 1)[:, None]
