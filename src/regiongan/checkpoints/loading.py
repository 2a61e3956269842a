"""One entry point for every checkpoint: detect the format, load safely, return a regiongan model.

Formats: our own directory (config.json + model.safetensors), a shipped model name (``faces-64``),
NVIDIA network pickles (``.pkl``, restricted unpickler), rosinality ``.pt`` (weights_only),
``{'init_kwargs', 'state_dict'}`` dumps of an NVIDIA generator (the conformance fixtures' layout),
pytorch-pretrained-biggan's ``pytorch_model.bin`` + ``config.json`` (weights_only), and NVlabs/SPADE's
``latest_net_G.pth`` (+ ``latest_net_E.pth``) with ``opt.txt`` (weights_only; without opt.txt use
:func:`regiongan.checkpoints.spade.load_nvlabs_spade` with a preset) or ``{'opt', 'state_dict_G',
'state_dict_E'}`` dumps of them (the SPADE fixtures' layout).

Whatever the format, the file is checked before it is read (:mod:`.reading`: a regular file under the size
cap), and the architecture it declares is checked against the model budget before the model is built
(:func:`regiongan.generators.registry.check_config`). Every failure is one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..generators import list_families
from ..limits import LimitError, limit
from .biggan import biggan_files, convert_biggan_state, is_biggan_checkpoint, read_biggan_config
from .errors import CheckpointError, CorruptCheckpointError
from .native import is_native_checkpoint, load_pretrained, model_from_state
from .nvidia import config_from_nvidia_kwargs
from .nvidia_pickle import load_nvidia_generator, looks_like_nvidia_pickle
from .reading import TORCH_ZIP_MAGIC, check_path_kind, check_state_tensors, first_line, read_json_file, torch_load
from .rosinality import convert_rosinality_state, is_rosinality_state
from .spade import PRESETS as SPADE_PRESETS
from .spade import is_nvlabs_spade_checkpoint, is_spade_dump, load_nvlabs_spade, load_spade_dump, looks_like_spade_state

__all__ = ["load_model", "detect_format", "list_models", "shipped_model_dir", "FORMATS", "MODELS_DIR"]

FORMATS = ("regiongan", "nvidia-pkl", "nvidia-state", "rosinality", "pytorch-pretrained-biggan", "nvlabs-spade")
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def list_models() -> list[str]:
    """Names of the generators shipped inside the package (loadable with ``load_model(name)``)."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / "config.json").is_file() and _is_generator(p))


def _is_generator(directory: Path) -> bool:
    try:
        meta = read_json_file(directory / "config.json", CheckpointError, "config.json")
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("model_type") in list_families()


def shipped_model_dir(name: str) -> Path | None:
    p = MODELS_DIR / name
    return p if (p / "config.json").is_file() else None


def detect_format(path: str | Path) -> str:
    """Which of :data:`FORMATS` a path holds (without loading the weights where avoidable)."""
    return _detect(Path(path))[0]


def _detect(p: Path) -> tuple[str, Any]:
    """``(format, the loaded torch object or None)``: a ``.pt`` must be loaded to tell its kind, and is loaded once."""
    check_path_kind(p)  # a FIFO or device is refused before anything opens it
    if is_biggan_checkpoint(p):  # before the native check: both are directories with a config.json
        return "pytorch-pretrained-biggan", None
    if is_nvlabs_spade_checkpoint(p):  # latest_net_G.pth + opt.txt (a directory or the weights file)
        return "nvlabs-spade", None
    if is_native_checkpoint(p):
        return "regiongan", None
    if p.is_dir():
        raise CheckpointError(f"{p}: a directory without config.json is not a regiongan checkpoint")
    with open(p, "rb") as f:
        head = f.read(8)
    if len(head) == 0:
        raise CorruptCheckpointError(f"{p}: the file is empty")
    if head.startswith(TORCH_ZIP_MAGIC):
        obj = torch_load(p)
        return _classify_torch_object(obj, p), obj
    if head[:1] == b"\x80":
        if looks_like_nvidia_pickle(p):
            return "nvidia-pkl", None
        obj = torch_load(p)  # legacy (pre-zip) torch.save files also start with a pickle header
        return _classify_torch_object(obj, p), obj
    raise CheckpointError(
        f"{p}: not a checkpoint regiongan knows (expected a regiongan directory, an NVIDIA .pkl or a torch .pt; "
        f"the file starts with {head!r})"
    )


def _classify_torch_object(obj: Any, p: Path) -> str:
    if is_rosinality_state(obj):
        return "rosinality"
    if isinstance(obj, dict) and "state_dict" in obj and "init_kwargs" in obj:
        return "nvidia-state"
    if is_spade_dump(obj):  # {'opt', 'state_dict_G', 'state_dict_E'}: the SPADE fixtures' layout
        return "nvlabs-spade"
    if looks_like_spade_state(obj):
        raise CheckpointError(
            f"{p}: an NVlabs SPADE generator without opt.txt beside it: put its opt.txt there, or load it with "
            f"regiongan.checkpoints.spade.load_nvlabs_spade(path, preset=...) (presets: {', '.join(sorted(SPADE_PRESETS))})"
        )
    top = [repr(k)[:40] for k in list(obj)[:10]] if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(f"{p}: a torch file, but not a generator checkpoint regiongan knows (top level: {top})")


def _nvidia_state(obj: dict, p: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(init_kwargs, state_dict)`` of an ``{'init_kwargs', 'state_dict'}`` file, both checked."""
    kwargs = obj["init_kwargs"]
    if isinstance(kwargs, str):
        cap = limit("pickle_objects")
        if len(kwargs) > cap:
            raise LimitError(
                f"{p}: init_kwargs is a JSON text of {len(kwargs)} characters, above the limit of {cap} "
                f"(pickle_objects); raise it with REGIONGAN_MAX_PICKLE_OBJECTS={len(kwargs)}"
            )
        try:
            kwargs = json.loads(kwargs)
        except RecursionError:
            raise CheckpointError(f"{p}: init_kwargs is not valid JSON (nested too deeply)") from None
        except ValueError as e:
            raise CheckpointError(f"{p}: init_kwargs is not valid JSON ({first_line(e)})") from None
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{p}: init_kwargs must be a dict or its JSON text, got {type(kwargs).__name__}")
    return kwargs, check_state_tensors(obj["state_dict"], str(p))


def load_model(path_or_name: str | Path, device: str | torch.device = "cpu", network: str = "G_ema") -> nn.Module:
    """Load any supported checkpoint or shipped model name -> model in eval mode on ``device``.

    network: for NVIDIA pickles, which network to take (``G_ema`` by default, ``G`` also works).
    """
    name = str(path_or_name)
    p = Path(path_or_name)
    if not p.exists() and not p.is_symlink():
        shipped = shipped_model_dir(name) if "/" not in name and name not in ("", ".", "..") else None
        if shipped is None:
            avail = ", ".join(list_models()) or "none installed"
            raise CheckpointError(
                f"unknown model {name!r}: no such file or directory, and not a shipped model (shipped: {avail})"
            )
        p = shipped
    fmt, obj = _detect(p)
    if fmt == "regiongan":
        model = load_pretrained(p)
    elif fmt == "nvidia-pkl":
        class_name, kwargs, state = load_nvidia_generator(p, key=network, max_bytes=limit("checkpoint_bytes"))
        if class_name != "Generator":
            raise CheckpointError(f"{p}: network {network!r} is a {class_name}, not a Generator")
        model = model_from_state("stylegan2", config_from_nvidia_kwargs(kwargs, state, str(p)), state, str(p))
    elif fmt == "nvidia-state":
        kwargs, state = _nvidia_state(obj, p)
        model = model_from_state("stylegan2", config_from_nvidia_kwargs(kwargs, state, str(p)), state, str(p))
    elif fmt == "pytorch-pretrained-biggan":
        weights, config_file = biggan_files(p)
        config = read_biggan_config(config_file)  # validated and budget-checked before the weights are read
        state = convert_biggan_state(torch_load(weights), config, str(weights))
        model = model_from_state("biggan-deep", config, state, str(weights))
    elif fmt == "nvlabs-spade":
        model = load_nvlabs_spade(p) if obj is None else load_spade_dump(obj, str(p))
    else:
        config, state = convert_rosinality_state(obj, str(p))
        model = model_from_state("stylegan2", config, state, str(p))
    model.source = str(p)  # type: ignore[attr-defined]
    model.model_name = name  # type: ignore[attr-defined]  # what the user called it: recipes record this
    if not hasattr(model, "companions"):
        model.companions = {}  # type: ignore[attr-defined]
    return model.to(device).eval().requires_grad_(False)
