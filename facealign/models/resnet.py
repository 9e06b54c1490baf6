"""ResNet-18..152 landmark regressors: torchvision's blocks, 2 x 68 outputs.

With width=1 and head="avg" this is torchvision's ResNet with its 1000-way fc
replaced by a 136-way one (the study's raw baseline). `width` scales every
stage's channels (0.5 -> 32/64/128/256), and head="flatten" keeps the last
feature map's layout instead of averaging it away. head="integral" regresses
the points through a soft-argmax (integral regression, Sun et al. 2018): a
small top-down path brings layers 4..1 back to stride 4, one logit map per
point, and each point is the softmax-weighted mean of the map's cell centres,
so the output is still (B, 68, 2) coordinates trained with a point loss.
Random initialisation: nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from ..topology import NUM_POINTS
from .registry import register_model

HEADS = ("avg", "flatten", "integral")


def cell_centres(n: int, like: torch.Tensor) -> torch.Tensor:
    """Centres of n map cells across the crop, in the [-1, 1] coordinates of PointCodec."""
    return (torch.arange(n, dtype=like.dtype, device=like.device) * 2 + 1) / n - 1


class IntegralHead(nn.Module):
    """Feature maps at strides 4, 8, 16, 32 -> (B, K, 2) soft-argmax points in [-1, 1]."""

    def __init__(self, in_chans: list[int], num_points: int, dim: int = 48):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_chans)
        self.smooth = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim),
                                    nn.ReLU(inplace=True))
        self.logits = nn.Conv2d(dim, num_points, 1)
        nn.init.normal_(self.logits.weight, std=1e-3)
        nn.init.zeros_(self.logits.bias)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.lateral[-1](feats[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(feats[:-1])):
            x = lat(f) + nn.functional.interpolate(x, size=f.shape[-2:], mode="nearest")
        logits = self.logits(self.smooth(x))
        b, k, h, w = logits.shape
        prob = logits.flatten(2).softmax(-1).view(b, k, h, w)
        if self.training:
            self.last_prob = prob  # for a loss on the maps themselves (train.losses.heatmap_kl)
        xs, ys = cell_centres(w, prob), cell_centres(h, prob)
        return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)

_SPECS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}


class ResNetRegressor(nn.Module):
    """(B, C, S, S) float image in [0, 1], RGB (+ C - 3 extra channels, e.g. a heatmap of the previous
    stage's points) -> (B, 68, 2) points, normalised to [-1, 1] over the crop."""

    def __init__(self, block, layers, width: float = 1.0, head: str = "avg", input_size: int = 128,
                 num_points: int = NUM_POINTS, dropout: float = 0.0, in_chans: int = 3):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
        chans = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.in_chans = in_chans
        self.inplanes = chans[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, chans[0], 7, 2, 3, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1))
        self.layers = nn.Sequential(*[
            self._make_layer(block, c, n, stride=1 if i == 0 else 2) for i, (c, n) in enumerate(zip(chans, layers))])
        feat = chans[3] * block.expansion
        self.head = head
        if head == "integral":
            self.integral = IntegralHead([c * block.expansion for c in chans], num_points)
        elif head == "avg":
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        else:
            self.pool = nn.Flatten()
            feat *= (input_size // 32) ** 2
        if head != "integral":
            self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
            self.fc = nn.Linear(feat, num_points * 2)
        self.num_points = num_points
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self._init()

    def _make_layer(self, block, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        mods = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        mods += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def _init(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # residual branches start as identity (zero-init last BN)
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)
        last = self.integral.logits if self.head == "integral" else self.fc
        nn.init.normal_(last.weight, std=1e-3)  # start at the mean (flatten/avg) or the centre (integral)
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x[:, :3] - self.mean) / self.std  # extra channels (a heatmap) go in as they are
        x = self.stem(torch.cat([rgb, x[:, 3:]], dim=1) if self.in_chans > 3 else rgb)
        if self.head == "integral":
            feats = []
            for layer in self.layers:
                x = layer(x)
                feats.append(x)
            return self.integral(feats)
        x = self.layers(x)
        return self.fc(self.drop(self.pool(x))).view(-1, self.num_points, 2)


def _factory(name):
    block, layers = _SPECS[name]

    def build(width: float = 1.0, head: str = "avg", input_size: int = 128, dropout: float = 0.0,
              in_chans: int = 3, **_):
        return ResNetRegressor(block, layers, width=width, head=head, input_size=input_size, dropout=dropout,
                               in_chans=in_chans)

    build.__name__ = name
    build.__doc__ = f"{name} landmark regressor (torchvision blocks, 2 x 68 outputs)."
    return register_model(build)


for _name in _SPECS:
    _factory(_name)
