"""`pip`: Pixel-in-Pixel regression with neighbour votes (PIPNet, Jin et al. 2021), our own code.

On a coarse grid (H x W cells of `stride` crop pixels) the head predicts, per landmark k:
  a score map (which cell holds k), x/y offset maps (where in that cell k lies, in cell units,
  0..1 inside the cell), and for each of k's N nearest neighbours in the mean face x/y offset maps
  (where that neighbour lies, in cells, from k's cell).
Encoding (targets from points, GridCodec.encode): u = (p + 1) / 2 * (W, H), the point in cell units;
  its cell c = floor(u) clipped to the grid; its offset u - c; neighbour j's offset u_j - c.
Decoding (GridCodec.decode, inside the network in eval mode, so ONNX files carry it): c = argmax of the
  score map; k's own estimate c + offset(c); each landmark i that lists k among its neighbours
  votes c_i + its neighbour offset for k at c_i; k = the mean of its own estimate and the votes.
Confidence (`point_scores`, GridCodec.confidence): each point's score at the cell decoding picks
  (the score map's maximum), clipped to [0, 1]: the maps are trained towards 1 at the true cell and
  0 elsewhere, so a point the network is sure of scores near 1, an occluded or blurred one lower.
Training (`loss`, named terms score / offset / neighbours): MSE of the score maps against a one-hot map of the true cell (weight
  `pip_score_weight`, PIPNet: 10), L1 of the offsets and of the neighbour offsets read at the true
  cell (weight `pip_offset_weight`, PIPNet: 1). The config's point loss does not apply.

Grid: PIPNet runs at stride 32 on 256 px crops, an 8 x 8 grid. Our crops are 96..160 px, where
stride 32 leaves 3 x 3 to 5 x 5 cells, each a quarter of the face; `stride=16` (the default in
our configs) gives PIPNet's 8 x 8 at 128 px: layer 4 projected by a 1x1 conv, upsampled x2 and
added to layer 3, then one 3x3 conv, so the head keeps the deepest features at the finer grid.
The neighbour table (a buffer, saved with the weights) comes from the training set's mean shape
(`prepare`), or from pose.MODEL_3D's frontal mean face until then.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import register_head
from .base import Head


def nearest_neighbours(mean_shape, n: int) -> torch.Tensor:
    """(K, 2) mean shape -> (K, n) int64: each point's n nearest other points, nearest first."""
    pts = torch.as_tensor(np.asarray(mean_shape, np.float64))
    d = torch.cdist(pts, pts)
    d.fill_diagonal_(float("inf"))
    return d.argsort(dim=1, stable=True)[:, :n].contiguous()


def _default_mean(k: int) -> np.ndarray:
    if k == 68:
        from ...pose import MODEL_3D

        return MODEL_3D[:, :2]
    t = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


@register_head("pip")
class PIPHead(Head):
    key = "pip"
    absolute = True
    point_loss = False
    scores = True
    arch_keys = {"neighbours": "neighbours", "stride": "stride"}
    loss_keys = {"score_weight": "score_weight", "offset_weight": "offset_weight"}

    def __init__(self, chans: list[int], num_points: int, input_size: int, neighbours: int = 10,
                 stride: int = 32):
        super().__init__()
        if stride not in (16, 32):
            raise ValueError(f"pip: stride must be 16 or 32, got {stride}")
        if not 0 <= neighbours < num_points:
            raise ValueError(f"pip: neighbours must be in 0..{num_points - 1}, got {neighbours}")
        self.num_points, self.num_nb, self.stride = num_points, neighbours, stride
        self.grid = input_size // stride  # H = W cells (fixed, so an exported graph holds plain numbers)
        self.codec = GridCodec(self.grid)
        self.features = (3,) if stride == 32 else (2, 3)
        dim = chans[3] if stride == 32 else chans[2]
        if stride == 16:
            self.top = nn.Conv2d(chans[3], dim, 1)
            self.fuse = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim),
                                      nn.ReLU(inplace=True))
        self.score = nn.Conv2d(dim, num_points, 1)
        self.offset = nn.Conv2d(dim, 2 * num_points, 1)
        self.neighbour = nn.Conv2d(dim, 2 * num_points * neighbours, 1) if neighbours else None
        self.register_buffer("neighbours", nearest_neighbours(_default_mean(num_points), neighbours))
        self.init_weights()

    def init_weights(self) -> None:
        for conv in (self.score, self.offset, self.neighbour):
            if conv is not None:
                nn.init.normal_(conv.weight, std=1e-3)
                nn.init.zeros_(conv.bias)

    def prepare(self, mean_norm: torch.Tensor) -> None:
        self.neighbours.copy_(nearest_neighbours(mean_norm.detach().cpu(), self.num_nb))

    def maps(self, feats: list[torch.Tensor]) -> tuple:
        """-> score (B, K, HW), offsets (B, 2, K, HW), neighbour offsets (B, 2, K, N, HW)."""
        x = feats[-1]
        if self.stride == 16:
            x = self.fuse(feats[0] + F.interpolate(self.top(x), size=feats[0].shape[-2:], mode="nearest"))
        b, hw = x.shape[0], self.grid * self.grid
        k, n = self.num_points, self.num_nb
        score = self.score(x).reshape(b, k, hw)
        offset = self.offset(x).reshape(b, 2, k, hw)
        nb = self.neighbour(x).reshape(b, 2, k, n, hw) if n else x.new_zeros(b, 2, k, 0, hw)
        return score, offset, nb

    def outputs(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        """-> (points decoded by the codec, (score, offsets, neighbour offsets) maps)."""
        maps = self.maps(feats)
        return self.codec.decode(*maps, self.neighbours), maps

    def point_scores(self, maps: tuple) -> torch.Tensor:
        """-> (B, K) float32 in [0, 1]: each point's score at its decoded cell (GridCodec.confidence)."""
        return self.codec.confidence(maps[0])

    def loss(self, out, target_norm: torch.Tensor, score_weight: float = 10.0,
             offset_weight: float = 1.0) -> dict[str, torch.Tensor]:
        """{"score": MSE of the score maps against the true cells' one-hot maps, "offset": L1 of the
        offsets at the true cells, "neighbours": L1 of the neighbour offsets there}, weighted."""
        score, offset, nb = out.maps
        idx, off, nb_off = self.codec.encode(target_norm, self.neighbours)
        b, k, n = nb_off.shape[:3]
        one_hot = torch.zeros_like(score, dtype=torch.float32).scatter_(-1, idx.unsqueeze(-1), 1.0)  # no host sync,
        terms = {"score": score_weight * F.mse_loss(score.float(), one_hot)}  # unlike F.one_hot's range check
        at = offset.float().gather(-1, idx.view(b, 1, k, 1).expand(b, 2, k, 1))[..., 0]  # (B, 2, K)
        terms["offset"] = offset_weight * F.l1_loss(at, off.permute(0, 2, 1))
        if n:
            at_nb = nb.float().gather(-1, idx.view(b, 1, k, 1, 1).expand(b, 2, k, n, 1))[..., 0]
            terms["neighbours"] = offset_weight * F.l1_loss(at_nb, nb_off.permute(0, 3, 1, 2))
        return terms


class GridCodec:
    """PIP's representation on a square grid of `grid` x `grid` cells: `encode` makes the training
    targets from points, `decode` (inside the network, so exported graphs carry it) turns the maps
    back into points. `neighbours`: the head's (K, N) neighbour table (a buffer on its device)."""

    def __init__(self, grid: int):
        self.grid = grid  # Python numbers only: no tensor from host data in a step or a captured graph

    def decode(self, score, offset, nb, neighbours: torch.Tensor) -> torch.Tensor:
        """Maps (any float dtype; see PIPHead.maps()) -> (B, K, 2) float32 points in [-1, 1] across
        the crop (argmax cell + offsets, neighbour votes).

        Always in float32, whatever the network runs in (float16 under CUDA graphs, a float16 ONNX
        graph keeps its tail in float32 too: formats/onnx_fp16.py): a float16 argmax can pick another
        cell on a near-flat score map. Built for capture and export: no tensor from host data, no
        host sync, and no squeeze of a dimension whose size the tracer does not know (the ONNX
        exporter turns that into an If node); the grid is square (h = w), so the scale is one number.
        """
        score, offset, nb = score.float(), offset.float(), nb.float()
        w = self.grid
        b, k = score.shape[:2]
        n = nb.shape[3]
        idx = score.argmax(-1)  # (B, K)
        cell = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1).float()  # (B, K, 2)
        own = cell + offset.gather(-1, idx.view(b, 1, k, 1).expand(b, 2, k, 1))[..., 0].transpose(1, 2)
        votes = nb.gather(-1, idx.view(b, 1, k, 1, 1).expand(b, 2, k, n, 1))[..., 0]  # (B, 2, K, N)
        votes = cell.transpose(1, 2).unsqueeze(-1) + votes  # i's estimates of its neighbours, in cells
        # voters[j, i * N + m] = 1 when neighbour m of landmark i is j
        voters = (neighbours.reshape(1, -1) == torch.arange(k, device=idx.device).view(k, 1)).float()
        summed = own + torch.einsum("jm,bcm->bjc", voters, votes.reshape(b, 2, k * n))
        pts_cells = summed / (1 + voters.sum(1)).view(1, k, 1)
        return pts_cells * (2.0 / w) - 1

    @staticmethod
    def confidence(score) -> torch.Tensor:
        """(B, K, HW) score maps (any float dtype) -> (B, K) float32: the score of the cell `decode`
        picks (its argmax, so the map's maximum), clipped to [0, 1]. In float32, as decode, and with
        no host sync (a CUDA graph captures it, the ONNX export carries it: ReduceMax, Clip)."""
        return score.float().amax(-1).clamp(0.0, 1.0)

    def encode(self, target_norm: torch.Tensor, neighbours: torch.Tensor) -> tuple:
        """(B, K, 2) points in [-1, 1] -> their cells' flat index (B, K), offsets in the cell (B, K, 2)
        and the neighbours' offsets from the cell (B, K, N, 2), in cell units."""
        w = self.grid
        u = (target_norm.float() + 1) * (w / 2.0)
        cell = u.floor().clamp(0, w - 1)
        idx = (cell[..., 1] * w + cell[..., 0]).long()
        return idx, u - cell, u[:, neighbours] - cell.unsqueeze(2)

    def target_maps(self, target_norm: torch.Tensor, neighbours: torch.Tensor) -> tuple:
        """The maps a perfect head would give for these points (encode drawn onto the grid):
        score one-hot at each point's cell, its offsets (and its neighbours') at that cell."""
        hw = self.grid * self.grid
        idx, off, nb_off = self.encode(target_norm, neighbours)
        b, k, n = nb_off.shape[:3]
        score = F.one_hot(idx, hw).float()
        offset = score.unsqueeze(1) * off.permute(0, 2, 1).unsqueeze(-1)
        nb = score.view(b, 1, k, 1, hw) * nb_off.permute(0, 3, 1, 2).unsqueeze(-1)
        return score, offset, nb
