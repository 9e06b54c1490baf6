"""Landmark models: registry, ResNet regressors, the two-stage cascade."""
from . import resnet  # noqa: F401  (registers the ResNets)
from .cascade import CascadeFile, StageSpec, load_cascade, mean_template, save_cascade, to_input
from .codec import PointCodec
from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model", "PointCodec", "CascadeFile", "StageSpec",
           "load_cascade", "save_cascade", "mean_template", "to_input"]
