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
import re
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from .worlds import World, get_world
from .worlds.base import check_nonnegative, check_positive
from .worlds.color import hsv_to_rgb

__all__ = ["export_world", "preview_grid", "colorize_labels", "LABEL_PALETTE"]


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

_EXPORT_NAMES = re.compile(r"^\d{6}\.png$")


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

    Refuses a non-empty ``out_dir`` unless ``overwrite=True``; then only files this function writes
    (``images/NNNNNN.png``, ``labels/NNNNNN.png``, the ``.npy`` / ``.npz`` / ``world.json`` files) are
    replaced or removed, so a stale larger export cannot leak into the new one. Returns ``out_dir``.
    """
    world = _resolve(world)
    count = check_positive("count", count)
    size = check_positive("size", size)
    seed = check_nonnegative("seed", seed)
    start = check_nonnegative("start", start)
    batch = check_positive("batch", batch)
    if fmt not in ("folder", "npz"):
        raise ValueError(f"fmt must be 'folder' or 'npz', got {fmt!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} is a file")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"out_dir {out} is not empty; choose an empty folder or pass overwrite=True (CLI: --overwrite)")
        _remove_previous_export(out)
    out.mkdir(parents=True, exist_ok=True)

    meta = {
        "world": world.name, "part_names": list(world.part_names), "attribute_names": list(world.attribute_names),
        "class_names": list(world.class_names), "seed": seed, "start": start, "count": count, "size": size,
        "format": fmt,
    }
    attributes, class_ids, images_all, labels_all = [], [], [], []
    if fmt == "folder":
        (out / "images").mkdir(exist_ok=True)
        (out / "labels").mkdir(exist_ok=True)
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
    return out


def _remove_previous_export(out: Path) -> None:
    for sub in ("images", "labels"):
        folder = out / sub
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and _EXPORT_NAMES.match(p.name):
                    p.unlink()
    for name in ("attributes.npy", "class_ids.npy", "world.npz", "world.json"):
        if (out / name).is_file():
            (out / name).unlink()


def preview_grid(
    world: World | str, seed: int = 0, count: int = 16, size: int = 64, columns: int = 4, start: int = 0,
    scale: int = 1,
) -> Image.Image:
    """A grid of ``count`` samples, each image followed by its colourised label map.

    ``columns`` (image, labels) pairs per row, 2 pixels of white between cells; ``scale`` enlarges the
    result with nearest-neighbour (for looking at 64x64 pixels). Returns an RGB ``PIL.Image``.
    """
    world = _resolve(world)
    count = check_positive("count", count)
    size = check_positive("size", size)
    columns = check_positive("columns", columns)
    scale = check_positive("scale", scale)
    images, labels, _, _ = world.sample_batch(seed, start, count, size)
    colored = colorize_labels(labels)
    rows = -(-count // columns)
    gap = 2
    cell_w = 2 * size + gap
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
