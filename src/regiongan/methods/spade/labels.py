"""Label-map inputs of the SPADE operations: files, arrays, tensors and world samples -> class ids.

A label map is what SPADE paints from: integer class ids ``[N, H, W]`` (or a one-hot / soft map
``[N, label_nc, H, W]``, which the model takes as it is). :func:`load_labels` reads every form a user has:

* a tensor or numpy array of integer ids ``[H, W]`` or ``[N, H, W]`` (a float ``[N, label_nc, H, W]``
  tensor passes through as a one-hot / soft map);
* a PNG of ids (mode ``L``, ``P`` — the palette *indices* — or 16-bit ``I;16`` / ``I``), one pixel one id;
* an RGB(A) colour map (a PNG, or a ``[H, W, 3]`` uint8 array) together with a ``palette`` that says which
  colour is which class: ``[K, 3]`` colours (row k = class k) or a world's name, whose palette is
  :data:`regiongan.data.LABEL_PALETTE` (the colours ``regiongan data preview`` draws label maps with).
  Without a palette an RGB map is refused, never guessed;
* a ``.npy`` file of integer ids (read with ``allow_pickle=False``);
* the spec ``world:NAME:INDEX`` or ``world:NAME:SEED:INDEX``: sample INDEX of the world's stream SEED
  (default 0) rendered at the model's size, e.g. ``world:scenes:7``.

Range, size and aspect are checked against the model by :meth:`SPADEModel.label_input`. Recipes store
world specs as they are and everything read from a file as the tensor itself (:func:`resolve_labels`).

:func:`class_ids` turns class names into ids (the world's ``part_names``), :func:`label_preview` draws
a label map in the palette's colours for grids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

from ...data import LABEL_PALETTE
from ...data.worlds import get_world, list_worlds
from ...images import open_image
from ...limits import limit

__all__ = [
    "LabelsLike",
    "PaletteLike",
    "ClassNames",
    "WORLD_PREFIX",
    "load_labels",
    "resolve_labels",
    "world_labels",
    "world_image",
    "palette_colors",
    "class_names_of",
    "class_ids",
    "label_preview",
    "load_reference",
]

#: Labels as a user gives them: ids / one-hot tensors, arrays, a file path, or a ``world:`` spec.
LabelsLike = Union[torch.Tensor, np.ndarray, str, os.PathLike]
#: A palette: ``[K, 3]`` colours (0-255; row k = class k), or the name of a world (its label palette).
PaletteLike = Union[str, np.ndarray, torch.Tensor, Sequence[Sequence[int]], None]
#: Class names: a list (index = class id) or the name of a world (its ``part_names``).
ClassNames = Union[str, Sequence[str], None]

WORLD_PREFIX = "world:"
_NPY = ".npy"


# --------------------------------------------------------------------------------------------------
# Palettes and class names


def palette_colors(palette: PaletteLike) -> np.ndarray:
    """A palette -> ``[K, 3]`` uint8 (row k = the colour of class k). A world's name gives
    :data:`~regiongan.data.LABEL_PALETTE` for its ``part_names``; colours must be distinct."""
    if isinstance(palette, str):
        world = _world(palette, "palette")
        return np.asarray(LABEL_PALETTE[: len(world.part_names)])
    arr = palette.detach().cpu().numpy() if isinstance(palette, torch.Tensor) else np.asarray(palette)
    if arr.ndim != 2 or arr.shape[1] != 3 or not len(arr) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"palette must be [K, 3] colours (0-255, row k = class k) or a world name, got shape {arr.shape}")
    if np.any(arr < 0) or np.any(arr > 255) or np.any(arr != np.round(arr)):
        raise ValueError("palette colours must be integers in 0..255")
    arr = arr.astype(np.uint8)
    if len(np.unique(arr, axis=0)) != len(arr):
        raise ValueError("palette colours must be distinct (two classes share a colour, so a colour map is ambiguous)")
    return arr


def class_names_of(names: ClassNames) -> list[str] | None:
    """Class names (index = id) from a list or a world's name (its ``part_names``); None stays None."""
    if names is None:
        return None
    if isinstance(names, str):
        return list(_world(names, "class_names").part_names)
    out = list(names)
    if not all(isinstance(n, str) and n for n in out):
        raise ValueError(f"class_names must be non-empty strings (index = class id) or a world name, got {out!r:.80}")
    return out


def class_ids(value: int | str | Sequence[int | str], names: ClassNames, what: str = "class") -> list[int]:
    """Class ids of ``value`` (an id, a name, or a list of them; names looked up in ``names``)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    known = class_names_of(names)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"{what} must be a class id or name, got {item!r}")
        if isinstance(item, (int, np.integer)):
            if item < 0:
                raise ValueError(f"{what} must be a class id >= 0, got {item}")
            out.append(int(item))
        elif isinstance(item, str) and item.strip().isdigit():
            out.append(int(item))
        elif isinstance(item, str):
            if known is None:
                raise ValueError(
                    f"{what} {item!r} is a class name, which needs class names: pass class_names='scenes' (a world) "
                    "or a list, or give the class id"
                )
            if item not in known:
                raise ValueError(f"unknown class {item!r}; classes are {known}")
            out.append(known.index(item))
        else:
            raise ValueError(f"{what} must be a class id or name, got {type(item).__name__}")
    return out


def _world(name: str, what: str):
    try:
        return get_world(name)
    except (KeyError, ValueError):
        raise ValueError(f"{what}: unknown world {name!r}; worlds are {list_worlds()}") from None


# --------------------------------------------------------------------------------------------------
# Reading label maps


def _colour_to_ids(rgb: np.ndarray, palette: np.ndarray, source: str) -> np.ndarray:
    """RGB ``[..., H, W, 3]`` uint8 -> ids ``[..., H, W]`` int64 by exact palette colour."""
    key = rgb.astype(np.int64) @ np.array([65536, 256, 1])
    pal = palette.astype(np.int64) @ np.array([65536, 256, 1])
    order = np.argsort(pal)
    pos = np.searchsorted(pal[order], key).clip(0, len(pal) - 1)
    hit = pal[order][pos] == key
    if not hit.all():
        where = np.argwhere(~hit)[0]
        colour = tuple(int(c) for c in rgb[tuple(where)])
        raise ValueError(
            f"{source}: colour {colour} at pixel {tuple(int(i) for i in where[-2:])} (y, x) is not in the palette "
            f"({len(palette)} colours); repaint it with a palette colour or pass the right palette"
        )
    return order[pos]


def _rgb_error(source: str) -> ValueError:
    return ValueError(
        f"{source} is an RGB colour map; pass palette='scenes' (CLI: --palette scenes; the world's label colours) or "
        "palette=[[r, g, b], …] to turn colours into class ids, or give a PNG of class ids (mode L)"
    )


def _read_png(path: Path, palette: PaletteLike) -> np.ndarray:
    img = open_image(path, "label map")
    if img.mode in ("L", "P"):
        return np.asarray(img, dtype=np.int64)  # P: the palette indices are the ids
    if img.mode in ("I", "I;16", "I;16B", "I;16L"):
        return np.asarray(img).astype(np.int64)
    if img.mode in ("RGB", "RGBA"):
        if palette is None:
            raise _rgb_error(f"label map '{path}'")
        return _colour_to_ids(np.asarray(img.convert("RGB")), palette_colors(palette), f"label map '{path}'")
    raise ValueError(f"label map '{path}' has image mode {img.mode}; save class ids as a grayscale PNG (mode L) or a .npy")


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"label map file not found: '{path}'")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"label map '{path}' is not a plain .npy array ({' '.join(str(e).split())})") from None
    if arr.size > limit("image_pixels") * 64:
        raise ValueError(f"label map '{path}' holds {arr.size} values, too many for label maps")
    return arr


def _from_array(arr: np.ndarray, palette: PaletteLike, source: str) -> torch.Tensor:
    """An array of ids ``[H, W]`` / ``[N, H, W]`` (or a ``[..., H, W, 3]`` colour map with a palette) -> long."""
    if arr.dtype == np.uint8 and arr.ndim in (3, 4) and arr.shape[-1] in (3, 4):
        if palette is None:
            raise _rgb_error(source)
        return torch.from_numpy(_colour_to_ids(arr[..., :3], palette_colors(palette), source))
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{source} holds {arr.dtype} values; class ids must be integers (e.g. arr.astype(np.int64)), and soft maps "
            "are float tensors [N, label_nc, H, W]"
        )
    if arr.ndim not in (2, 3):
        raise ValueError(f"{source} must be class ids [H, W] or [N, H, W], got shape {arr.shape}")
    t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.int64))
    return t[None] if t.ndim == 2 else t


def world_labels(spec: str, size: tuple[int, int]) -> torch.Tensor:
    """``world:NAME:INDEX`` / ``world:NAME:SEED:INDEX`` -> the sample's labels ``[1, H, W]`` long at ``size``."""
    return _world_sample(spec, size)[1]


def world_image(spec: str, size: tuple[int, int]) -> torch.Tensor:
    """``world:NAME:INDEX`` / ``world:NAME:SEED:INDEX`` -> the sample's image ``[1, 3, H, W]`` in [-1, 1]."""
    return _world_sample(spec, size)[0]


def _world_sample(spec: str, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = spec[len(WORLD_PREFIX):].split(":")
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts[1:]):
        raise ValueError(f"{spec!r}: give world:NAME:INDEX or world:NAME:SEED:INDEX, e.g. world:scenes:7")
    world = _world(parts[0].strip(), spec)
    seed, index = (0, int(parts[1])) if len(parts) == 2 else (int(parts[1]), int(parts[2]))
    if size[0] != size[1]:
        raise ValueError(f"{spec!r}: worlds render square images, but this model makes {size[0]}×{size[1]} images")
    images, labels, _, _ = world.sample_batch(seed, index, 1, size[0])
    image = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return image, torch.from_numpy(labels.astype(np.int64))


def load_labels(value: LabelsLike, size: tuple[int, int] | None = None, palette: PaletteLike = None) -> torch.Tensor:
    """Any label-map form (module docstring) -> class ids ``[N, H, W]`` long, or a float ``[N, C, H, W]``
    one-hot / soft map passed through. ``size`` ``(H, W)``: the model's image size, needed by ``world:``
    specs. Validation against a model (range, size, aspect) is :meth:`SPADEModel.label_input`'s."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 4 and value.dtype == torch.uint8 and value.shape[-1] in (3, 4) and palette is not None:
            return _from_array(value.cpu().numpy(), palette, "the label tensor")
        if value.ndim == 2 and not value.is_floating_point():
            value = value[None]
        return value  # the model's validators name any other problem (float ids, RGB maps, range, size)
    if isinstance(value, np.ndarray):
        return _from_array(value, palette, "the label array")
    if isinstance(value, str) and value.startswith(WORLD_PREFIX):
        if size is None:
            raise ValueError(f"{value!r}: a world sample needs the model's image size")
        return world_labels(value, size)
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if path.suffix.lower() == _NPY:
            return _from_array(_read_npy(path), palette, f"label map '{path}'")
        if not path.exists():
            raise FileNotFoundError(f"label map file not found: '{path}'; give a PNG of class ids, a colour PNG with a palette, or a .npy")
        return _from_array(_read_png(path, palette), None, f"label map '{path}'")
    raise ValueError(
        f"labels must be class ids [N, H, W] (tensor or array), a one-hot map [N, label_nc, H, W], a PNG / .npy path "
        f"or 'world:NAME:INDEX', got {type(value).__name__}"
    )


def resolve_labels(G, value: LabelsLike, palette: PaletteLike = None) -> tuple[torch.Tensor, Any]:
    """``(labels, what a recipe stores)``: labels validated by ``G.label_input`` (``[N, H, W]`` ids or the
    one-hot map); a ``world:`` spec is stored as the spec, anything read from a file as the tensor."""
    labels = load_labels(value, (G.img_resolution, G.img_width), palette)
    G.label_input(labels)  # range, size, aspect, dtype: one-line errors
    record = value if isinstance(value, str) and value.startswith(WORLD_PREFIX) else labels
    return labels, record


def load_reference(G, value: torch.Tensor | str | os.PathLike) -> tuple[torch.Tensor, Any]:
    """A style reference -> ``(image [N, 3, H, W] in [-1, 1], what a recipe stores)``: a tensor, an image file
    (RGB; stored as the tensor), or a ``world:`` spec (the sample's image; stored as the spec). The size is
    checked by :meth:`SPADEModel.encode` (it must be the model's image size)."""
    if isinstance(value, torch.Tensor):
        return value, value
    if isinstance(value, str) and value.startswith(WORLD_PREFIX):
        return world_image(value, (G.img_resolution, G.img_width)), value
    if isinstance(value, (str, os.PathLike)):
        img = open_image(value, "style reference").convert("RGB")
        t = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        return t, t
    raise ValueError(f"style must be an image tensor [N, 3, H, W] in [-1, 1], an image file or 'world:NAME:INDEX', got {type(value).__name__}")


# --------------------------------------------------------------------------------------------------
# Previews


def label_preview(labels: torch.Tensor, palette: PaletteLike = None) -> torch.Tensor:
    """Class ids ``[N, H, W]`` (or a one-hot / soft map ``[N, C, H, W]``, drawn by its argmax) -> RGB
    ``[N, 3, H, W]`` in [-1, 1] in the palette's colours (default :data:`~regiongan.data.LABEL_PALETTE`)."""
    ids = labels.argmax(dim=1) if labels.is_floating_point() else labels
    colours = torch.from_numpy(np.asarray(LABEL_PALETTE if palette is None else palette_colors(palette), np.float32))
    ids = ids.long().cpu().clamp(0, len(colours) - 1)
    return colours[ids].permute(0, 3, 1, 2) / 127.5 - 1.0
