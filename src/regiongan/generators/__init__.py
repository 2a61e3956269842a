"""Generators: the shared interface (:mod:`.base`), the family registry (:mod:`.registry`) and the
families that register themselves in it (importing this package imports every built-in family)."""

from __future__ import annotations

from .base import (
    BlendedStyle, ControlPoint, Generator, LatentSpace, Style, SynthesisOutput, check_generator, latent_spaces,
    tangent_pass,
)  # fmt: skip
from .registry import build_model, family_class, list_families, register_family
from .stylegan2 import StyleGAN2
from .biggan import BigGANDeep  # registers "biggan-deep"
from .spade import SPADEModel  # registers "spade"
from .ssn import SSNGenerator  # registers "ssn"

__all__ = [
    "BigGANDeep", "BlendedStyle", "SPADEModel", "SSNGenerator", "ControlPoint", "Generator", "Style",
    "SynthesisOutput", "StyleGAN2", "build_model",
    "family_class", "list_families", "register_family", "check_generator", "tangent_pass", "latent_spaces",
    "LatentSpace",
]  # fmt: skip
