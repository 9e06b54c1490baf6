"""Landmark models: registry, ResNet regressors, the two-stage cascade.

Importing this does not import PyTorch: the ResNets register themselves when a model is
first built or listed, and the cascade file's reader loads torch when it reads one.
"""
from .cascade import StageSpec, mean_template, run_cascade, to_input
from .codec import PointCodec
from .registry import create_model, list_models, register_model

_FROM_FORMATS = {"CascadeFile", "load_cascade", "save_cascade", "atomic_save"}


def __getattr__(name):
    if name in _FROM_FORMATS:
        from ..formats import cascade_pt

        return getattr(cascade_pt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_model", "list_models", "register_model", "PointCodec", "CascadeFile", "StageSpec",
           "load_cascade", "save_cascade", "mean_template", "to_input", "run_cascade"]
