"""Per-family pieces of the training loop, one module per generator family (see :mod:`.base`).

    get_family(cfg.family) -> TrainingFamily      (``stylegan2``, ``biggan-deep``, ``ssn``, ``spade``)
"""

from __future__ import annotations

from ..config import FAMILIES
from .base import CardFacts, Objective, Phase, RealBatch, StepContext, TrainingFamily, derived_seed
from .biggan import BigGANFamily
from .spade import SPADEFamily
from .ssn import SSNFamily
from .stylegan2 import StyleGAN2Family, make_adam

__all__ = [
    "get_family",
    "TRAINING_FAMILIES",
    "TrainingFamily",
    "CardFacts",
    "Objective",
    "Phase",
    "RealBatch",
    "StepContext",
    "derived_seed",
    "make_adam",
]

#: ``--family`` value -> its pieces (one stateless instance each).
TRAINING_FAMILIES: dict[str, TrainingFamily] = {f.name: f for f in (StyleGAN2Family(), BigGANFamily(), SSNFamily(), SPADEFamily())}
assert set(TRAINING_FAMILIES) == set(FAMILIES), "config.FAMILIES and the family modules disagree"


def get_family(name: str) -> TrainingFamily:
    """The training pieces of family ``name``, or a ValueError listing the known ones."""
    if name not in TRAINING_FAMILIES:
        raise ValueError(f"unknown training family {name!r}; known: {', '.join(TRAINING_FAMILIES)}")
    return TRAINING_FAMILIES[name]
