"""Our own checkpoint format: a directory with ``config.json`` and ``model.safetensors``.

``config.json`` holds the format version, the model type and its constructor arguments, so a checkpoint
always knows its own architecture. Weights are data (safetensors), never code.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..generators import MODEL_TYPES, build_model
from .errors import CheckpointError, CorruptCheckpointError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "save_pretrained", "load_pretrained", "is_native_checkpoint", "model_from_state"]

FORMAT_NAME = "regiongan"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


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
    if model_type not in MODEL_TYPES or not hasattr(model, "config"):
        raise TypeError(f"save_pretrained needs a regiongan model with .model_type and .config, got {type(model).__name__}")
    if directory.exists() and any(directory.iterdir()) and not overwrite:
        raise FileExistsError(f"{directory} exists and is not empty; pass overwrite=True to replace it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp", dir=directory.parent))
    try:
        state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model_type": model_type,
            "regiongan_version": __version__,
            "weights_dtype": str(dtype).replace("torch.", ""),
            "config": model.config,
        }
        if extra:
            meta["extra"] = extra
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        # mkdtemp creates a private (0700) directory; a saved model is an ordinary, shareable folder.
        os.chmod(tmp, 0o755)
        for f in (tmp / CONFIG_FILE, tmp / WEIGHTS_FILE):
            os.chmod(f, 0o644)
        if directory.exists():
            backup = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(directory, backup)
            os.replace(tmp, directory)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def read_config(directory: str | Path) -> dict[str, Any]:
    """Parse and validate ``config.json``."""
    path = Path(directory) / CONFIG_FILE
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CorruptCheckpointError(f"{path}: config.json is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a regiongan config (expected \"format\": \"{FORMAT_NAME}\")")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {meta['format_version']} is newer than this regiongan supports "
            f"({FORMAT_VERSION}); upgrade regiongan"
        )
    if meta.get("model_type") not in MODEL_TYPES:
        raise CheckpointError(f"{path}: unknown model_type {meta.get('model_type')!r}; known: {sorted(MODEL_TYPES)}")
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
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs config {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        lines = [f"{source}: the weights do not match the architecture in the config"]
        if missing:
            lines.append(f"  missing ({len(missing)}): {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {', '.join(unexpected[:6])}{' …' if len(unexpected) > 6 else ''}")
        if wrong:
            lines.append(f"  shape mismatch ({len(wrong)}): {'; '.join(wrong[:4])}{' …' if len(wrong) > 4 else ''}")
        lines.append("  Was the weights file written for a different config.json?")
        raise CheckpointError("\n".join(lines))
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
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise CorruptCheckpointError(f"{weights}: cannot read safetensors file, it looks truncated or corrupt ({e})") from e
    return model_from_state(meta["model_type"], meta["config"], state, str(weights))
