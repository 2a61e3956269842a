"""Reading untrusted checkpoint files with bounded work and memory, before any weight is loaded.

Every loader goes through these checks first, so a small or strange file can neither hang regiongan nor
make it allocate what the file does not hold:

* :func:`check_regular_file`: the path is a regular file (a FIFO would block ``open`` forever, a device
  never ends) no larger than ``limit("checkpoint_bytes")``; checked with ``os.stat`` before opening.
* :func:`read_json_file`: a JSON file of at most ``limit("pickle_objects")`` bytes. Every JSON value takes
  at least one byte, so the file cannot build more objects than that; nesting too deep is corrupt.
* :func:`read_safetensors_header`: the 8-byte header length and the JSON header are read by hand and
  every entry's dtype, shape and byte range is checked against the bytes the file really holds, so a
  header declaring a 10^12-element tensor fails before safetensors maps anything.
* :func:`check_zip_archive`: a torch ``.pt`` zip may not inflate to more than it holds (a 1 MB deflated
  record can declare a 1 GB storage; torch itself never compresses its records).
* :func:`check_state_tensors`: what a ``.pt`` or pickle gave as a state dict is a flat dict of name ->
  plain dense tensor (no nested containers, strings or broadcast views larger than their data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..limits import LimitError, check_count, limit
from .errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError

__all__ = [
    "SAFETENSORS_DTYPES", "check_regular_file", "check_path_kind", "read_json_file", "read_safetensors_header", "header_shapes",
    "check_zip_archive", "check_state_tensors", "first_line", "torch_load", "TORCH_ZIP_MAGIC",
]  # fmt: skip

#: The first bytes of a zip archive (the torch.save format since torch 1.6).
TORCH_ZIP_MAGIC = b"PK\x03\x04"

#: safetensors dtype codes -> bytes per element (the codes torch's safetensors reader maps to torch dtypes).
SAFETENSORS_DTYPES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip

#: A broadcast view (stride 0) may address this many bytes more than its storage holds; beyond it, it is refused.
_VIEW_SLACK_BYTES = 1 << 20
#: A zip archive may inflate to twice its size plus this much (torch stores records uncompressed).
_ZIP_SLACK_BYTES = 16 << 20


def first_line(message: object) -> str:
    """The first non-empty line of ``str(message)`` (library errors sometimes span several lines)."""
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return type(message).__name__ if isinstance(message, BaseException) else ""


def check_regular_file(path: str | os.PathLike, what: str = "checkpoint") -> int:
    """The size in bytes of ``path`` after checking, without opening it, that it is a regular file no larger
    than ``limit("checkpoint_bytes")``. FileNotFoundError when it does not exist, :class:`CheckpointError`
    for a FIFO, socket or device, :class:`~regiongan.limits.LimitError` above the cap."""
    try:
        info = os.stat(path)  # follows symbolic links: what matters is what open() would read
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file or directory") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read this {what} ({e.strerror or e})") from None
    if stat.S_ISDIR(info.st_mode):
        raise CheckpointError(f"{path}: a directory, not a {what} file")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        raise CheckpointError(f"{path} is {kind}, not a regular file; give the path of a {what} file")
    check_count(info.st_size, "checkpoint_bytes", f"the size of {path} in bytes", minimum=0)
    return info.st_size


def check_path_kind(path: str | os.PathLike, what: str = "checkpoint") -> None:
    """Raise unless ``path`` is a regular file or a directory (``os.stat``, nothing opened)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file or directory") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read this {what} ({e.strerror or e})") from None
    if not stat.S_ISDIR(info.st_mode):
        check_regular_file(path, what)


def read_json_file(path: str | os.PathLike, error: type[Exception] = CorruptCheckpointError, what: str = "JSON file") -> Any:
    """Parse a JSON file of at most ``limit("pickle_objects")`` bytes; invalid or too deeply nested JSON
    raises ``error``, a larger file :class:`~regiongan.limits.LimitError`."""
    size = check_regular_file(path, what)
    cap = limit("pickle_objects")
    if size > cap:
        raise LimitError(
            f"{path} is {size} bytes, more than a {what} may hold (limit pickle_objects = {cap}: objects a JSON "
            f"file may build); raise it with REGIONGAN_MAX_PICKLE_OBJECTS={size} or `regiongan --limit "
            f"pickle_objects={size}`"
        )
    try:
        with open(path, "rb") as f:
            text = f.read(cap + 1).decode("utf-8")
        return json.loads(text)
    except RecursionError:
        raise error(f"{path}: not valid JSON (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, and ints beyond Python's digit limit
        raise error(f"{path}: not valid JSON ({first_line(e)})") from None


def read_safetensors_header(
    path: str | os.PathLike, error: type[Exception] = CorruptCheckpointError
) -> dict[str, dict[str, Any]]:
    """The tensor entries of a safetensors file's header, ``{name: {"dtype", "shape", "data_offsets"}}``,
    after checking every one against the bytes the file holds (nothing is mapped or loaded).

    The format: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON, then the data; each entry's
    ``data_offsets`` ``[begin, end]`` are relative to the start of the data and ``end - begin`` must be the
    tensor's ``prod(shape) · itemsize``.
    """
    size = check_regular_file(path, "safetensors file")
    bad = f"{path}: not a readable safetensors file, it looks truncated or corrupt"
    if size < 8:
        raise error(f"{bad} ({size} bytes, shorter than the 8-byte header length)")
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > size - 8:
            raise error(f"{bad} (the header declares {n} bytes, the file holds {size - 8} after the length)")
        cap = limit("pickle_objects")
        if n > cap:
            raise LimitError(
                f"{path}: the safetensors header is {n} bytes, above the limit of {cap} (pickle_objects: objects "
                f"a JSON header may build); raise it with REGIONGAN_MAX_PICKLE_OBJECTS={n}"
            )
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise error(f"{bad} (its header is nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise error(f"{bad} (its header is not JSON: {first_line(e)})") from None
    if not isinstance(header, dict):
        raise error(f"{bad} (its header is a JSON {type(header).__name__}, not an object)")
    data_bytes = size - 8 - n
    entries: dict[str, dict[str, Any]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if entry is not None and not (
                isinstance(entry, dict) and all(isinstance(v, str) for v in entry.values())
            ):
                raise error(f"{bad} (__metadata__ must map names to strings)")
            continue
        entries[name] = _check_entry(name, entry, data_bytes, bad, error)
    return entries


def _check_entry(name: str, entry: Any, data_bytes: int, bad: str, error: type[Exception]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise error(f"{bad} (entry {name!r} is a {type(entry).__name__}, not an object)")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES:
        raise error(f"{bad} (tensor {name!r} has dtype {dtype!r}; known: {', '.join(SAFETENSORS_DTYPES)})")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise error(f"{bad} (tensor {name!r} has shape {_short(shape)}, not a list of ints >= 0)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise error(f"{bad} (tensor {name!r} has data_offsets {_short(offsets)}, not [begin, end])")
    begin, end = offsets
    nbytes = math.prod(shape) * SAFETENSORS_DTYPES[dtype]
    if not 0 <= begin <= end:
        raise error(f"{bad} (tensor {name!r} has data_offsets [{begin}, {end}])")
    if end > data_bytes:
        raise error(
            f"{bad} (tensor {name!r} {dtype} {_short(shape)} declares bytes up to {end}, the file holds "
            f"{data_bytes} bytes of data)"
        )
    if end - begin != nbytes:
        raise error(
            f"{bad} (tensor {name!r} {dtype} {_short(shape)} needs {nbytes} bytes, its data_offsets give {end - begin})"
        )
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


def header_shapes(entries: Mapping[str, Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """Header entries as empty ``meta`` tensors of their shapes (no memory), for comparing names and shapes
    with a model's state dict before the data is read."""
    return {name: torch.empty(entry["shape"], device="meta") for name, entry in entries.items()}


def check_zip_archive(path: str | os.PathLike, size: int) -> None:
    """Raise unless the zip ``path`` (a torch ``.pt``) inflates to at most ``2 · size + 16 MiB`` bytes.

    torch stores its records uncompressed but reads deflated ones too, so a small archive could make it
    allocate gigabytes (a 1 MB record inflating to a 1 GB storage).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as e:
        raise CorruptCheckpointError(
            f"{path}: a zip archive that cannot be read, it looks truncated or corrupt ({first_line(e)})"
        ) from None
    # torch.save writes every record under one top-level folder, with the pickle at <folder>/data.pkl.
    folders = {info.filename.split("/", 1)[0] for info in infos}
    if len(folders) != 1 or not any(info.filename == f"{next(iter(folders))}/data.pkl" for info in infos):
        raise CorruptCheckpointError(f"{path}: a zip archive, but not a torch checkpoint (no <folder>/data.pkl inside)")
    inflated = sum(info.file_size for info in infos)
    if inflated > 2 * size + _ZIP_SLACK_BYTES:
        raise CorruptCheckpointError(
            f"{path}: the zip archive of {size} bytes inflates to {inflated} bytes; torch never compresses its "
            "checkpoints, so this file is damaged or built to exhaust memory"
        )


def torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` (plus ``argparse.Namespace``, which rosinality training
    checkpoints hold) after :func:`check_regular_file` and, for zip archives, :func:`check_zip_archive`.

    Whatever the file makes torch raise becomes one line: :class:`UnsafeCheckpointError` when it asks for a
    global beyond tensors and containers (nothing from it ran), else :class:`CorruptCheckpointError`.
    """
    size = check_regular_file(path, "torch checkpoint")
    with open(path, "rb") as f:
        is_zip = f.read(4) == TORCH_ZIP_MAGIC
    if is_zip:
        check_zip_archive(path, size)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise CorruptCheckpointError(
            f"{path}: reading this torch checkpoint ran out of memory; it declares more data than it holds"
        ) from None
    except Exception as e:  # noqa: BLE001  (whatever a damaged or hostile file makes torch raise, the file is at fault)
        msg = str(e)
        if "Unsupported global" in msg or "weights_only" in msg.lower():
            raise UnsafeCheckpointError(
                f"{path}: refusing to load: the file asks for Python objects beyond tensors and containers "
                f"(torch says: {first_line(msg) or type(e).__name__}). regiongan never runs code from a checkpoint."
            ) from e
        if is_zip and "data.pkl" in msg:
            raise CorruptCheckpointError(f"{path}: a zip archive, but not a torch checkpoint (it has no data.pkl)") from e
        raise CorruptCheckpointError(
            f"{path}: cannot read this torch checkpoint; it looks truncated or corrupt ({type(e).__name__}: {first_line(msg)})"
        ) from e


def check_state_tensors(obj: Any, source: str, what: str = "state dict") -> dict[str, torch.Tensor]:
    """``obj`` as a flat ``{name: tensor}`` dict of plain dense tensors, else a one-line :class:`CheckpointError`.

    Refused: a non-dict, names that are not strings, values that are not tensors (strings, numbers, nested
    dicts or lists), sparse / quantized / meta tensors, and broadcast views that address more memory than
    their storage holds (a stride-0 view of a few bytes can declare 10^9 elements, which the first copy
    would allocate).
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a {what} (parameter name -> tensor), got {type(obj).__name__}")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{source}: {what} key {_short(key)} is a {type(key).__name__}, not a name")
        if not isinstance(value, torch.Tensor):
            kind = type(value).__name__
            raise CheckpointError(f"{source}: {what} entry {key!r} is a {kind}, not a tensor")
        if value.layout != torch.strided or value.is_quantized or value.is_meta or value.is_nested:
            raise CheckpointError(f"{source}: {what} entry {key!r} is a {value.layout} tensor, not a dense one")
        dense = value.numel() * value.element_size()
        held = value.untyped_storage().nbytes()
        if dense > held + _VIEW_SLACK_BYTES:
            raise CheckpointError(
                f"{source}: {what} entry {key!r} declares shape {tuple(value.shape)} ({dense} bytes) over "
                f"{held} bytes of data (a broadcast view); a saved weight holds its data"
            )
        out[key] = value
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any, most: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= most else text[: most - 1] + "…"
