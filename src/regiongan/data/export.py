"""Writing worlds to disk and looking at them.

``export_world`` writes a dataset that :class:`regiongan.data.folder.ImageFolderDataset` reads back:

* ``fmt="folder"``: ``images/000000.png`` (RGB), ``labels/000000.png`` (mode ``L``, pixel = part id),
  ``attributes.npy`` ``[N, A]`` float32, ``class_ids.npy`` ``[N]`` int64 and ``world.json``.
* ``fmt="npz"``: ``world.npz`` with ``images`` ``[N, H, W, 3]`` uint8, ``labels`` ``[N, H, W]`` uint8,
  ``attributes`` ``[N, A]`` float32, ``class_ids`` ``[N]`` int64, and ``world.json``.

``world.json`` records the world name, part / attribute / class names, seed, start, count and size.

``preview_grid`` shows each image next to its label map coloured with :data:`LABEL_PALETTE`, a fixed
palette indexed by label id: 0 is black, ids 1-15 are hand-picked, well separated colours (red, green,
blue, yellow, magenta, cyan, orange, purple, lime, pink, teal, brown, olive, navy, grey), and ids 16-255
are a fixed golden-ratio hue sweep. The same id always has the same colour, across worlds and runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from ..limits import LimitError, check_count, env_name, limit
from ..validate import scale as check_scale
from .worlds import World, get_world
from .worlds.base import check_nonnegative, check_positive, check_size
from .worlds.color import hsv_to_rgb

__all__ = ["export_world", "is_export_dir", "export_owns", "check_export_dir", "preview_grid", "colorize_labels", "LABEL_PALETTE"]


def _make_palette() -> np.ndarray:
    head = [
        (0, 0, 0), (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (240, 50, 230), (70, 240, 240),
        (245, 130, 48), (145, 30, 180), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40),
        (128, 128, 0), (0, 0, 128), (128, 128, 128),
    ]
    k = np.arange(256 - len(head))
    tail = np.round(hsv_to_rgb((k * 0.618034) % 1.0, 0.55 + 0.4 * (k % 3) / 2, 0.95 - 0.3 * (k % 2)) * 255)
    return np.concatenate([np.asarray(head, np.float64), tail]).astype(np.uint8)


LABEL_PALETTE: np.ndarray = _make_palette()
LABEL_PALETTE.setflags(write=False)
"""``[256, 3]`` uint8 colour per label id (see the module docstring)."""

#: What an export writes (and, on overwrite, replaces): everything else in its folder is kept.
_EXPORT_FILES = frozenset({"attributes.npy", "class_ids.npy", "world.npz", "world.json"})
_EXPORT_IMAGES = re.compile(r"(images|labels)/\d{6}\.png")


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Label ids ``[..., H, W]`` (0-255) -> RGB ``[..., H, W, 3]`` uint8 using :data:`LABEL_PALETTE`."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError(f"label ids must be in 0..255, got range {labels.min()}..{labels.max()}")
    return LABEL_PALETTE[labels.astype(np.int64)]


def _resolve(world: World | str) -> World:
    return get_world(world) if isinstance(world, str) else world


def export_world(
    world: World | str,
    out_dir: str | Path,
    count: int,
    size: int = 64,
    seed: int = 0,
    fmt: Literal["folder", "npz"] = "folder",
    overwrite: bool = False,
    start: int = 0,
    batch: int = 256,
) -> Path:
    """Render samples ``start .. start+count-1`` of ``world`` (stream ``seed``) into ``out_dir``.

    ``out_dir`` must be new or empty; ``overwrite=True`` also replaces an earlier export (a folder with this
    function's ``world.json``), never another folder or a symbolic link. The export is rendered into a
    hidden folder next to ``out_dir`` and moved into place at the end, so a failed or interrupted export
    leaves the earlier folder as it was. On overwrite only the files an export writes
    (``images/NNNNNN.png``, ``labels/NNNNNN.png``, the ``.npy`` / ``.npz`` / ``world.json`` files) are
    replaced or dropped, so a stale larger export cannot leak into the new one; other files are kept.
    Returns ``out_dir``.
    """
    world = _resolve(world)
    count = check_count(check_positive("count", count), "images", "count (samples to export)")
    size = check_size(size)
    seed = check_nonnegative("seed", seed)
    start = check_nonnegative("start", start)
    batch = check_positive("batch", batch)
    if fmt not in ("folder", "npz"):
        raise ValueError(f"fmt must be 'folder' or 'npz', got {fmt!r}")
    out = Path(out_dir)
    check_export_dir(out, overwrite)
    _replace_folder(out, lambda new: _write_export(world, new, count, size, seed, fmt, start, batch))
    return out


def is_export_dir(path: Path) -> bool:
    """A folder holding the ``world.json`` of an earlier :func:`export_world`."""
    meta_path = Path(path) / "world.json"
    try:
        if not meta_path.is_file() or meta_path.stat().st_size > (1 << 20):
            return False
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("world"), str) and meta.get("format") in ("folder", "npz")


def export_owns(relative: str) -> bool:
    """Whether ``relative`` (a path inside an export folder, with ``/``) is a file an export writes."""
    return relative in _EXPORT_FILES or _EXPORT_IMAGES.fullmatch(relative) is not None


def check_export_dir(out: Path, overwrite: bool) -> None:
    """Refuse ``out`` unless an export may be written there (see :func:`export_world`)."""
    if out.is_symlink():
        raise FileExistsError(f"out_dir {out} is a symbolic link; regiongan never writes through links: choose another folder")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} is a file")
    if out.is_dir() and (Path.cwd().resolve() == out.resolve() or out.resolve() in Path.cwd().resolve().parents):
        raise FileExistsError(f"out_dir {out} is the working directory (or holds it); choose a folder below it")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"out_dir {out} is not empty; choose an empty folder or pass overwrite=True (CLI: --overwrite)")
        if not is_export_dir(out):
            raise FileExistsError(
                f"out_dir {out} is not empty and holds no earlier export (world.json); overwrite replaces only an "
                "earlier export, never other files: choose an empty folder"
            )


def _write_export(world: World, out: Path, count: int, size: int, seed: int, fmt: str, start: int, batch: int) -> None:
    """Render the export into the empty folder ``out``."""
    meta = {
        "world": world.name, "part_names": list(world.part_names), "attribute_names": list(world.attribute_names),
        "class_names": list(world.class_names), "seed": seed, "start": start, "count": count, "size": size,
        "format": fmt,
    }
    attributes, class_ids, images_all, labels_all = [], [], [], []
    if fmt == "folder":
        (out / "images").mkdir()
        (out / "labels").mkdir()
    for lo in range(0, count, batch):
        n = min(batch, count - lo)
        images, labels, attrs, cids = world.sample_batch(seed, start + lo, n, size)
        attributes.append(attrs)
        class_ids.append(cids)
        if fmt == "folder":
            for k in range(n):
                name = f"{lo + k:06d}.png"
                Image.fromarray(images[k], "RGB").save(out / "images" / name)
                Image.fromarray(labels[k].astype(np.uint8), "L").save(out / "labels" / name)
        else:
            images_all.append(images)
            labels_all.append(labels.astype(np.uint8))
    if fmt == "folder":
        np.save(out / "attributes.npy", np.concatenate(attributes))
        np.save(out / "class_ids.npy", np.concatenate(class_ids))
    else:
        np.savez_compressed(
            out / "world.npz", images=np.concatenate(images_all), labels=np.concatenate(labels_all),
            attributes=np.concatenate(attributes), class_ids=np.concatenate(class_ids),
        )
    (out / "world.json").write_text(json.dumps(meta, indent=2))


def _replace_folder(out: Path, build: Callable[[Path], None]) -> None:
    """Build a new folder next to ``out`` and move it into place; on overwrite, the files of ``out`` that
    an export does not own are carried over and the old folder is removed only once the new one is in
    place. These are the steps of :func:`regiongan.checkpoints.files.swap_directory`, which the data layer
    sits below and cannot import."""
    target = Path(os.path.abspath(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f".{target.name}.regiongan-", dir=target.parent))
    new, old = holder / "new", holder / "old"
    try:
        new.mkdir()
        build(new)
        if target.is_dir():
            _carry_others(target, new)
            os.chmod(new, stat.S_IMODE(target.stat().st_mode))
            os.replace(target, old)
            try:
                os.replace(new, target)
            except BaseException:
                os.replace(old, target)
                raise
        else:
            os.chmod(new, 0o755)
            os.replace(new, target)
    except BaseException:
        if not old.exists():
            shutil.rmtree(holder, ignore_errors=True)
        raise
    shutil.rmtree(holder, ignore_errors=True)


def _carry_others(old: Path, new: Path) -> None:
    """Hard-link (else copy) into ``new`` the entries of ``old`` that are not an export's own files."""
    for root, dirs, files in os.walk(old):
        here = Path(root)
        for name in sorted(dirs) + sorted(files):
            src = here / name
            rel = src.relative_to(old)
            dst = new / rel
            real_dir = name in dirs and not src.is_symlink()
            if real_dir:
                dst.mkdir(exist_ok=True)  # an export folder (images/) exists already: look inside it
            elif not (export_owns(rel.as_posix()) or dst.exists() or dst.is_symlink()):
                if src.is_symlink():
                    os.symlink(os.readlink(src), dst)
                else:
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copy2(src, dst)


def preview_grid(
    world: World | str, seed: int = 0, count: int = 16, size: int = 64, columns: int = 4, start: int = 0,
    scale: int = 1,
) -> Image.Image:
    """A grid of ``count`` samples, each image followed by its colourised label map.

    ``columns`` (image, labels) pairs per row, 2 pixels of white between cells; ``scale`` enlarges the
    result with nearest-neighbour (for looking at 64x64 pixels). Returns an RGB ``PIL.Image``.
    """
    world = _resolve(world)
    count = check_count(check_positive("count", count), "images", "count (samples shown)")
    size = check_size(size)
    columns = check_positive("columns", columns)
    rows = -(-count // columns)
    gap = 2
    cell_w = 2 * size + gap
    width, height = columns * (cell_w + gap) + gap, rows * (size + gap) + gap
    cap = limit("preview_size")
    if max(width, height) > cap:  # checked before a single sample is drawn
        raise LimitError(
            f"{count} samples of {size}x{size} in {columns} columns make a {width}x{height} preview, above the limit "
            f"of {cap} pixels per side (preview_size); show fewer or smaller samples, or raise it with "
            f"{env_name('preview_size')}={max(width, height)}"
        )
    scale = check_scale(scale, max(width, height))
    images, labels, _, _ = world.sample_batch(seed, start, count, size)
    colored = colorize_labels(labels)
    canvas = np.full((rows * (size + gap) + gap, columns * (cell_w + gap) + gap, 3), 255, np.uint8)
    for i in range(count):
        r, c = divmod(i, columns)
        y = gap + r * (size + gap)
        x = gap + c * (cell_w + gap)
        canvas[y : y + size, x : x + size] = images[i]
        canvas[y : y + size, x + size + gap : x + 2 * size + gap] = colored[i]
    img = Image.fromarray(canvas, "RGB")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img
