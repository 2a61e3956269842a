"""Which activations a catalog reads, and the seeded sample images it reads them from.

A catalog clusters the output of one conv control point (the *catalog layer*) and measures, for every
control point, the activation its style scales: the style of control point ``l`` modulates the *input*
of its convolution, i.e. the output of the preceding conv layer at ``l``'s ``in_resolution``. The first
conv (``b4.conv1`` on StyleGAN2) reads the learned constant, which is identical for every sample and not
part of the generator interface: it has no feature, so its contribution matrix is zero and a part
transfer never changes that (global) style.

    catalog_layers(G)           conv control points whose outputs can be clustered
    default_catalog_layer(G)    the first conv at min(32, resolution)², the paper's "first 32×32 layer"
    style_input_features(G)     {control point: the conv whose output its style scales, or None}
    sample_codes(G, n, seed)    the catalog's own latents z [n, z_dim]
    sample_features(G, z, psi)  image + per-conv features of those latents (constant noise)
"""

from __future__ import annotations

import torch

from ...generators.base import SynthesisOutput
from ...validate import seed as check_seed
from .errors import CatalogError

__all__ = ["catalog_layers", "default_catalog_layer", "style_input_features", "sample_codes", "sample_features"]


def catalog_layers(G) -> list[str]:
    """Names of the layers whose activations can be clustered: the conv control points (their outputs)."""
    return [p.name for p in G.control_points() if p.kind == "conv"]


def default_catalog_layer(G) -> str:
    """The first conv layer at resolution ``min(32, img_resolution)`` (the paper's "first 32×32 layer")."""
    target = min(32, G.img_resolution)
    for p in G.control_points():
        if p.kind == "conv" and p.resolution == target:
            return p.name
    return catalog_layers(G)[-1]


def style_input_features(G) -> dict[str, str | None]:
    """For each control point, the conv layer whose output its style scales (None for the first conv,
    which reads the learned constant). Derived from the control point order: the closest preceding conv."""
    out: dict[str, str | None] = {}
    last = None
    for p in G.control_points():
        if last is not None and (last.resolution != p.in_resolution or last.out_channels != p.channels):
            raise CatalogError(
                f"cannot tell which activation feeds {p.name} ({p.channels} channels at {p.in_resolution}²): the "
                f"preceding conv layer {last.name} outputs {last.out_channels} channels at {last.resolution}²"
            )
        out[p.name] = None if last is None else last.name
        if p.kind == "conv":
            last = p
    return out


def sample_codes(G, samples: int, seed: int) -> torch.Tensor:
    """``z [samples, z_dim]`` = ``torch.randn`` from ``torch.Generator().manual_seed(seed)``, on the CPU
    (the catalog's own samples: the same on every device)."""
    return torch.randn([samples, G.z_dim], generator=torch.Generator().manual_seed(check_seed(seed)))


def sample_features(G, z: torch.Tensor, truncation_psi: float = 1.0) -> SynthesisOutput:
    """``z [N, z_dim]`` -> image ``[N, 3, R, R]`` and every conv layer's output ``{name: [N, C, h, w]}``,
    with the model's constant noise, without gradients."""
    with torch.no_grad():
        ws = G.map(z.to(G.device), None, truncation_psi)
        return G.synthesize(G.styles(ws), noise_mode="const", return_features=True)
