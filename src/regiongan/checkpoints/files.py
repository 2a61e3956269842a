"""File I/O shared by every regiongan file format: crash-safe writes, JSON and safetensors reads, checks.

Generators (:mod:`.native`), part parsers, catalogs, ReSeFa directions and edit recipes all write through
this module and read through :func:`read_json` / :func:`read_safetensors`, so every format refuses to
clobber, and reports a damaged or foreign file, the same way. Readers take the caller's exception type
(``error=``), so each format keeps raising its own.

Writing is crash-safe — a save killed at any instant (even by SIGKILL) never leaves something that loads
as an artefact it is not:

* :func:`atomic_write` puts files into a directory: each is written whole in a private temporary
  directory next to it, flushed to disk (fsync) and moved in with ``os.replace``, in the order given.
  A multi-file artefact written this way (a catalog, a recipe with its tensors) records the sha256 of its
  other files in the JSON that is moved in last, and checks them on load, so every interleaving of an
  interrupted save fails to load instead of mixing two versions.
* :func:`swap_directory` puts a whole folder in place as one unit (a model directory,
  :func:`save_model_dir`; a shipped model): it is built next to the old one and swapped in by one rename
  (Linux: an atomic exchange; elsewhere two renames, the old folder kept until the new one is in place).
  Files of the old folder that the artefact does not own (a model card) are carried over.

Temporaries are hidden (``.NAME.regiongan-…``) and hold their files one level down, so what a killed save
leaves behind is never listed or loaded as an artefact and never blocks a rerun. Only temporaries and
backups that the call itself created are ever removed.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from .. import __version__
from ..generators.registry import short_repr
from .reading import read_json_file, read_safetensors_header

#: A model directory (generator or part parser): ``config.json`` + ``model.safetensors``.
FORMAT_NAME = "regiongan"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: The files a model directory consists of; anything else in the folder (a model card) is the user's.
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE)
#: A model directory, as messages name it.
MODEL_DIR = f"regiongan model directory ({CONFIG_FILE} + {WEIGHTS_FILE})"

#: Writes one file at the path it is given.
Writer = Callable[[Path], None]

#: Largest ``config.json`` read to decide whether a folder is a model directory (a real one is a few KB).
_MAX_MARKER_BYTES = 1 << 20


# --------------------------------------------------------------------------------------------------
# Checks before writing


def check_overwrite(targets: Sequence[Path], overwrite: bool) -> None:
    """Raise :class:`FileExistsError` naming the ``targets`` that exist (a directory: if not empty), unless ``overwrite``."""
    if overwrite:
        return
    existing = [f"{t} exists" for t in targets if t.is_file() or t.is_symlink()]
    existing += [
        f"{t} exists and is not empty" for t in targets if t.is_dir() and not t.is_symlink() and any(t.iterdir())
    ]
    if existing:
        raise FileExistsError(f"{'; '.join(existing)}; pass overwrite=True (CLI: --overwrite) to replace")


def check_file_target(path: Path) -> None:
    """Refuse, whatever ``overwrite`` says, a file target that is a symbolic link or a directory."""
    if path.is_symlink():
        raise FileExistsError(
            f"{path} is a symbolic link; regiongan never writes through links: remove it or choose another name"
        )
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name or choose another name")


def check_folder(directory: Path, overwrite: bool, what: str, replaceable: Callable[[Path], bool]) -> None:
    """Raise unless the folder artefact ``what`` may be written at ``directory``.

    Allowed: a new path, an empty folder, and — with ``overwrite`` — a folder for which ``replaceable``
    holds (an earlier artefact of this kind). Never a symbolic link, a file, or the working directory (or a
    folder holding it).
    """
    directory = Path(directory)
    if directory.is_symlink():
        raise FileExistsError(
            f"{directory} is a symbolic link; regiongan never writes through links or replaces them: remove it or "
            "choose another folder"
        )
    if not directory.exists():
        return
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file, not a folder; choose another name for the {what}")
    if _holds_cwd(directory):
        raise FileExistsError(
            f"{directory} is the working directory (or holds it); run from elsewhere or choose another folder"
        )
    if not any(directory.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"{directory} exists and is not empty; pass overwrite=True (CLI: --overwrite) to replace the {what} in it "
            "(other files are kept), or choose another folder"
        )
    if not replaceable(directory):
        raise FileExistsError(
            f"{directory} is not empty and is not a {what}; overwrite replaces only an earlier {what} or an empty "
            "folder, never other files: choose another folder"
        )


def is_model_dir(directory: Path) -> bool:
    """A folder whose ``config.json`` says ``"format": "regiongan"`` (a model directory regiongan wrote)."""
    config = Path(directory) / CONFIG_FILE
    try:
        if not config.is_file() or config.stat().st_size > _MAX_MARKER_BYTES:
            return False
        meta = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT_NAME


def _holds_cwd(directory: Path) -> bool:
    try:
        cwd, d = Path.cwd().resolve(), directory.resolve()
    except OSError:
        return False
    return cwd == d or d in cwd.parents


# --------------------------------------------------------------------------------------------------
# Writing: files into a directory, or a whole directory


def fsync_path(path: Path) -> None:
    """Flush a file (errors raised) or a directory (best effort: not every file system can) to disk."""
    is_dir = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if is_dir else 0))
    except OSError:
        if is_dir:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not is_dir:
            raise
    finally:
        os.close(fd)


def _write_files(directory: Path, writers: Mapping[str, Writer]) -> None:
    """``writer(directory/name)`` for each item, each file then made readable (0644) and flushed."""
    for name, write in writers.items():
        path = directory / name
        write(path)
        os.chmod(path, 0o644)  # readable like any shipped file (safetensors and mkdtemp use private modes)
        fsync_path(path)


def atomic_write(directory: Path, writers: Mapping[str, Writer], replace_directory: bool = False) -> Path:
    """Write ``directory/name`` with ``writer(path)`` for every item, never leaving a half-written file.

    The files go to a private temporary directory inside ``directory`` first and are then moved in with
    ``os.replace``, one by one in the order given (put the file that commits the others — a JSON holding
    their digests — last). Other files in ``directory`` (a model card) are kept. A target that is a
    symbolic link or a directory is refused. ``replace_directory=True`` instead swaps in a new directory
    holding only these files (:func:`swap_directory`; nothing else survives).
    """
    directory = Path(directory)
    if replace_directory:
        return swap_directory(directory, lambda new: _write_files(new, writers))
    for name in writers:
        check_file_target(directory / name)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".regiongan-tmp-", dir=directory))
    try:
        _write_files(staging, writers)
        for name in writers:
            os.replace(staging / name, directory / name)
        fsync_path(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def swap_directory(
    directory: Path, build: Callable[[Path], None], owned: Callable[[str], bool] | None = None
) -> Path:
    """Put a new folder at ``directory`` as one unit: ``build(new)`` fills an empty folder next to it, which
    then replaces ``directory`` with one rename.

    owned: which files (paths relative to the folder, with ``/``) the artefact consists of. When given, the
    other files of the old folder (a model card) are carried into the new one (hard-linked, else copied);
    when None, nothing of the old folder survives. The old folder stays in place until the new one is (on
    Linux both are exchanged atomically) and is removed only then; if anything fails, it is untouched.
    """
    given, directory = Path(directory), Path(os.path.abspath(directory))
    if directory.is_symlink():
        raise FileExistsError(f"{directory} is a symbolic link; regiongan never writes through links or replaces them")
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} is a file, not a folder")
    if _holds_cwd(directory):
        raise FileExistsError(
            f"{directory} is the working directory (or holds it); run from elsewhere or choose another folder"
        )
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f".{directory.name}.regiongan-", dir=parent))
    new, old = holder / "new", holder / "old"
    try:
        new.mkdir()
        build(new)
        for path in sorted(new.rglob("*")):
            if not path.is_symlink():
                if path.is_file():
                    os.chmod(path, 0o644)  # readable like any shipped file (safetensors uses 0600)
                fsync_path(path)
        replacing = directory.is_dir()
        if replacing and owned is not None:
            _carry(directory, new, owned)
        os.chmod(new, stat.S_IMODE(directory.stat().st_mode) if replacing else 0o755)
        fsync_path(new)
        if not replacing:
            os.replace(new, directory)
        elif not _exchange(new, directory):  # now `new` holds the old folder
            os.replace(directory, old)  # kept until the new folder is in place
            try:
                os.replace(new, directory)
            except BaseException:
                os.replace(old, directory)
                raise
        fsync_path(parent)
    except BaseException:
        if not old.exists():  # never remove the old folder unless it was put back
            shutil.rmtree(holder, ignore_errors=True)
        raise
    shutil.rmtree(holder, ignore_errors=True)  # the old folder, moved aside by this call
    return given


def _carry(old: Path, new: Path, owned: Callable[[str], bool]) -> None:
    """Bring into ``new`` everything of ``old`` that the artefact does not own and the build did not write."""
    for root, dirs, files in os.walk(old):
        here = Path(root)
        for name in sorted(dirs) + sorted(files):
            src = here / name
            rel = src.relative_to(old).as_posix()
            dst = new / rel
            if dst.is_dir() and not dst.is_symlink() and name in dirs:
                continue  # the build made this folder too: look inside it
            if owned(rel) or dst.exists() or dst.is_symlink():
                if name in dirs:
                    dirs.remove(name)
                continue
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            elif src.is_dir():
                dst.mkdir()
            else:
                _link_or_copy(src, dst)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.lru_cache(maxsize=1)
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or file system cannot, so the caller falls back to two renames."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


# --------------------------------------------------------------------------------------------------
# Writers and model directories


def json_writer(data: Any, allow_nan: bool = False) -> Writer:
    """A :data:`Writer` of ``data`` as indented JSON."""
    text = json.dumps(data, indent=2, allow_nan=allow_nan) + "\n"  # fails here, before any file is written
    return lambda path: path.write_text(text)


def bytes_writer(data: bytes) -> Writer:
    """A :data:`Writer` of ``data`` as it is (e.g. safetensors bytes whose digest was taken)."""
    return lambda path: path.write_bytes(data)


def safetensors_writer(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Writer:
    """A :data:`Writer` of ``tensors`` (contiguous, CPU) as a safetensors file with string ``metadata``."""
    return bytes_writer(safetensors_bytes(dict(tensors), metadata=dict(metadata)))


def model_dir_writers(
    module: nn.Module, model_type: str, dtype: torch.dtype, extra: Mapping[str, Any] | None = None
) -> dict[str, Writer]:
    """The files of a model directory: ``model.safetensors`` (floats as ``dtype``) and ``config.json``
    (format, ``model_type``, the constructor arguments ``module.config``, ``extra`` if given)."""
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
    return {WEIGHTS_FILE: safetensors_writer(state, {"format": FORMAT_NAME}), CONFIG_FILE: json_writer(meta, allow_nan=True)}


def save_model_dir(
    module: nn.Module,
    directory: Path,
    model_type: str,
    dtype: torch.dtype,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a model directory (:func:`model_dir_writers`) as one unit (:func:`swap_directory`).

    ``directory`` must be new or an empty folder, or — with ``overwrite`` — an earlier model directory
    (:func:`is_model_dir`); then only its ``config.json`` and ``model.safetensors`` are replaced and its
    other files (a model card) are kept. A symbolic link is never followed or replaced.
    """
    directory = Path(directory)
    check_folder(directory, overwrite, MODEL_DIR, is_model_dir)
    writers = model_dir_writers(module, model_type, dtype, extra)
    return swap_directory(directory, lambda new: _write_files(new, writers), owned=MODEL_FILES.__contains__)


def read_json(path: Path, error: type[Exception]) -> Any:
    """Parse the JSON file ``path`` with the checks of :func:`.reading.read_json_file` (a regular file, size
    and nesting bounded); invalid JSON raises ``error``."""
    return read_json_file(path, error)


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
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{path}: {key} must be an int, got {short_repr(value)}")
    found = value
    if found > supported:
        raise error(
            f"{path}: {key} {found} is newer than this regiongan supports ({supported}); it was written by "
            f"regiongan {meta.get('regiongan_version', '?')} — upgrade regiongan"
        )


def read_safetensors(path: Path, error: type[Exception]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file (never a pickle); a damaged file raises ``error``. The
    header is checked against the file's bytes first (:func:`.reading.read_safetensors_header`), so a header
    declaring more data than the file holds fails before anything is mapped."""
    read_safetensors_header(path, error)
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
