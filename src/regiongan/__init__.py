"""regiongan: region-level control over GAN image generation.

The public API, imported lazily (``import regiongan`` loads no model code)::

    import regiongan as rg
    G = rg.load_model("faces-64")
    out = rg.resample(G, 3, "part:mouth", variations=8)     # a Result: out.images [8, 3, 64, 64]
    out.recipe.save("out/resample.json")                    # rg.replay("out/resample.json") reproduces it

Operations (each returns a :class:`Result` with ``images``, ``recipe`` and the method's ``extras``):
``generate``, ``blend``, ``resample``, ``transfer``, ``saliency`` (ITAN), ``transfer_part`` (Editing in
Style), ``edit`` (ReSeFa, with ``find_directions``). The vocabulary is in docs/vocabulary.md.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

#: public name -> module that defines it
_API: dict[str, str] = {
    "load_model": "regiongan.checkpoints",
    "list_models": "regiongan.checkpoints",
    "Region": "regiongan.regions",
    "RegionSet": "regiongan.regions",
    "RegionError": "regiongan.regions",
    "parse_region": "regiongan.regions",
    "Result": "regiongan.results",
    "Recipe": "regiongan.recipes",
    "load_recipe": "regiongan.recipes",
    "z_from_seeds": "regiongan.latents",
    "parse_seeds": "regiongan.latents",
    "list_methods": "regiongan.api",
    "replay": "regiongan.api",
    "generate": "regiongan.methods.sampling",
    "blend": "regiongan.methods.itan",
    "resample": "regiongan.methods.itan",
    "transfer": "regiongan.methods.itan",
    "saliency": "regiongan.methods.itan",
    "hybridize": "regiongan.methods.itan",
    "transfer_part": "regiongan.methods.editing_in_style",
    "build_catalog": "regiongan.methods.editing_in_style",
    "load_catalog": "regiongan.methods.editing_in_style",
    "find_directions": "regiongan.methods.resefa",
    "load_directions": "regiongan.methods.resefa",
    "edit": "regiongan.methods.resefa",
    "resample_blocks": "regiongan.methods.ssn",
    "synthesize": "regiongan.methods.spade",
    "repaint": "regiongan.methods.spade",
    "region_styles": "regiongan.methods.spade",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'regiongan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
