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
from ..generators.registry import ModelCost, check_config, short_repr
from ..limits import LimitError
from .errors import CheckpointError, CorruptCheckpointError
from .files import (
    CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILE, check_format, check_state_dict,
    read_safetensors, save_model_dir,
)  # fmt: skip
from .reading import check_regular_file, check_state_tensors, first_line, header_shapes, read_json_file, read_safetensors_header

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
    """Write ``directory/config.json`` and ``directory/model.safetensors`` as one unit.

    ``directory`` must be new or an empty folder; ``overwrite=True`` also replaces an earlier regiongan
    model directory (never another folder, never a symbolic link), keeping its other files (a model card).
    The new folder is built next to the old one and swapped in by one rename, so an interrupted save leaves
    the complete old model (or none), never a mix. ``extra`` is stored under ``"extra"`` in config.json
    (training info, model card facts).
    """
    model_type = getattr(model, "model_type", None)
    if model_type not in list_families() or not hasattr(model, "config"):
        raise TypeError(f"save_pretrained needs a regiongan model with .model_type and .config, got {type(model).__name__}")
    return save_model_dir(model, Path(directory), model_type, dtype, extra, overwrite=overwrite)


def read_config(directory: str | Path) -> dict[str, Any]:
    """Parse and validate ``config.json`` (a bounded read: see :func:`.reading.read_json_file`)."""
    path = Path(directory) / CONFIG_FILE
    meta = read_json_file(path, CorruptCheckpointError, "config.json")
    meta = check_format(meta, path, FORMAT_NAME, FORMAT_VERSION, "config", CheckpointError)
    model_type = meta.get("model_type")
    if not isinstance(model_type, str) or model_type not in list_families():
        raise CheckpointError(f"{path}: unknown model_type {short_repr(model_type)}; known: {list_families()}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: \"config\" must be an object of constructor arguments, got {short_repr(meta.get('config'))}")
    return meta


def check_model_config(model_type: str, config: Any, source: str) -> ModelCost | None:
    """:func:`~regiongan.generators.registry.check_config` with ``source`` in front of its one-line message:
    a bad field is a :class:`CheckpointError`, a model above the budget a :class:`~regiongan.limits.LimitError`."""
    try:
        return check_config(model_type, config)
    except LimitError as e:
        raise LimitError(f"{source}: {e}") from None
    except ValueError as e:
        raise CheckpointError(f"{source}: {first_line(e)}") from None


#: Models up to this many numbers (64 MB in float32) are built even from a file that holds far fewer, so
#: that the strict comparison can list what differs; larger ones only from a file holding half of them.
_BUILD_FREELY = 1 << 24


def _check_weights_hold_the_model(cost: ModelCost | None, state: dict[str, torch.Tensor], source: str) -> None:
    """A file must hold at least half the numbers its config declares (the rest: buffers such as FIR
    filters that follow from the config), so a small file never makes regiongan build a large model."""
    held = sum(t.numel() for t in state.values())
    if cost is not None and cost.parameters > _BUILD_FREELY and 2 * held < cost.parameters:
        raise CheckpointError(
            f"{source}: the weights hold {held:,} numbers but the config declares a model of {cost.parameters:,}; "
            "was the weights file written for a different config.json?"
        )


def model_from_state(model_type: str, config: dict[str, Any], state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Build a model from its config and load ``state`` strictly, explaining any mismatch.

    The config is validated and budget-checked, and ``state`` checked to be a flat dict of dense tensors
    holding about as many numbers as the config declares, before the model is built.
    """
    cost = check_model_config(model_type, config, source)
    state = check_state_tensors(state, source)
    _check_weights_hold_the_model(cost, state, source)
    try:
        model = build_model(model_type, config)
    except LimitError:
        raise
    except ValueError as e:
        raise CheckpointError(f"{source}: {first_line(e)}") from e
    expected = model.state_dict()
    # FIR filter buffers follow from the config (resample_filter); formats that do not store them get ours.
    for k in expected:
        if k.endswith("resample_filter") and k not in state:
            state[k] = expected[k]
    check_state_dict(expected, state, source, CheckpointError)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{source}: the weights cannot be loaded into the model ({first_line(e)})") from e
    return model


def load_pretrained(directory: str | Path) -> nn.Module:
    """Load a model saved by :func:`save_pretrained` (float32, eval mode).

    Order of checks, each before the next allocation: config.json (bounded JSON, every field, the model
    budget), the safetensors header (offsets, dtypes and shapes against the file's size; tensor names and
    shapes against the model), then the weights.
    """
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    meta = read_config(directory)
    companions = read_companions(meta, directory / CONFIG_FILE)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{directory}: {WEIGHTS_FILE} is missing next to config.json")
    check_regular_file(weights, "safetensors file")
    config_path = str(directory / CONFIG_FILE)
    cost = check_model_config(meta["model_type"], meta["config"], config_path)
    shapes = header_shapes(read_safetensors_header(weights, CorruptCheckpointError))
    _check_weights_hold_the_model(cost, shapes, str(weights))
    state, _ = read_safetensors(weights, CorruptCheckpointError)
    model = model_from_state(meta["model_type"], meta["config"], state, str(weights))
    model.companions = companions  # type: ignore[attr-defined]
    names = read_class_names(meta, getattr(model, "c_dim", 0), directory / CONFIG_FILE)
    if names:
        model.class_names = names  # type: ignore[attr-defined]
    extra = meta.get("extra")
    data = extra.get("data") if isinstance(extra, dict) else None
    world = data.get("world") if isinstance(data, dict) else None
    if isinstance(world, str) and world:
        model.world = world  # type: ignore[attr-defined]  # the world whose images (or label maps) it was trained on
    return model


def read_class_names(meta: dict[str, Any], c_dim: int, path: Path) -> tuple[str, ...]:
    """The class names a conditional model was trained with (``extra.data.class_names``, written by
    ``regiongan train``), so classes can be given by name; ``()`` when there are none. A list that does not
    name every class once is refused."""
    extra = meta.get("extra")
    data = extra.get("data") if isinstance(extra, dict) else None
    names = data.get("class_names") if isinstance(data, dict) else None
    if names is None or not c_dim:
        return ()
    if not isinstance(names, list) or len(names) != c_dim or not all(isinstance(n, str) and n for n in names) or len(set(names)) != c_dim:
        raise CheckpointError(f"{path}: extra.data.class_names must name each of the {c_dim} classes once, got {short_repr(names)}")
    return tuple(names)


def read_companions(meta: dict[str, Any], path: Path) -> dict[str, str]:
    """The companion artefacts a model declares in config.json, e.g. ``{"parser": "parser-faces-64",
    "catalog": "catalog-faces-64"}``: the part parser that resolves ``part:`` regions on its images and the
    Editing-in-Style catalog used when none is given. Names of shipped artefacts or paths."""
    companions = meta.get("companions", {})
    if not isinstance(companions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in companions.items()
    ):
        raise CheckpointError(f"{path}: \"companions\" must map names to artefact names, got {short_repr(companions)}")
    unknown = sorted(set(companions) - {"parser", "catalog"})
    if unknown:
        raise CheckpointError(f"{path}: unknown companion(s) {unknown}; known: catalog, parser")
    return dict(companions)
