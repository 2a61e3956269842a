"""Our own checkpoint format: a directory with ``config.json`` and ``model.safetensors``.

``config.json`` holds the format version, the model type and its constructor arguments, so a checkpoint
always knows its own architecture. Weights are data (safetensors), never code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..generators import build_model, list_families
from .errors import CheckpointError, CorruptCheckpointError
from .files import (
    CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILE, check_format, check_overwrite, check_state_dict, read_json,
    read_safetensors, save_model_dir,
)  # fmt: skip

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_pretrained", "load_pretrained", "is_native_checkpoint", "model_from_state"]


def is_native_checkpoint(path: str | Path) -> bool:
    """A directory holding config.json + model.safetensors (or the safetensors file inside one)."""
    p = Path(path)
    if p.is_file() and p.suffix == ".safetensors":
        p = p.parent
    return p.is_dir() and (p / CONFIG_FILE).is_file()


def save_pretrained(
    model: nn.Module,
    directory: str | Path,
    dtype: torch.dtype = torch.float32,
    overwrite: bool = False,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``directory/config.json`` and ``directory/model.safetensors`` atomically.

    Refuses to replace an existing non-empty directory unless ``overwrite=True``; files are written to a
    temporary sibling directory first, so an interrupted save never leaves a half-written checkpoint.
    ``extra`` is stored under ``"extra"`` in config.json (training info, model card facts).
    """
    directory = Path(directory)
    model_type = getattr(model, "model_type", None)
    if model_type not in list_families() or not hasattr(model, "config"):
        raise TypeError(f"save_pretrained needs a regiongan model with .model_type and .config, got {type(model).__name__}")
    check_overwrite([directory], overwrite)
    return save_model_dir(model, directory, model_type, dtype, extra, replace_directory=True)


def read_config(directory: str | Path) -> dict[str, Any]:
    """Parse and validate ``config.json``."""
    path = Path(directory) / CONFIG_FILE
    meta = check_format(read_json(path, CorruptCheckpointError), path, FORMAT_NAME, FORMAT_VERSION, "config", CheckpointError)
    if meta.get("model_type") not in list_families():
        raise CheckpointError(f"{path}: unknown model_type {meta.get('model_type')!r}; known: {list_families()}")
    return meta


def model_from_state(model_type: str, config: dict[str, Any], state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Build a model from its config and load ``state`` strictly, explaining any mismatch."""
    try:
        model = build_model(model_type, config)
    except ValueError as e:
        raise CheckpointError(f"{source}: {e}") from e
    expected = model.state_dict()
    # FIR filter buffers follow from the config (resample_filter); formats that do not store them get ours.
    state = dict(state)
    for k in expected:
        if k.endswith("resample_filter") and k not in state:
            state[k] = expected[k]
    check_state_dict(expected, state, source, CheckpointError)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model


def load_pretrained(directory: str | Path) -> nn.Module:
    """Load a model saved by :func:`save_pretrained` (float32, eval mode)."""
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    meta = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{directory}: {WEIGHTS_FILE} is missing next to config.json")
    state, _ = read_safetensors(weights, CorruptCheckpointError)
    model = model_from_state(meta["model_type"], meta["config"], state, str(weights))
    model.companions = read_companions(meta, directory / CONFIG_FILE)  # type: ignore[attr-defined]
    return model


def read_companions(meta: dict[str, Any], path: Path) -> dict[str, str]:
    """The companion artefacts a model declares in config.json, e.g. ``{"parser": "parser-faces-64",
    "catalog": "catalog-faces-64"}``: the part parser that resolves ``part:`` regions on its images and the
    Editing-in-Style catalog used when none is given. Names of shipped artefacts or paths."""
    companions = meta.get("companions", {})
    if not isinstance(companions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in companions.items()
    ):
        raise CheckpointError(f"{path}: \"companions\" must map names to artefact names, got {companions!r}")
    unknown = sorted(set(companions) - {"parser", "catalog"})
    if unknown:
        raise CheckpointError(f"{path}: unknown companion(s) {unknown}; known: catalog, parser")
    return dict(companions)
