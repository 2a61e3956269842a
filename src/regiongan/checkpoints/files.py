"""File I/O shared by every regiongan file format: atomic writes, JSON and safetensors reads, checks.

Generators (:mod:`.native`), part parsers, catalogs, ReSeFa directions and edit recipes all write through
:func:`atomic_write` and read through :func:`read_json` / :func:`read_safetensors`, so every format refuses
to clobber, and reports a damaged or foreign file, the same way. Readers take the caller's exception type
(``error=``), so each format keeps raising its own.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .. import __version__

#: A model directory (generator or part parser): ``config.json`` + ``model.safetensors``.
FORMAT_NAME = "regiongan"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: Writes one file at the path it is given.
Writer = Callable[[Path], None]


def check_overwrite(targets: Sequence[Path], overwrite: bool) -> None:
    """Raise :class:`FileExistsError` naming the ``targets`` that exist (a directory: if not empty), unless ``overwrite``."""
    if overwrite:
        return
    existing = [f"{t} exists" for t in targets if t.is_file()]
    existing += [f"{t} exists and is not empty" for t in targets if t.is_dir() and any(t.iterdir())]
    if existing:
        raise FileExistsError(f"{'; '.join(existing)}; pass overwrite=True (CLI: --overwrite) to replace")


def atomic_write(directory: Path, writers: Mapping[str, Writer], replace_directory: bool = False) -> Path:
    """Write ``directory/name`` with ``writer(path)`` for every item, never leaving a half-written file.

    The files go to a temporary directory first and are then moved in with ``os.replace`` (mode 0644), one
    by one: other files in ``directory`` (a model card) are kept. ``replace_directory=True`` swaps the whole
    directory for the new one instead (nothing else survives).
    """
    directory = Path(directory)
    parent = directory.parent if replace_directory else directory
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp", dir=parent))
    try:
        for name, write in writers.items():
            write(tmp / name)
            os.chmod(tmp / name, 0o644)  # readable like any shipped file (safetensors writes 0600)
        if replace_directory:
            os.chmod(tmp, 0o755)  # mkdtemp makes a private (0700) directory
            backup = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            if directory.exists():
                os.replace(directory, backup)
            os.replace(tmp, directory)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            for name in writers:
                os.replace(tmp / name, directory / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def json_writer(data: Any, allow_nan: bool = False) -> Writer:
    """A :data:`Writer` of ``data`` as indented JSON."""
    return lambda path: path.write_text(json.dumps(data, indent=2, allow_nan=allow_nan) + "\n")


def safetensors_writer(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Writer:
    """A :data:`Writer` of ``tensors`` (contiguous, CPU) as a safetensors file with string ``metadata``."""
    return lambda path: save_file(dict(tensors), str(path), metadata=dict(metadata))


def save_model_dir(
    module: nn.Module,
    directory: Path,
    model_type: str,
    dtype: torch.dtype,
    extra: Mapping[str, Any] | None = None,
    replace_directory: bool = False,
) -> Path:
    """Write a model directory: ``model.safetensors`` (floats as ``dtype``) and ``config.json`` (format,
    ``model_type``, the constructor arguments ``module.config``, ``extra`` if given), via :func:`atomic_write`."""
    state = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous() for k, v in module.state_dict().items()}
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_type": model_type,
        "regiongan_version": __version__,
        "weights_dtype": str(dtype).replace("torch.", ""),
        "config": module.config,
    }
    if extra:
        meta["extra"] = extra
    writers = {WEIGHTS_FILE: safetensors_writer(state, {"format": FORMAT_NAME}), CONFIG_FILE: json_writer(meta, allow_nan=True)}
    return atomic_write(directory, writers, replace_directory)


def read_json(path: Path, error: type[Exception]) -> Any:
    """Parse the JSON file ``path``; invalid JSON raises ``error``."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not valid JSON ({e})") from None


def check_format(meta: Any, path: Path, fmt: str, version: int, what: str, error: type[Exception]) -> dict[str, Any]:
    """``meta`` if it is a dict with ``"format": fmt`` and a ``format_version`` we can read, else ``error``."""
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise error(f"{path}: not a regiongan {what} (expected \"format\": \"{fmt}\")")
    check_version(meta, path, version, error)
    return meta


def check_version(
    meta: Mapping[str, Any], path: Path, supported: int, error: type[Exception], key: str = "format_version"
) -> None:
    """Raise ``error`` if ``meta[key]`` (default 0) is not an int or is newer than ``supported``."""
    try:
        found = int(meta.get(key, 0))
    except (TypeError, ValueError):
        raise error(f"{path}: {key} must be an int, got {meta.get(key)!r}") from None
    if found > supported:
        raise error(
            f"{path}: {key} {found} is newer than this regiongan supports ({supported}); it was written by "
            f"regiongan {meta.get('regiongan_version', '?')} — upgrade regiongan"
        )


def read_safetensors(path: Path, error: type[Exception]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file (never a pickle); a damaged file raises ``error``."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise error(f"{path}: not a readable safetensors file, it looks truncated or corrupt ({e})") from None


def check_state_dict(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str, error: type[Exception] = ValueError
) -> None:
    """Raise ``error`` listing missing, unexpected and wrong-shape tensors unless ``state`` fits ``expected``."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs config {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or wrong):
        return
    lines = [f"{source}: the weights do not match the architecture in the config"]
    listed = (("missing", missing, ", ", 6), ("unexpected", unexpected, ", ", 6), ("shape mismatch", wrong, "; ", 4))
    for label, items, sep, most in listed:
        if items:
            lines.append(f"  {label} ({len(items)}): {sep.join(items[:most])}{' …' if len(items) > most else ''}")
    lines.append("  Was the weights file written for a different config.json?")
    raise error("\n".join(lines))
