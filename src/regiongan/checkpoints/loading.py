"""One entry point for every checkpoint: detect the format, load safely, return a regiongan model.

Formats: our own directory (config.json + model.safetensors), a shipped model name (``faces-64``),
NVIDIA network pickles (``.pkl``, restricted unpickler), rosinality ``.pt`` (weights_only),
``{'init_kwargs', 'state_dict'}`` dumps of an NVIDIA generator (the conformance fixtures' layout), and
pytorch-pretrained-biggan's ``pytorch_model.bin`` + ``config.json`` (weights_only).
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..generators import list_families
from .biggan import biggan_files, convert_biggan_state, is_biggan_checkpoint, read_biggan_config
from .errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError
from .native import is_native_checkpoint, load_pretrained, model_from_state
from .nvidia import config_from_nvidia_kwargs
from .nvidia_pickle import load_nvidia_generator, looks_like_nvidia_pickle  # noqa: E402
from .rosinality import convert_rosinality_state, is_rosinality_state

__all__ = ["load_model", "detect_format", "list_models", "shipped_model_dir", "FORMATS", "MODELS_DIR"]

FORMATS = ("regiongan", "nvidia-pkl", "nvidia-state", "rosinality", "pytorch-pretrained-biggan")
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def list_models() -> list[str]:
    """Names of the generators shipped inside the package (loadable with ``load_model(name)``)."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "config.json").is_file() and _is_generator(p))


def _is_generator(directory: Path) -> bool:
    try:
        return json.loads((directory / "config.json").read_text()).get("model_type") in list_families()
    except (OSError, ValueError, AttributeError):
        return False


def shipped_model_dir(name: str) -> Path | None:
    p = MODELS_DIR / name
    return p if (p / "config.json").is_file() else None


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle_errors() as e:
        msg = str(e)
        if "Unsupported global" in msg or "weights_only" in msg.lower():
            raise UnsafeCheckpointError(
                f"{path}: refusing to load: the file asks for Python objects beyond tensors and containers "
                f"(torch says: {msg.splitlines()[0] if msg else e!r}). regiongan never runs code from a checkpoint."
            ) from e
        raise CorruptCheckpointError(f"{path}: cannot read this torch checkpoint; it looks truncated or corrupt ({e})") from e


def pickle_errors() -> tuple[type[BaseException], ...]:
    import pickle

    return (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, AttributeError, OSError)


def detect_format(path: str | Path) -> str:
    """Which of :data:`FORMATS` a path holds (without loading the weights where avoidable)."""
    p = Path(path)
    if is_biggan_checkpoint(p):  # before the native check: both are directories with a config.json
        return "pytorch-pretrained-biggan"
    if is_native_checkpoint(p):
        return "regiongan"
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.is_dir():
        raise CheckpointError(f"{p}: a directory without config.json is not a regiongan checkpoint")
    with open(p, "rb") as f:
        head = f.read(8)
    if len(head) == 0:
        raise CorruptCheckpointError(f"{p}: the file is empty")
    if head.startswith(b"PK\x03\x04"):
        obj = _torch_load(p)
        return _classify_torch_object(obj, p)
    if head[:1] == b"\x80":
        if looks_like_nvidia_pickle(p):
            return "nvidia-pkl"
        obj = _torch_load(p)  # legacy (pre-zip) torch.save files also start with a pickle header
        return _classify_torch_object(obj, p)
    raise CheckpointError(
        f"{p}: not a checkpoint regiongan knows (expected a regiongan directory, an NVIDIA .pkl or a torch .pt; "
        f"the file starts with {head!r})"
    )


def _classify_torch_object(obj: Any, p: Path) -> str:
    if is_rosinality_state(obj):
        return "rosinality"
    if isinstance(obj, dict) and "state_dict" in obj and "init_kwargs" in obj:
        return "nvidia-state"
    keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"{p}: a torch file, but not a generator checkpoint regiongan knows (top level: {keys})")


def load_model(path_or_name: str | Path, device: str | torch.device = "cpu", network: str = "G_ema") -> nn.Module:
    """Load any supported checkpoint or shipped model name -> model in eval mode on ``device``.

    network: for NVIDIA pickles, which network to take (``G_ema`` by default, ``G`` also works).
    """
    name = str(path_or_name)
    p = Path(path_or_name)
    if not p.exists():
        shipped = shipped_model_dir(name)
        if shipped is None:
            avail = ", ".join(list_models()) or "none installed"
            raise CheckpointError(
                f"unknown model {name!r}: no such file or directory, and not a shipped model (shipped: {avail})"
            )
        p = shipped
    fmt = detect_format(p)
    if fmt == "regiongan":
        model = load_pretrained(p)
    elif fmt == "nvidia-pkl":
        class_name, kwargs, state = load_nvidia_generator(p, key=network)
        if class_name != "Generator":
            raise CheckpointError(f"{p}: network {network!r} is a {class_name}, not a Generator")
        model = model_from_state("stylegan2", config_from_nvidia_kwargs(kwargs, state, str(p)), state, str(p))
    elif fmt == "nvidia-state":
        obj = _torch_load(p)
        kwargs = obj["init_kwargs"]
        kwargs = json.loads(kwargs) if isinstance(kwargs, str) else kwargs
        state = obj["state_dict"]
        model = model_from_state("stylegan2", config_from_nvidia_kwargs(kwargs, state, str(p)), state, str(p))
    elif fmt == "pytorch-pretrained-biggan":
        weights, config_file = biggan_files(p)
        config = read_biggan_config(config_file)
        state = convert_biggan_state(_torch_load(weights), config, str(weights))
        model = model_from_state("biggan-deep", config, state, str(weights))
    else:
        config, state = convert_rosinality_state(_torch_load(p), str(p))
        model = model_from_state("stylegan2", config, state, str(p))
    model.source = str(p)  # type: ignore[attr-defined]
    model.model_name = name  # type: ignore[attr-defined]  # what the user called it: recipes record this
    if not hasattr(model, "companions"):
        model.companions = {}  # type: ignore[attr-defined]
    return model.to(device).eval().requires_grad_(False)
