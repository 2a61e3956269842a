"""Generators: the shared interface and the model families that implement it."""

from __future__ import annotations

import torch.nn as nn

from .base import BlendedStyle, ControlPoint, Generator, Style, SynthesisOutput
from .stylegan2 import StyleGAN2

__all__ = ["BlendedStyle", "ControlPoint", "Generator", "Style", "SynthesisOutput", "StyleGAN2", "MODEL_TYPES", "build_model"]

#: model_type (stored in config.json) -> class. Every registered family runs through the shared tests.
MODEL_TYPES: dict[str, type[nn.Module]] = {"stylegan2": StyleGAN2}


def build_model(model_type: str, config: dict) -> nn.Module:
    """Instantiate a registered model family from its constructor arguments."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model_type {model_type!r}; known: {sorted(MODEL_TYPES)}")
    try:
        return MODEL_TYPES[model_type](**config)
    except TypeError as e:
        raise ValueError(f"config does not fit {model_type}: {e}") from e
