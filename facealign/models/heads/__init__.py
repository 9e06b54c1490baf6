"""Landmark heads as plug-ins: a head turns the backbone's feature maps into K points.

Each head is one module in this package, registered by name with `@register_head`; the table
below maps the built-in names to their modules, which import PyTorch and load only when a head
is asked for (so this file, and config checks that list the names, stay torch-free).

Adding a head: write `heads/<name>.py` with a `Head` subclass (see heads/base.py for what it
declares and provides) decorated `@register_head("<name>")`, and add one row to `_BUILTIN`, with its
settings: the one list of head names (`list_heads()`, which the training config checks `head`
against) and of their options (`head_options()`, the config's `head_options`).
"""
from __future__ import annotations

from importlib import import_module

_BUILTIN = {  # head name -> (module in this package, its settings and their defaults: config head_options)
    "avg": ("regression", {}),  # global average pooling + fully connected (torchvision's ResNet)
    "flatten": ("regression", {}),  # the last map flattened + fully connected
    # soft-argmax of one map per point at stride 4; heatmap_weight > 0 adds losses.heatmap_kl of its maps
    "integral": ("integral", {"heatmap_weight": 0.0, "heatmap_sigma": 1.0}),
    # PIPNet: score, offsets and neighbours' offsets on a grid of `stride`-pixel cells (16 or 32), each point
    # voted for by its `neighbours` nearest; trained with score MSE x score_weight + offset L1 x offset_weight
    "pip": ("pip", {"stride": 16, "neighbours": 10, "score_weight": 10.0, "offset_weight": 1.0}),
}
_HEADS: dict[str, type] = {}


def register_head(name: str):
    """Class decorator: make a `Head` subclass buildable as head=`name`."""
    def deco(cls):
        cls.name = name
        _HEADS[name] = cls
        return cls
    return deco


def list_heads() -> tuple[str, ...]:
    """Names of the built-in heads (in table order), then any registered elsewhere."""
    return tuple(_BUILTIN) + tuple(n for n in _HEADS if n not in _BUILTIN)


def head_options(name: str) -> dict:
    """A head's settings and their defaults (torch-free for the built-in heads; a head registered
    elsewhere declares them as its class's `options`)."""
    if name in _BUILTIN:
        return dict(_BUILTIN[name][1])
    return dict(get_head(name).options)


def get_head(name: str) -> type:
    """The Head class registered as `name` (imports PyTorch). ValueError naming the choices."""
    if name in _BUILTIN and name not in _HEADS:
        import_module(f"{__name__}.{_BUILTIN[name][0]}")
    if name not in _HEADS:
        raise ValueError(f"unknown head {name!r}; choose from {', '.join(list_heads())}")
    return _HEADS[name]

