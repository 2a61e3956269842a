"""Saving and loading part parsers in the regiongan checkpoint format.

A parser directory holds ``config.json`` (``format: "regiongan"``, ``format_version: 1``,
``model_type: "part-parser"``, ``config``: the :class:`PartParser` constructor arguments, optional
``extra``) and ``model.safetensors`` -- the same layout as :mod:`regiongan.checkpoints.native`, written and
read with :mod:`regiongan.checkpoints.files` (parsers are not generators). Weights are data: safetensors only.

Shipped parsers live in ``regiongan/models/<name>/`` and are loaded by name (``load_parser("parser-faces-64")``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..checkpoints.files import (
    CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILE, check_format, check_state_dict,
    read_safetensors, save_model_dir,
)  # fmt: skip
from ..checkpoints.reading import check_regular_file, header_shapes, read_json_file, read_safetensors_header
from ..generators.registry import ModelCost, bind_config, check_cost, config_int, short_repr
from ..limits import LimitError
from .model import PartParser

__all__ = ["MODELS_DIR", "list_parsers", "save_parser", "load_parser", "parser_config_cost"]

MODEL_TYPE = PartParser.model_type
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def list_parsers() -> list[str]:
    """Names of the shipped parsers (directories ``regiongan/models/parser-*`` with a config.json)."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.glob("parser-*") if (p / CONFIG_FILE).is_file())


def save_parser(
    parser: PartParser,
    directory: str | Path,
    overwrite: bool = False,
    dtype: torch.dtype = torch.float16,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``directory/config.json`` and ``directory/model.safetensors`` (floats as ``dtype``) as one unit.

    ``directory`` must be new or an empty folder; ``overwrite=True`` also replaces an earlier regiongan
    model directory (never another folder). The new folder is swapped in by one rename, so an interrupted
    save never leaves a half-written parser, and other files already in the directory (a model card
    ``README.md``) are kept. ``extra`` (training facts) is stored under ``"extra"``.
    """
    if not isinstance(parser, PartParser):
        raise TypeError(f"save_parser needs a PartParser, got {type(parser).__name__}")
    return save_model_dir(parser, Path(directory), MODEL_TYPE, dtype, extra, overwrite=overwrite)


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        path = path.parent
    if (path / CONFIG_FILE).is_file():
        return path
    if isinstance(name_or_path, str) and "/" not in name_or_path and (MODELS_DIR / name_or_path / CONFIG_FILE).is_file():
        return MODELS_DIR / name_or_path
    shipped = list_parsers()
    raise FileNotFoundError(
        f"no parser at {str(name_or_path)!r}: expected a directory with {CONFIG_FILE} and {WEIGHTS_FILE}, "
        f"or a shipped parser name ({', '.join(shipped) if shipped else 'none shipped'}). "
        "Train one with: python -m regiongan.parser train --world faces --out DIR"
    )


#: Resolution levels of a parser (each halves the image: 16 levels need images of 32768² multiples).
_MAX_LEVELS = 16


def parser_config_cost(config: Any, source: str = "config") -> ModelCost:
    """Every field of a :class:`PartParser` config checked for type and range (one-line ValueError), and its
    state-dict size counted exactly, from the config alone (nothing is built).

    Activations depend on the images a parser is given (those are capped by ``image_pixels``), so only the
    parameters are counted here: ``activations`` is 0.
    """
    if not isinstance(config, dict):
        raise ValueError(f"{source}: \"config\" must be an object of PartParser arguments, got {short_repr(config)}")
    family = f"{source}: part-parser"
    a = bind_config(PartParser, config, family)
    for name, least in (("part_names", 2), ("attribute_names", 0)):
        names = a[name]
        if not isinstance(names, (list, tuple)) or len(names) < least or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{family} config: {name} must be a list of at least {least} strings, got {short_repr(names)}")
    channels = a["channels"]
    if not isinstance(channels, (list, tuple)) or not 2 <= len(channels) <= _MAX_LEVELS:
        raise ValueError(
            f"{family} config: channels must list 2-{_MAX_LEVELS} ints (full resolution first), got {short_repr(channels)}"
        )
    for c in channels:
        config_int(c, "each of channels", family, 1)
    config_int(a["in_channels"], "in_channels", family, 1)
    if a["world"] is not None and not isinstance(a["world"], str):
        raise ValueError(f"{family} config: world must be a name or null, got {short_repr(a['world'])}")

    def conv_bn(c_in: int, c_out: int) -> int:  # 3×3 conv without bias; BN weight, bias, mean, var, count
        return c_out * c_in * 9 + 4 * c_out + 1

    parts, attrs, d = len(a["part_names"]), len(a["attribute_names"]), channels[-1]
    total = conv_bn(a["in_channels"], channels[0]) + conv_bn(channels[0], channels[0])
    for c_a, c_b in zip(channels[:-1], channels[1:]):
        total += conv_bn(c_a, c_b) + conv_bn(c_b, c_b)  # down: strided conv, conv
        total += conv_bn(c_b + c_a, c_a) + conv_bn(c_a, c_a)  # up: fuse with the skip, conv
    total += parts * channels[0] + parts  # segmentation head (1×1 conv with bias)
    total += (4 * d + 1) + (d * d + d) + (attrs * d + attrs) + 2 * attrs  # attribute head; mean, std
    declared = f"{parts} parts, {attrs} attributes, channels {short_repr(list(channels))}"
    try:
        return check_cost("part-parser", ModelCost(total, 0, declared))
    except LimitError as e:
        raise LimitError(f"{source}: {e}") from None


def load_parser(name_or_path: str | Path = "parser-faces-64", device: torch.device | str = "cpu") -> PartParser:
    """Load a parser saved by :func:`save_parser` (float32, eval mode) by shipped name or directory.

    As for generators, each check comes before the next allocation: config.json (bounded JSON, every
    field, the parameter budget), the safetensors header (byte ranges against the file; names and shapes
    against the parser), then the weights. Every failure is a one-line ValueError (or FileNotFoundError).
    """
    directory = _resolve(name_or_path)
    path = directory / CONFIG_FILE
    meta = read_json_file(path, ValueError, "config.json")
    meta = check_format(meta, path, FORMAT_NAME, FORMAT_VERSION, "config", ValueError)
    if meta.get("model_type") != MODEL_TYPE:
        raise ValueError(
            f"{path}: model_type is {short_repr(meta.get('model_type'))}, not {MODEL_TYPE!r}; "
            "generators load with regiongan.checkpoints, parsers with load_parser"
        )
    parser_config_cost(meta.get("config"), str(path))
    try:
        parser = PartParser(**meta["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: config does not fit PartParser: {e}") from e
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise FileNotFoundError(f"{directory}: {WEIGHTS_FILE} is missing next to config.json")
    check_regular_file(weights, "safetensors file")
    expected = parser.state_dict()
    check_state_dict(expected, header_shapes(read_safetensors_header(weights, ValueError)), str(weights))
    state, _ = read_safetensors(weights, ValueError)
    check_state_dict(expected, state, str(weights))
    parser.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return parser.to(device).eval()
