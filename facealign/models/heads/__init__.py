"""Landmark heads as plug-ins: a head turns the backbone's feature maps into K points.

Each head is one module in this package, registered by name with `@register_head`; the table
below maps the built-in names to their modules, which import PyTorch and load only when a head
is asked for (so this file, and config checks that list the names, stay torch-free).

Adding a head: write `heads/<name>.py` with a `Head` subclass (see heads/base.py for what it
declares and provides) decorated `@register_head("<name>")`, and add one row to `_BUILTIN`: the
one list of head names (`list_heads()`, which the training config checks `head` against).
"""
from __future__ import annotations

from importlib import import_module

_BUILTIN = {  # head name -> module in this package
    "avg": "regression",  # global average pooling + fully connected (torchvision's ResNet)
    "flatten": "regression",  # the last map flattened + fully connected
    "integral": "integral",  # soft-argmax of one map per point at stride 4
    "pip": "pip",  # PIPNet: score, offsets and neighbours' offsets on a coarse grid
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


def get_head(name: str) -> type:
    """The Head class registered as `name` (imports PyTorch). ValueError naming the choices."""
    if name in _BUILTIN and name not in _HEADS:
        import_module(f"{__name__}.{_BUILTIN[name]}")
    if name not in _HEADS:
        raise ValueError(f"unknown head {name!r}; choose from {', '.join(list_heads())}")
    return _HEADS[name]

