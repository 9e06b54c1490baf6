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
  Inference (`infer`: exports, every backend) computes the offset and neighbour maps at the argmax
  cells only, the same numbers to float rounding (GridCodec.decode_at_cells).
Confidence (`point_scores`, GridCodec.decode_scored): how well the estimates decoding averages agree
  (k's own and its voters'), exp(-their spread / AGREEMENT_SCALE): near 1 when they coincide, lower on
  occluded, blurred or ambiguous points and on crops without a face, where the votes scatter. (The
  argmax cell's score ranks the points' errors half as well: weights/README.md.)
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

# the spread (crop sides) of a point's estimates at which its confidence is 1/e: 2 % of the crop, about 5 %
# of the outer-eye-corner distance; the typical face point spreads 0.4 % (confidence 0.8), see decode_scored
AGREEMENT_SCALE = 0.02


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
        self.scores = neighbours > 0  # without neighbours there are no votes to agree: no confidence
        self.grid = input_size // stride  # H = W cells (fixed, so an exported graph holds plain numbers)
        self.codec = GridCodec(self.grid)
        self.features = (3,) if stride == 32 else (2, 3)
        self.dim = dim = chans[3] if stride == 32 else chans[2]  # the channels of the grid's features
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

    def grid_features(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The backbone's features -> the (B, D, H, W) map on the head's grid that its 1x1 convs read."""
        x = feats[-1]
        if self.stride == 16:
            size = (self.grid, self.grid)  # layer 3's (Python numbers: no shape arithmetic in a graph)
            x = self.fuse(feats[0] + F.interpolate(self.top(x), size=size, mode="nearest"))
        return x

    def maps(self, feats: list[torch.Tensor]) -> tuple:
        """-> score (B, K, HW), offsets (B, 2, K, HW), neighbour offsets (B, 2, K, N, HW)."""
        x = self.grid_features(feats)
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

    def infer(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Points and their confidences, as decode_scored() gives them from the full maps, but with the
        offset and neighbour maps computed at the argmax cells only (GridCodec.decode_at_cells): what
        the exported graphs and every backend run."""
        if not self.num_nb:
            return self.codec.decode_scored(*self.maps(feats), self.neighbours, scores=False)
        x = self.grid_features(feats)
        score = self.score(x).reshape(-1, self.num_points, self.grid * self.grid)  # -1: no shape arithmetic in a graph
        return self.codec.decode_at_cells(x, score, *self.cell_weights(), self.neighbours,
                                          (self.num_points, self.num_nb, self.dim), scores=self.scores)

    def cell_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The offset and neighbour 1x1 convs as one linear map per point: ((K, D, 2 + 2N) weights, (K, 2 + 2N)
        biases), point k's outputs in the order x, y of its own offset, then its N neighbours' x, then their y."""
        k, n, d = self.num_points, self.num_nb, self.dim
        w_own = self.offset.weight.reshape(2, k, d).permute(1, 2, 0)  # (K, D, 2): channel c * K + k
        w_nb = self.neighbour.weight.reshape(2, k, n, d).permute(1, 3, 0, 2).reshape(k, d, 2 * n)  # (c * K + k) * N + m
        b_own = self.offset.bias.reshape(2, k).t()
        b_nb = self.neighbour.bias.reshape(2, k, n).permute(1, 0, 2).reshape(k, 2 * n)
        return torch.cat([w_own, w_nb], -1).float(), torch.cat([b_own, b_nb], -1).float()

    def point_scores(self, maps: tuple) -> torch.Tensor:
        """-> (B, K) float32 in (0, 1]: how well each point's estimates agree (GridCodec.decode_scored)."""
        return self.codec.decode_scored(*maps, self.neighbours)[1]

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
        return self.decode_scored(score, offset, nb, neighbours, scores=False)[0]

    def decode_scored(self, score, offset, nb, neighbours: torch.Tensor, scores: bool = True) -> tuple:
        """decode(), and with `scores` each point's confidence: (B, K, 2) points, (B, K) float32 in
        (0, 1] or None. The confidence is how well the estimates that decoding averages agree: a
        point's own (its cell + offset) and its voters' (each neighbour's cell + its offset to the
        point). Their spread (root mean square distance from their mean, in crop sides) s gives
        exp(-s / AGREEMENT_SCALE). On the validation faces it ranks the points' errors twice as well as
        the argmax cell's score (weights/README.md, "Point confidences"), and it falls on crops
        without a face, where the votes scatter."""
        score, offset, nb = score.float(), offset.float(), nb.float()
        w = self.grid
        b, k = score.shape[:2]
        n = nb.shape[3]
        idx = score.argmax(-1)  # (B, K)
        cell = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], -1).float()  # (B, K, 2)
        own = cell + offset.gather(-1, idx.view(b, 1, k, 1).expand(b, 2, k, 1))[..., 0].transpose(1, 2)
        votes = nb.gather(-1, idx.view(b, 1, k, 1, 1).expand(b, 2, k, n, 1))[..., 0]  # (B, 2, K, N)
        # votes[:, i * N + m]: landmark i's estimate of its neighbour m, in cells
        votes = (cell.transpose(1, 2).unsqueeze(-1) + votes).reshape(b, 2, k * n).transpose(1, 2)
        return self.average_votes(own, votes, neighbours, k, scores)

    def decode_at_cells(self, x, score, weight, bias, neighbours: torch.Tensor, sizes: tuple,
                        scores: bool = True) -> tuple:
        """decode_scored() for inference, the same numbers to float rounding: the offset and neighbour
        maps are needed at each point's argmax cell only, so instead of two 1x1 convs over the whole
        grid (the neighbour one has 2 K N channels) the grid's features are read at those cells and
        each point's own linear map applied there (PIPHead.cell_weights). Written for a lean graph:
        cells picked by one-hot matrix products, constant shapes with a free batch (-1), so an exported
        graph has no shape arithmetic; float32 throughout. x: (B, D, H, W) features; score: (B, K, HW);
        weight, bias: PIPHead.cell_weights(); neighbours: the (K, N) table; sizes: (K, N, D) as Python
        numbers (a traced tensor's shape would be arithmetic in the graph)."""
        w = self.grid
        hw, (k, n, d) = w * w, sizes
        one_hot = (score.argmax(-1).unsqueeze(-1) == torch.arange(hw, device=x.device)).float()  # (B, K, HW)
        at = one_hot @ x.float().reshape(-1, d, hw).transpose(1, 2)  # (B, K, D): each point's cell's features
        out = (at.unsqueeze(-2) @ weight).reshape(-1, k, 2 + 2 * n) + bias  # (B, K, 2 + 2N)
        grid_xy = torch.arange(hw, device=x.device)
        cells = one_hot @ torch.stack([grid_xy % w, torch.div(grid_xy, w, rounding_mode="floor")], -1).float()
        own = cells + out[..., :2]  # (B, K, 2)
        # votes[:, i * N + m]: landmark i's estimate of its neighbour m, in cells
        votes = (out[..., 2:].reshape(-1, k, 2, n).transpose(2, 3) + cells.unsqueeze(2)).reshape(-1, k * n, 2)
        return self.average_votes(own, votes, neighbours, k, scores)

    def average_votes(self, own, votes, neighbours: torch.Tensor, k: int, scores: bool = True) -> tuple:
        """Each point's estimates averaged, as both decodes do: own (B, K, 2) and votes (B, K N, 2), in
        cells, votes[:, i * N + m] being landmark i's estimate of its neighbour m -> ((B, K, 2) points in
        [-1, 1], with `scores` their (B, K) confidences exp(-spread / AGREEMENT_SCALE), else None)."""
        w = self.grid
        # voters[j, i * N + m] = 1 when neighbour m of landmark i is j
        voters = (neighbours.reshape(1, -1) == torch.arange(k, device=own.device).view(k, 1)).float()  # (K, K N)
        count = 1 + voters.sum(1, keepdim=True)  # (K, 1)
        pts_cells = (own + voters @ votes) / count
        points = pts_cells * (2.0 / w) - 1
        if not scores:
            return points, None
        # each vote's distance from the mean of its point's estimates, squared, summed per point
        vote_dev = votes - pts_cells[:, neighbours.reshape(-1)]  # (B, K N, 2)
        squares = ((own - pts_cells) ** 2).sum(-1, keepdim=True) + voters @ (vote_dev ** 2).sum(-1, keepdim=True)
        spread = (squares / count).sqrt().reshape(-1, k) * (1.0 / w)  # crop sides
        return points, torch.exp(spread * (-1.0 / AGREEMENT_SCALE))

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
