"""Saving and loading part parsers in the regiongan checkpoint format.

A parser directory holds ``config.json`` (``format: "regiongan"``, ``format_version: 1``,
``model_type: "part-parser"``, ``config``: the :class:`PartParser` constructor arguments, optional
``extra``) and ``model.safetensors`` -- the same layout as :mod:`regiongan.checkpoints.native`, written
here because parsers are not generators. Weights are data: safetensors only.

Shipped parsers live in ``regiongan/models/<name>/`` and are loaded by name (``load_parser("parser-faces-64")``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from .model import PartParser

__all__ = ["MODELS_DIR", "list_parsers", "save_parser", "load_parser"]

FORMAT_NAME = "regiongan"
FORMAT_VERSION = 1
MODEL_TYPE = PartParser.model_type
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
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

    Refuses a non-empty ``directory`` unless ``overwrite=True``. Files are written to a temporary sibling
    first, so an interrupted save never leaves a half-written parser. Other files already in the directory
    (a model card ``README.md``) are kept. ``extra`` (training facts) is stored under ``"extra"``.
    """
    if not isinstance(parser, PartParser):
        raise TypeError(f"save_parser needs a PartParser, got {type(parser).__name__}")
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} exists and is not empty; pass overwrite=True to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp", dir=directory.parent))
    try:
        state = {
            k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
            for k, v in parser.state_dict().items()
        }
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        meta: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model_type": MODEL_TYPE,
            "regiongan_version": __version__,
            "weights_dtype": str(dtype).replace("torch.", ""),
            "config": parser.config,
        }
        if extra:
            meta["extra"] = extra
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        # Each file is replaced atomically; a model card next to the weights survives re-training.
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            os.chmod(tmp / name, 0o644)  # readable like any shipped file (safetensors writes 0600)
            os.replace(tmp / name, directory / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


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
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: config.json is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a regiongan config (expected \"format\": \"{FORMAT_NAME}\")")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {meta['format_version']} is newer than this regiongan supports ({FORMAT_VERSION}); "
            "upgrade regiongan"
        )
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
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{weights}: cannot read safetensors file, it looks truncated or corrupt ({e})") from e
    expected = parser.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs config {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{weights}: the weights do not match the architecture in config.json; missing {missing[:4]}, "
            f"unexpected {unexpected[:4]}, shape mismatch {wrong[:4]}. Was the file written for a different config?"
        )
    parser.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return parser.to(device).eval()
