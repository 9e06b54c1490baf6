"""Landmark models: registry, ResNet regressors, the two-stage cascade.

Importing this does not import PyTorch: the ResNets register themselves when a model is
first built or listed. The cascade's weights file is read and written in
facealign.formats.cascade_pt (CascadeFile, load_cascade, save_cascade, atomic_save).
"""
from .cascade import StageSpec, mean_template, run_cascade, to_input
from .codec import PointCodec
from .registry import create_model, list_models, register_model

# Transitional: facealign/training/models.py still imports load_cascade from here; drop this once
# it imports it from facealign.formats.cascade_pt like every other module.
_FROM_FORMATS = {"load_cascade"}


def __getattr__(name):
    if name in _FROM_FORMATS:
        from ..formats import cascade_pt

        return getattr(cascade_pt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_model", "list_models", "register_model", "PointCodec", "StageSpec", "mean_template",
           "to_input", "run_cascade"]
