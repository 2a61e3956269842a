"""Training snapshots: the whole state of a run in one file, written atomically, read without running code.

A snapshot (``run_dir/snapshot-step00001234.pt``) is a dict of tensors and plain Python values — network
and optimiser state dicts, counters, the data cursor and every random state — saved with ``torch.save``
and read back with ``torch.load(weights_only=True)``. Files are written to a temporary name, fsynced and
renamed, so a crash leaves either the old or the new file, never half of one; :func:`load_latest_snapshot`
still falls back to the previous snapshot when the newest cannot be read (disk full, copied half-way).
"""

from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "SNAPSHOT_FORMAT",
    "SnapshotError",
    "SnapshotWarning",
    "atomic_torch_save",
    "snapshot_path",
    "list_snapshots",
    "load_latest_snapshot",
    "prune_snapshots",
    "capture_global_rng",
    "restore_global_rng",
]

SNAPSHOT_FORMAT = "regiongan-train-snapshot"
SNAPSHOT_VERSION = 1
_NAME = re.compile(r"^snapshot-step(\d{8,})\.pt$")
_REQUIRED = ("format", "version", "config", "step", "nimg", "G", "D", "G_ema", "G_opt", "D_opt", "rng")


class SnapshotError(RuntimeError):
    """No usable snapshot where one was needed."""


class SnapshotWarning(UserWarning):
    """A snapshot was skipped because it could not be read."""


def snapshot_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / f"snapshot-step{step:08d}.pt"


def list_snapshots(run_dir: str | Path) -> list[Path]:
    """Snapshot files in ``run_dir``, newest (highest step) first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    return [p for _, p in sorted(found, reverse=True)]


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary sibling, fsync, then ``os.replace`` (and fsync the folder)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some filesystems do not allow fsync on directories; the rename is still atomic
        pass
    return path


def _check(state: Any, path: Path) -> dict:
    if not isinstance(state, dict) or state.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{path} is not a regiongan training snapshot")
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise SnapshotError(f"{path} lacks {missing}")
    if state["version"] > SNAPSHOT_VERSION:
        raise SnapshotError(f"{path} has snapshot version {state['version']}; this regiongan reads up to {SNAPSHOT_VERSION}")
    return state


def load_latest_snapshot(run_dir: str | Path, warn: bool = True) -> tuple[dict, Path] | None:
    """The newest readable snapshot and its path; None when ``run_dir`` holds no snapshot files.

    Unreadable snapshots are skipped with a :class:`SnapshotWarning` naming the file. Raises
    :class:`SnapshotError` when snapshot files exist but none can be read.
    """
    paths = list_snapshots(run_dir)
    if not paths:
        return None
    failures = []
    for path in paths:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            return _check(state, path), path
        except Exception as e:  # noqa: BLE001 — any failure to read means: try the previous snapshot
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            failures.append(f"{path.name} ({reason})")
            if warn:
                older = "falling back to the previous snapshot" if path != paths[-1] else "no older snapshot left"
                warnings.warn(f"snapshot {path} is unreadable or corrupt ({reason}); {older}", SnapshotWarning, stacklevel=2)
    raise SnapshotError(
        f"none of the {len(paths)} snapshots in {run_dir} can be read: {'; '.join(failures)}. "
        "Delete them to start over, or restore a copy."
    )


def prune_snapshots(run_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest snapshots (and stale temporary files); returns what was deleted."""
    removed = list_snapshots(run_dir)[keep:]
    removed += [p for p in Path(run_dir).glob(".snapshot-step*.pt.tmp*")]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


# ------------------------------------------------------------------------------------ global random states


def capture_global_rng() -> dict[str, Any]:
    """Python, numpy and torch global random states as tensors and plain values (``weights_only``-safe).

    Training draws nothing from them (every draw takes an explicit generator); they are stored so that
    user code or a library that does use them resumes in the same state too.
    """
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {
            "name": np_name, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
            "has_gauss": int(np_has_gauss), "gauss": float(np_gauss),
        },  # fmt: skip
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_global_rng(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["name"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"], nps["gauss"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
