"""NVlabs StyleGAN2 generators (stylegan2-ada-pytorch, stylegan3's networks_stylegan2) -> our StyleGAN2.

The state dict already uses our parameter names; only the constructor arguments need translating. They come
from an untrusted file (a pickle's ``init_kwargs`` or a JSON string next to a state dict), so every field
is checked for type and range, and the declared size against the model budget, before anything is built.
"""

from __future__ import annotations

from typing import Any

from ..generators.registry import check_config, short_repr
from ..limits import LimitError
from .errors import CheckpointError
from .reading import first_line

__all__ = ["config_from_nvidia_kwargs"]

# Synthesis kwargs that change speed or numerics of fp16 training but not the fp32 function we compute.
_IGNORED = {"num_fp16_res", "fp16_channels_last", "fused_modconv_default", "channels_last", "use_fp16"}
_MAPPING_KEYS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_KEYS = {"channel_base", "channel_max", "architecture", "resample_filter", "conv_clamp"}
_TOP_KEYS = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}


def config_from_nvidia_kwargs(
    init_kwargs: Any, state_dict: dict[str, Any] | None = None, source: str = "checkpoint"
) -> dict[str, Any]:
    """NVIDIA ``Generator`` init kwargs -> :class:`~regiongan.generators.stylegan2.StyleGAN2` config.

    Raises a one-line :class:`CheckpointError` for a field of the wrong type or range and
    :class:`~regiongan.limits.LimitError` for a declared model above the parameter / activation budget.
    """
    if state_dict is not None and any(isinstance(k, str) and k.startswith("synthesis.input.") for k in state_dict):
        raise CheckpointError(
            f"{source}: this is a StyleGAN3 (alias-free) generator; regiongan supports StyleGAN2 configs only "
            "(stylegan3 repo with --cfg=stylegan2 works)"
        )
    init_kwargs = _kwargs(init_kwargs, "generator constructor arguments", source)
    missing = [k for k in ("z_dim", "w_dim", "img_resolution") if k not in init_kwargs]
    if missing:
        raise CheckpointError(
            f"{source}: generator constructor arguments lack {missing}; found {short_repr(sorted(init_kwargs), 120)}"
        )
    syn = _kwargs(init_kwargs.get("synthesis_kwargs"), "synthesis_kwargs", source)
    syn.update({k: v for k, v in init_kwargs.items() if k not in _TOP_KEYS})  # stylegan3 passes them flat
    mapping = _kwargs(init_kwargs.get("mapping_kwargs"), "mapping_kwargs", source)
    unknown = sorted((set(syn) - _SYNTHESIS_KEYS - _IGNORED) | (set(mapping) - _MAPPING_KEYS))
    if unknown:
        raise CheckpointError(
            f"{source}: unsupported generator options {short_repr(unknown, 120)}; regiongan cannot reproduce them exactly"
        )
    if mapping.get("activation", "lrelu") != "lrelu":
        got = short_repr(mapping["activation"])
        raise CheckpointError(f"{source}: mapping activation {got} is not supported (only 'lrelu')")
    config = dict(
        z_dim=init_kwargs["z_dim"],
        c_dim=init_kwargs.get("c_dim", 0),
        w_dim=init_kwargs["w_dim"],
        img_resolution=init_kwargs["img_resolution"],
        img_channels=init_kwargs.get("img_channels", 3),
        mapping_layers=mapping.get("num_layers", 8),
        mapping_lr_multiplier=mapping.get("lr_multiplier", 0.01),
        mapping_embed_features=mapping.get("embed_features"),
        mapping_layer_features=mapping.get("layer_features"),
        channel_base=syn.get("channel_base", 32768),
        channel_max=syn.get("channel_max", 512),
        architecture=syn.get("architecture", "skip"),
        resample_filter=syn.get("resample_filter", [1, 3, 3, 1]),
        conv_clamp=syn.get("conv_clamp"),
        w_avg_beta=mapping.get("w_avg_beta", 0.995),
    )
    try:
        check_config("stylegan2", config)  # types, ranges and the parameter / activation budget; builds nothing
    except LimitError as e:
        raise LimitError(f"{source}: {e}") from None
    except ValueError as e:
        raise CheckpointError(f"{source}: {first_line(e)}") from None
    # Numbers as the NVIDIA code uses them (it calls float() on these), so configs read the same from any source.
    config["mapping_lr_multiplier"] = float(config["mapping_lr_multiplier"])
    config["w_avg_beta"] = float(config["w_avg_beta"])
    config["resample_filter"] = [float(t) for t in config["resample_filter"]]
    config["conv_clamp"] = None if config["conv_clamp"] is None else float(config["conv_clamp"])
    return config


def _kwargs(value: Any, what: str, source: str) -> dict[str, Any]:
    """A copy of a keyword-argument dict (None -> {}), else a one-line error; keys must be names."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: {what} must be a dict, got {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise CheckpointError(f"{source}: {what} has keys that are not names: {bad[:3]!r}")
    return dict(value)
