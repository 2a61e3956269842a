"""Initialise an SSN from a StyleGAN2 generator (the SSN paper's transfer protocol, §3.4; docs/ssn.md).

Every SSN parameter with a StyleGAN2 counterpart has the same name and the same shape
(:mod:`.ssn`, :mod:`.ssn_layers`), so the transfer is a copy by name:

    mapping.fc{i}.*            -> mapping.fc{i}.*          the MLP, applied per block (1×1 convolutions)
    mapping.w_avg [w]          -> mapping.w_avg [w, n, n]  the same mean in every block
    synthesis.bR.conv{0,1}.*   -> the same                 modulated -> spatially modulated (same W, affine, noise)
    synthesis.bR.torgb.*       -> the same                 ToRGB -> spatial ToRGB
    synthesis.b4.const, resample_filter buffers             copied

The spatial encoder (``mapping.encoder*``) has no counterpart and keeps its fresh initialisation; its
gains start at 0, so until training moves them a spatially constant z (the same vector in every block)
reproduces the StyleGAN2 image of that vector (σ_E of a constant style is StyleGAN2's demodulation).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from .ssn import SSNGenerator, check_ssn_config
from .stylegan2 import StyleGAN2

__all__ = ["ssn_config_from_stylegan2", "transfer_state", "ssn_from_stylegan2", "fresh_keys"]


def ssn_config_from_stylegan2(
    sg2_config: Mapping[str, Any],
    block_grid: int = 4,
    z_channels: int | None = None,
    encoder_layers: int = 1,
    encoder_global: bool = False,
    gate_lr_multiplier: float = 1.0,
) -> dict[str, Any]:
    """The SSN config with the widths of a StyleGAN2 config (``z_channels`` defaults to its ``z_dim``,
    ``w_channels`` is its ``w_dim``). Only unconditional skip-architecture StyleGAN2s have an SSN analogue."""
    if sg2_config.get("c_dim", 0):
        raise ValueError(f"transfer to SSN needs an unconditional StyleGAN2, this one has c_dim {sg2_config['c_dim']}")
    if sg2_config.get("architecture", "skip") != "skip":
        raise ValueError(
            f"transfer to SSN needs a skip-architecture StyleGAN2 (SSN's skeleton), got {sg2_config['architecture']!r}"
        )
    config = dict(
        z_channels=sg2_config.get("z_dim", 512) if z_channels is None else z_channels,
        w_channels=sg2_config.get("w_dim", 512), block_grid=block_grid,
        img_resolution=sg2_config.get("img_resolution", 256), img_channels=sg2_config.get("img_channels", 3),
        mapping_layers=sg2_config.get("mapping_layers", 8),
        mapping_lr_multiplier=sg2_config.get("mapping_lr_multiplier", 0.01),
        mapping_layer_features=sg2_config.get("mapping_layer_features"), encoder_layers=encoder_layers,
        encoder_global=encoder_global, gate_lr_multiplier=gate_lr_multiplier,
        channel_base=sg2_config.get("channel_base", 32768), channel_max=sg2_config.get("channel_max", 512),
        channels=sg2_config.get("channels"), resample_filter=list(sg2_config.get("resample_filter", (1, 3, 3, 1))),
        conv_clamp=sg2_config.get("conv_clamp"), w_avg_beta=sg2_config.get("w_avg_beta", 0.995),
    )  # fmt: skip
    return check_ssn_config(config)


def fresh_keys(ssn_config: Mapping[str, Any]) -> list[str]:
    """The SSN state-dict keys without a StyleGAN2 counterpart (the spatial encoder)."""
    return [k for k in _ssn_shapes(ssn_config) if k.startswith("mapping.encoder")]


def transfer_state(sg2_state: Mapping[str, torch.Tensor], ssn_config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """StyleGAN2 tensors (NVlabs names, as :class:`~regiongan.generators.stylegan2.StyleGAN2` has them) ->
    every SSN tensor that has a counterpart (all but :func:`fresh_keys`), for ``load_state_dict(strict=False)``.

    A StyleGAN2 tensor missing, left over (a class embedding, a resnet skip) or of another shape than the
    SSN layer needs is a one-line ValueError naming the layer and both shapes.
    """
    shapes = _ssn_shapes(ssn_config)
    out: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        if key.startswith("mapping.encoder"):
            continue
        if key not in sg2_state:
            raise ValueError(f"transfer to SSN: the StyleGAN2 state has no {key!r} (the SSN layer needs {tuple(shape)})")
        t = sg2_state[key]
        if key == "mapping.w_avg" and t.ndim == 1 and t.shape[0] == shape[0]:
            t = t[:, None, None].expand(shape).clone()  # the same mean in every block
        if tuple(t.shape) != tuple(shape):
            raise ValueError(
                f"transfer to SSN: {key} is {tuple(t.shape)} in the StyleGAN2 but the SSN config needs {tuple(shape)}; "
                "build the SSN with the StyleGAN2's widths (ssn_config_from_stylegan2)"
            )
        out[key] = t.detach().to(torch.float32).clone()
    extra = sorted(k for k in sg2_state if k not in shapes)
    if extra:
        raise ValueError(f"transfer to SSN: StyleGAN2 tensors without an SSN counterpart, e.g. {extra[:3]}")
    return out


def ssn_from_stylegan2(
    G_sg2: StyleGAN2,
    block_grid: int = 4,
    z_channels: int | None = None,
    encoder_layers: int = 1,
    encoder_global: bool = False,
    gate_lr_multiplier: float = 1.0,
) -> SSNGenerator:
    """An :class:`SSNGenerator` with every transferable weight of ``G_sg2`` and a fresh spatial encoder
    (drawn from torch's global generator, as any fresh module; seed it with ``torch.manual_seed``), on
    ``G_sg2``'s device, in eval mode without gradients as loaded models are."""
    if not isinstance(G_sg2, StyleGAN2):
        raise ValueError(f"ssn_from_stylegan2 needs a StyleGAN2 generator, got {type(G_sg2).__name__}")
    config = ssn_config_from_stylegan2(G_sg2.config, block_grid, z_channels, encoder_layers, encoder_global, gate_lr_multiplier)
    state = transfer_state(G_sg2.state_dict(), config)
    G = SSNGenerator(**config)
    missing, unexpected = G.load_state_dict(state, strict=False)
    assert not unexpected and sorted(missing) == sorted(fresh_keys(config)), (missing, unexpected)
    return G.to(G_sg2.device).eval().requires_grad_(False)


def _ssn_shapes(ssn_config: Mapping[str, Any]) -> dict[str, torch.Size]:
    """Name -> shape of every SSN state tensor, built on the meta device (nothing allocated)."""
    SSNGenerator.config_cost(dict(ssn_config))  # validates the config first (one-line errors)
    with torch.device("meta"):
        G = SSNGenerator(**ssn_config)
    return {k: v.shape for k, v in G.state_dict().items()}
