"""Landmark models: registry, ResNet regressors, the two-stage cascade.

Importing this does not import PyTorch: the ResNets register themselves when a model is
first built or listed. The cascade's weights file is read and written in
facealign.formats.cascade_pt (CascadeFile, load_cascade, save_cascade, atomic_save).
"""
from .cascade import StageSpec, mean_template, run_cascade, to_input
from .codec import PointCodec
from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model", "PointCodec", "StageSpec", "mean_template",
           "to_input", "run_cascade"]
