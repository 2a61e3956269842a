"""ITAN — inference-time adaptive normalization (Sarkar et al., WACV 2022); docs/itan.md.

:mod:`.blend` holds the core (K codes blended by a partition in one forward pass), :mod:`.operations` the
registered operations built on it: ``blend``, ``resample``, ``transfer``, ``saliency``.
"""

from .blend import BlendSpace, ITANNoise, ITANOutput, blend_generate
from .operations import blend, hybridize, resample, saliency, transfer

__all__ = [
    "BlendSpace", "ITANNoise", "ITANOutput", "blend_generate", "blend", "resample", "transfer", "saliency", "hybridize",
]  # fmt: skip
