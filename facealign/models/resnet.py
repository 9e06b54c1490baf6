"""ResNet-18..152 landmark networks: torchvision's blocks as the backbone, a registered head.

The backbone (stem + 4 layers) gives feature maps at strides 4, 8, 16, 32; the head (see
models/heads: avg, flatten, integral, pip) turns the ones it asks for into (B, 68, 2) points.
With width=1 and head="avg" this is torchvision's ResNet with its 1000-way fc replaced by a
136-way one (the study's raw baseline). `width` scales every stage's channels (0.5 -> 32/64/128/256).
`stem` (STEMS): torchvision's 7x7 stride-2 convolution and 3x3 stride-2 max pool, or the same
convolution at stride 4 without the pool, a quarter of its work for the same stride-4 output: with
3 input channels that convolution was the costliest layer of the presets' stage 2 (docs/speed.md).
`antialias` (Zhang 2019, "Making Convolutional Networks Shift-Invariant Again"): a fixed [1 2 1] x [1 2 1]
blur before every stride-2 step after the stem's convolution (the max pool becomes a stride-1 max and a
blurred stride-2 sampling; each downsampling block blurs its input before its strided convolutions), so
a face moved by a fraction of a pixel in the crop moves the features with it rather than aliasing into
other answers: the shake a tracked crop's small moves cause (docs/video.md). No parameters: the same
state-dict keys, so trained weights load with it on or off (and need a fine-tune to agree with it).
State-dict keys: stem.*, layers.*, then the head's own prefix (fc.*, integral.*, pip.*).
Random initialisation: nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from .heads import get_head
from .registry import register_model

_SPECS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}
STEMS = ("pool", "stride4")  # (the state-dict keys are the same: a network trained with one loads into the other)


class Blur(nn.Module):
    """A fixed [1 2 1] x [1 2 1] / 16 blur of each channel (zero padding), then every `stride`-th pixel."""

    def __init__(self, channels: int, stride: int = 1):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).expand(channels, 1, 3, 3).contiguous(),
                             persistent=False)  # not a weight: no state-dict key
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.kernel.to(x.dtype), stride=self.stride, padding=1, groups=x.shape[1])


class MaxBlurPool(nn.Module):
    """The stem's 3x3 stride-2 max pool, anti-aliased: a stride-1 max, then Blur at stride 2."""

    def __init__(self, channels: int):
        super().__init__()
        self.max, self.blur = nn.MaxPool2d(3, 1, 1), Blur(channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.max(x))


def make_stem(kind: str, in_chans: int, out_chans: int, antialias: bool = False) -> nn.Sequential:
    """The layers before layer 1, stride 4 either way: "pool" (7x7/2 conv, BN, ReLU, 3x3/2 max pool;
    with `antialias` MaxBlurPool) or "stride4" (7x7/4 conv, BN, ReLU)."""
    if kind not in STEMS:
        raise ValueError(f"stem must be one of {', '.join(STEMS)}, got {kind!r}")
    stride = 2 if kind == "pool" else 4
    layers = [nn.Conv2d(in_chans, out_chans, 7, stride, 3, bias=False), nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True)]
    pool = MaxBlurPool(out_chans) if antialias else nn.MaxPool2d(3, 2, 1)
    return nn.Sequential(*layers, *([pool] if kind == "pool" else []))


def blurred(block_cls):
    """block_cls (BasicBlock, Bottleneck) whose stride-2 instances blur their input first: both the
    residual branch's strided convolution and the shortcut's then sample a blurred map."""

    class Blurred(block_cls):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__(inplanes, planes, stride, downsample)
            self.blur = Blur(inplanes) if stride > 1 else None

        def forward(self, x):
            return super().forward(self.blur(x) if self.blur is not None else x)

    Blurred.__name__ = f"Blurred{block_cls.__name__}"
    return Blurred


class ResNetRegressor(nn.Module):
    """(B, C, S, S) float image in [0, 1], RGB (+ C - 3 extra channels, e.g. a heatmap of the previous
    stage's points) -> (B, 68, 2) points, normalised to [-1, 1] over the crop (in eval mode; a
    residual stage's are offsets from its template in the same units)."""

    def __init__(self, block, layers, width: float = 1.0, head: str = "avg", input_size: int = 128,
                 num_points: int = 68, dropout: float = 0.0, in_chans: int = 3,
                 head_args: dict | None = None, stem: str = "pool", antialias: bool = False):
        super().__init__()
        head_cls = get_head(head)
        chans = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.in_chans = in_chans
        self.inplanes = chans[0]
        self.stem = make_stem(stem, in_chans, chans[0], antialias)
        first = blurred(block) if antialias else block  # (only a layer's first block has stride 2)
        self.layers = nn.Sequential(*[
            self._make_layer(block, c, n, stride=1 if i == 0 else 2, first=first)
            for i, (c, n) in enumerate(zip(chans, layers))])
        self.head_name, self.head_key, self.num_points = head, head_cls.key, num_points
        kw = dict(head_args or {}, **({"dropout": dropout} if dropout else {}))
        self.add_module(head_cls.key, head_cls([c * block.expansion for c in chans], num_points, input_size, **kw))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self._init()

    @property
    def head(self) -> nn.Module:
        """The head module (a heads.base.Head), kept under its own state-dict prefix."""
        return getattr(self, self.head_key)

    def _make_layer(self, block, planes, blocks, stride, first=None):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        mods = [(first or block)(self.inplanes, planes, stride, down)]
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
        self.head.init_weights()  # its last layer starts at a neutral answer (the mean, the centre)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Input -> the backbone's feature maps at strides 4, 8, 16, 32."""
        rgb = (x[:, :3] - self.mean) / self.std  # extra channels (a heatmap) go in as they are
        x = self.stem(torch.cat([rgb, x[:, 3:]], dim=1) if self.in_chans > 3 else rgb)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features(x)
        head = self.head
        return head([feats[i] for i in head.features])

    def infer(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inference (every backend, the ONNX export): ((B, K, 2) points as forward() gives them in
        eval mode, (B, K) float32 point confidences in [0, 1], or None when the head has no scores)."""
        feats = self.features(x)
        head = self.head
        return head.infer([feats[i] for i in head.features])

    @property
    def scores(self) -> bool:
        """Whether infer() gives point confidences (the head's `scores`)."""
        return bool(self.head.scores)


def _factory(name):
    block, layers = _SPECS[name]

    def build(width: float = 1.0, head: str = "avg", input_size: int = 128, dropout: float = 0.0,
              in_chans: int = 3, head_args: dict | None = None, num_points: int = 68, stem: str = "pool",
              antialias: bool = False):
        return ResNetRegressor(block, layers, width=width, head=head, input_size=input_size, dropout=dropout,
                               in_chans=in_chans, head_args=head_args, num_points=num_points, stem=stem,
                               antialias=antialias)

    build.__name__ = name
    build.__doc__ = f"{name} landmark network (torchvision blocks, a registered head)."
    return register_model(build)


for _name in _SPECS:
    _factory(_name)
