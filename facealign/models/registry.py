"""Models built by name: `create_model("resnet18", width=0.5)`, `list_models()`."""
from __future__ import annotations

from typing import Callable

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Decorator: make `fn(**kw) -> nn.Module` available as create_model(fn.__name__)."""
    _MODELS[fn.__name__] = fn
    return fn


def _builtin() -> None:
    """Register the built-in ResNets (imports PyTorch, so only when a model is asked for)."""
    from . import resnet  # noqa: F401


def list_models() -> list[str]:
    _builtin()
    return sorted(_MODELS)


def create_model(name: str, **kwargs):
    _builtin()
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(list_models())}")
    return _MODELS[name](**kwargs)
