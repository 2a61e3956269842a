"""``pytorch-pretrained-biggan`` checkpoints -> our BigGAN-deep (:mod:`regiongan.generators.biggan`).

The package stores a model as ``pytorch_model.bin`` (a ``torch.save``'d state dict) next to
``config.json`` (its ``BigGANConfig``). We accept that directory, or the weights file itself when
``config.json`` sits next to it. The weights are read by the caller with ``torch.load(weights_only=True)``
(:func:`regiongan.checkpoints.loading.load_model`); the architecture comes from ``config.json`` only,
every field checked, and our parameter names are the package's, so the state dict loads as it is (strictly).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import torch

from ..generators.biggan import PACKAGE_DEFAULTS
from ..generators.registry import check_config, short_repr
from ..limits import LimitError
from .errors import CheckpointError, CorruptCheckpointError
from .reading import check_state_tensors, first_line, read_json_file

__all__ = [
    "WEIGHTS_NAME", "CONFIG_NAME", "WEIGHT_SUFFIXES", "is_biggan_checkpoint", "biggan_files", "read_biggan_config",
    "convert_biggan_state",
]  # fmt: skip

WEIGHTS_NAME = "pytorch_model.bin"
CONFIG_NAME = "config.json"
#: A weights file given directly must end in one of these (with ``config.json`` beside it).
WEIGHT_SUFFIXES = (".bin", ".pt", ".pth")
_MARKERS = ("layers", "channel_width")  # keys every BigGANConfig JSON has and our own config.json lacks


def _looks_like_biggan_config(path: Path) -> bool:
    try:
        obj = read_json_file(path, CorruptCheckpointError, "config.json")
    except (OSError, ValueError):  # unreadable, too large or not JSON: not a BigGAN config (the native check reports it)
        return False
    return isinstance(obj, dict) and "format" not in obj and all(k in obj for k in _MARKERS)


def is_biggan_checkpoint(path: str | Path) -> bool:
    """True for a directory whose ``config.json`` is a BigGAN config, or a ``.bin``/``.pt``/``.pth`` file
    with such a ``config.json`` next to it. Never raises."""
    p = Path(path)
    if p.is_dir():
        config = p / CONFIG_NAME
    elif p.is_file() and p.suffix in WEIGHT_SUFFIXES:
        config = p.parent / CONFIG_NAME
    else:
        return False
    return config.is_file() and _looks_like_biggan_config(config)


def biggan_files(path: str | Path) -> tuple[Path, Path]:
    """``(weights, config.json)`` of a BigGAN checkpoint directory or weights file."""
    p = Path(path)
    if p.is_dir():
        weights = p / WEIGHTS_NAME
        if not weights.is_file():
            raise CheckpointError(
                f"{p}: {WEIGHTS_NAME} is missing next to config.json (pytorch-pretrained-biggan layout)"
            )
        return weights, p / CONFIG_NAME
    return p, p.parent / CONFIG_NAME


def read_biggan_config(path: str | Path) -> dict[str, Any]:
    """``config.json`` of the package -> the constructor arguments of
    :class:`~regiongan.generators.biggan.BigGANDeep`, every field validated.

    Like the package, a missing field takes the package's default (its 128² model) and unknown fields are
    ignored; a wrong type or range raises a one-line :class:`CheckpointError`, a model above the parameter or
    activation budget :class:`~regiongan.limits.LimitError` — before any weight is read.
    """
    path = Path(path)
    obj = read_json_file(path, CorruptCheckpointError, "config.json")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: a BigGAN config.json must be a JSON object, got {type(obj).__name__}")
    config = {k: obj.get(k, v) for k, v in PACKAGE_DEFAULTS.items()}
    try:
        check_config("biggan-deep", config)  # every field (check_biggan_config) and the budget; builds nothing
    except LimitError as e:
        raise LimitError(f"{path}: {e}") from None
    except ValueError as e:
        raise CheckpointError(f"{path}: {first_line(e)}") from None
    config["layers"] = [[bool(up), int(c_in), int(c_out)] for up, c_in, c_out in config["layers"]]
    config["eps"] = float(config["eps"])
    return config


def convert_biggan_state(state: Any, config: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
    """The package's state dict -> ours (the names are the same), after one-line checks that it is a
    dict of tensors and that its blocks agree with ``config["layers"]`` (the full strict comparison
    follows when the model is built)."""
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{source}: expected a state dict (parameter name -> tensor), got {type(state).__name__}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: not a plain state dict: {short_repr(bad[:3], 120)} are not tensors")
    state = check_state_tensors(state, source)  # and no broadcast views larger than their data
    if "embeddings.weight" not in state or "generator.gen_z.weight_orig" not in state:
        raise CheckpointError(
            f"{source}: not a pytorch-pretrained-biggan state dict (no embeddings.weight / generator.gen_z)"
        )
    layers = config["layers"]
    attention = config["attention_layer_position"]
    expected = len(layers) + (1 if 0 <= attention < len(layers) else 0)
    found = {int(m.group(1)) for k in state if (m := re.match(r"generator\.layers\.(\d+)\.", k))}
    if found != set(range(expected)):
        raise CheckpointError(
            f"{source}: config.json describes {expected} generator layers ({len(layers)} blocks"
            f"{' + attention' if expected > len(layers) else ''}) but the weights hold {len(found)}; "
            "was the weights file written for another config.json?"
        )
    ch = config["channel_width"]
    j = 0
    for i, (_, c_in, _) in enumerate(layers):
        j += 1 if i == attention else 0
        w = state.get(f"generator.layers.{j}.conv_0.weight_orig")
        if w is not None and w.ndim == 4 and w.shape[1] != ch * c_in:
            raise CheckpointError(
                f"{source}: block {i} (generator.layers.{j}) takes {w.shape[1]} channels in the weights but "
                f"{ch * c_in} = channel_width {ch} × {c_in} in config.json"
            )
        j += 1
    return dict(state)
