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
    CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILE, check_format, check_overwrite, check_state_dict, read_json,
    read_safetensors, save_model_dir,
)  # fmt: skip
from .model import PartParser

__all__ = ["MODELS_DIR", "list_parsers", "save_parser", "load_parser"]

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
    """Write ``directory/config.json`` and ``directory/model.safetensors`` (floats as ``dtype``) atomically.

    Refuses a non-empty ``directory`` unless ``overwrite=True``. Files are written to a temporary directory
    first, so an interrupted save never leaves a half-written parser. Other files already in the directory
    (a model card ``README.md``) are kept. ``extra`` (training facts) is stored under ``"extra"``.
    """
    if not isinstance(parser, PartParser):
        raise TypeError(f"save_parser needs a PartParser, got {type(parser).__name__}")
    directory = Path(directory)
    check_overwrite([directory], overwrite)
    return save_model_dir(parser, directory, MODEL_TYPE, dtype, extra)


def _resolve(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        path = path.parent
    if (path / CONFIG_FILE).is_file():
        return path
    if isinstance(name_or_path, str) and (MODELS_DIR / name_or_path / CONFIG_FILE).is_file():
        return MODELS_DIR / name_or_path
    shipped = list_parsers()
    raise FileNotFoundError(
        f"no parser at {str(name_or_path)!r}: expected a directory with {CONFIG_FILE} and {WEIGHTS_FILE}, "
        f"or a shipped parser name ({', '.join(shipped) if shipped else 'none shipped'}). "
        "Train one with: python -m regiongan.parser train --world faces --out DIR"
    )


def load_parser(name_or_path: str | Path = "parser-faces-64", device: torch.device | str = "cpu") -> PartParser:
    """Load a parser saved by :func:`save_parser` (float32, eval mode) by shipped name or directory."""
    directory = _resolve(name_or_path)
    path = directory / CONFIG_FILE
    meta = check_format(read_json(path, ValueError), path, FORMAT_NAME, FORMAT_VERSION, "config", ValueError)
    if meta.get("model_type") != MODEL_TYPE:
        raise ValueError(
            f"{path}: model_type is {meta.get('model_type')!r}, not {MODEL_TYPE!r}; "
            "generators load with regiongan.checkpoints, parsers with load_parser"
        )
    try:
        parser = PartParser(**meta["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: config does not fit PartParser: {e}") from e
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{directory}: {WEIGHTS_FILE} is missing next to config.json")
    state, _ = read_safetensors(weights, ValueError)
    expected = parser.state_dict()
    check_state_dict(expected, state, str(weights))
    parser.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return parser.to(device).eval()
