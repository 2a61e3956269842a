"""Discriminators: the networks that judge images during training (never needed for inference)."""

from __future__ import annotations

import torch.nn as nn

from .biggan import BigGANDiscriminator
from .spade import SPADEDiscriminator
from .stylegan2 import StyleGAN2Discriminator

__all__ = ["StyleGAN2Discriminator", "BigGANDiscriminator", "SPADEDiscriminator", "DISCRIMINATOR_TYPES", "build_discriminator"]

#: model_type -> class, the discriminator counterpart of ``regiongan.generators.registry``.
DISCRIMINATOR_TYPES: dict[str, type[nn.Module]] = {
    "stylegan2-d": StyleGAN2Discriminator,
    "biggan-deep-d": BigGANDiscriminator,
    "spade-d": SPADEDiscriminator,
}


def build_discriminator(model_type: str, config: dict) -> nn.Module:
    """Instantiate a registered discriminator from its constructor arguments."""
    if model_type not in DISCRIMINATOR_TYPES:
        raise ValueError(f"unknown discriminator type {model_type!r}; known: {sorted(DISCRIMINATOR_TYPES)}")
    try:
        return DISCRIMINATOR_TYPES[model_type](**config)
    except TypeError as e:
        raise ValueError(f"config does not fit {model_type}: {e}") from e
