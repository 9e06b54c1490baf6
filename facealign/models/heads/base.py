"""What every head declares and provides (the trainer and the network use only this)."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class HeadOutput(NamedTuple):
    """What a head's training forward returns: its points ((B, K, 2), normalised as in eval mode)
    and whatever else its loss needs (its raw maps), in the order its `loss` reads them."""

    points: torch.Tensor
    maps: tuple = ()


def cell_centres(n: int, like: torch.Tensor) -> torch.Tensor:
    """Centres of n map cells across the crop, in the [-1, 1] coordinates of PointCodec."""
    return (torch.arange(n, dtype=like.dtype, device=like.device) * 2 + 1) / n - 1


class Head(nn.Module):
    """Feature maps -> (B, K, 2) points normalised to [-1, 1] across the crop (codec.PointCodec), or
    offsets from a template in the same units when the stage is residual (regression heads only).

    A subclass implements `outputs(feats) -> (points, maps)`: in eval mode forward() returns the
    points alone (decoded inside the network, so every backend and the ONNX export see points), in
    training mode a HeadOutput(points, maps), and `loss(out, target_norm, **weights)` turns it into
    named loss terms. `infer(feats)` is what inference runs (the backends, the ONNX export): the
    points and, from a head that has them, its per-point confidences. A subclass sets:
      key         the attribute the network keeps it under, i.e. its state-dict prefix ("fc", ...);
      features    which backbone maps forward() receives, as indices into strides (4, 8, 16, 32);
      absolute    True when its outputs are always points in the crop (it locates them on a map),
                  so a stage 2 cannot make them offsets from a template or corrections;
      point_loss  whether the trainer's point loss (config `loss`) applies to the points;
      scores      True when it scores every point (then it implements `point_scores(maps)`): a
                  head without scores says so (infer() gives None), it never makes some up;
      options     (a head registered outside this package) its settings and their defaults: the
                  config's head_options (the built-in heads' are in heads/__init__.py's table);
      arch_keys   constructor keyword -> option, saved with the stage (StageSpec.head_args);
      loss_keys   loss() keyword -> option.
    """

    name = ""  # set by register_head
    key = "head"
    features: tuple[int, ...] = (3,)
    absolute = False
    point_loss = True
    scores = False
    options: dict = {}
    arch_keys: dict[str, str] = {}
    loss_keys: dict[str, str] = {}

    def init_weights(self) -> None:
        """Called after the network's generic initialisation: start at a neutral answer."""

    def prepare(self, mean_norm: torch.Tensor) -> None:
        """Given the training set's mean shape ((K, 2), normalised in this stage's crop) before training."""

    def outputs(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        """Feature maps -> ((B, K, 2) points, the maps its loss needs)."""
        raise NotImplementedError

    def forward(self, feats: list[torch.Tensor]):
        """Eval: (B, K, 2) points. Training: HeadOutput(points, maps), all that `loss` needs."""
        points, maps = self.outputs(feats)
        return HeadOutput(points, maps) if self.training else points

    def infer(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inference: ((B, K, 2) points as forward() gives them in eval mode, (B, K) float32 point
        confidences in [0, 1] from a head with `scores`, else None)."""
        points, maps = self.outputs(feats)
        return points, (self.point_scores(maps) if self.scores else None)

    def point_scores(self, maps: tuple) -> torch.Tensor:
        """The maps outputs() returned -> (B, K) float32 confidences in [0, 1] (heads with `scores`)."""
        raise NotImplementedError(f"head {self.name!r} does not score its points (scores = False)")

    def loss(self, out: HeadOutput, target_norm: torch.Tensor, **weights) -> dict[str, torch.Tensor]:
        """Named loss terms beyond the point loss, from a training forward's `out`; target_norm:
        (B, K, 2) the true points normalised in the crop (PointCodec.encode). {} when there are none."""
        return {}

    def shift_outputs(self, shift: torch.Tensor) -> None:
        """Add `shift` ((K, 2), normalised units) to every output: stage 1's weights moved to predict
        offsets from a template (init_from_stage1). Only heads that are not `absolute` can."""
        raise NotImplementedError(f"head {self.name!r} outputs absolute points: it has no output to shift")
