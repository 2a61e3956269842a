"""Reading masks and label maps from PNG files, PIL images and arrays (for :meth:`Region.from_image
<regiongan.regions.Region.from_image>` and :meth:`Region.from_labels <regiongan.regions.Region.from_labels>`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

from ..images import open_image

from .errors import RegionError

PathLike = Union[str, os.PathLike]
ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray]
LabelSource = Union[torch.Tensor, np.ndarray, str, os.PathLike]


def _open_image(source: ImageSource | PathLike, what: str) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    return open_image(source, what, RegionError)  # pixel cap checked before decoding


def _pil_to_mask(img: Image.Image) -> torch.Tensor:
    """PIL image -> ``[H, W]`` float32 in [0, 1] (see :meth:`Region.from_image` for the mode rules)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        arr = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
    elif mode == "RGB":
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    elif mode == "L":
        arr = np.asarray(img, dtype=np.float32) / 255.0
    elif mode == "1":
        arr = np.asarray(img, dtype=np.float32)
    elif mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img, dtype=np.float32) / 65535.0
    else:
        raise RegionError(
            f"cannot read a mask from a '{mode}' mode image; use a grayscale (L), RGB, RGBA or 16-bit PNG"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def _array_to_mask(arr: np.ndarray) -> torch.Tensor:
    """Array ``[H, W]`` / ``[H, W, 3]`` / ``[H, W, 4]`` -> ``[H, W]`` float32 (values checked later)."""
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        if arr.shape[2] == 4:
            arr = arr[..., 3]
        else:  # ITU-R 601 luma, as PIL's convert("L")
            arr = (arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114).astype(arr.dtype)
    if arr.ndim != 2:
        raise RegionError(
            f"mask array must be [H, W], [H, W, 3] (RGB) or [H, W, 4] (RGBA), got shape {list(arr.shape)}"
        )
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
    else:
        raise RegionError(
            f"mask array must be uint8 (0-255), uint16, bool or float in [0, 1], got dtype {arr.dtype}; "
            "for an integer label map use Region.from_labels"
        )
    return torch.from_numpy(np.ascontiguousarray(out))


#: Label ids are compared in int64, the dtype every label map is read into.
_LABEL_ID_RANGE = (-(2**63), 2**63 - 1)


def _check_classes(classes: int | Iterable[int]) -> list[int]:
    """The class ids of a label region: one int or a non-empty list of ints that fit in int64 (the
    label map's dtype; ``label:seg.png:99999999999999999999`` cannot match any pixel)."""
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        classes = [classes]
    if isinstance(classes, (str, bytes)):
        raise RegionError(f"classes must be an int or a list of ints, got {classes!r}")
    try:
        ids = list(classes)  # type: ignore[arg-type]
    except TypeError:
        raise RegionError(f"classes must be an int or an iterable of ints, got {classes!r}") from None
    if not ids:
        raise RegionError("classes is empty; give at least one class id, e.g. classes=3 or classes=[3, 4]")
    out = []
    for c in ids:
        if isinstance(c, torch.Tensor) and c.numel() == 1 and not c.is_floating_point():
            c = int(c)
        if not isinstance(c, (int, np.integer)) or isinstance(c, bool):
            raise RegionError(f"class ids must be ints, got {c!r} in {ids!r}")
        if not _LABEL_ID_RANGE[0] <= int(c) <= _LABEL_ID_RANGE[1]:
            raise RegionError(f"label class id {int(c)} does not fit in int64, the dtype of label maps; use the ids the map holds")
        out.append(int(c))
    return out


def _load_labels(labels: LabelSource) -> torch.Tensor:
    """Label map -> integer tensor ``[H, W]`` or ``[N, H, W]``."""
    if isinstance(labels, (str, os.PathLike)):
        img = _open_image(labels, "label image")
        if img.mode not in ("L", "P", "I", "1") and not img.mode.startswith("I;16"):
            raise RegionError(
                f"label image '{labels}' has mode '{img.mode}'; a label map must be a single-channel PNG "
                "(L, P palette indices, or 16-bit) whose pixel values are class ids. For a colour-coded "
                "map, convert colours to ids first"
            )
        arr = np.asarray(img)
        labels = torch.from_numpy(arr.astype(np.int64))
    elif isinstance(labels, np.ndarray):
        if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_):
            raise RegionError(
                f"label map must hold integer class ids, got dtype {labels.dtype}; convert with .astype(int)"
            )
        labels = torch.from_numpy(labels.astype(np.int64))
    elif isinstance(labels, torch.Tensor):
        if labels.is_floating_point() or labels.is_complex():
            raise RegionError(
                f"label map must hold integer class ids, got dtype {labels.dtype}; convert with .long() "
                "(or use Region.from_tensor for a soft mask)"
            )
        labels = labels.to(torch.int64)
    else:
        raise RegionError(
            f"labels must be a tensor, a numpy array or the path of a label PNG, got {type(labels).__name__}"
        )
    if labels.ndim not in (2, 3) or labels.numel() == 0:
        raise RegionError(
            f"label map must be [H, W] or [N, H, W], got shape {list(labels.shape)}; "
            "for a [N, 1, H, W] map use labels[:, 0]"
        )
    return labels
