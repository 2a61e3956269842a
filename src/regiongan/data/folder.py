"""``ImageFolderDataset``: train on a folder of square images (optionally with part-label PNGs).

Layouts understood (the second is what :func:`regiongan.data.export.export_world` writes):

* ``root/*.png|jpg|...`` — images only; items have no ``labels``.
* ``root/images/*`` with ``root/labels/<same stem>.png`` — label PNGs hold part ids (mode ``L``).
  ``root/attributes.npy`` ``[N, A]`` and ``root/class_ids.npy`` ``[N]`` are used when present and their
  length matches the number of images (rows follow the sorted file names).

Validation happens once, up front, by reading image headers. The folder is never modified: a bad file is
reported, not moved or deleted.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..images import open_image
from ..limits import LimitError

from .worlds.dataset import to_item

__all__ = ["ImageFolderDataset", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
_SHOW = 5  # how many example file names an error lists


def _examples(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f", ... ({len(names) - _SHOW} more)" if len(names) > _SHOW else "")


class ImageFolderDataset(torch.utils.data.Dataset):
    """Images (and optional labels) from ``root``.

    root: a folder (see the module docstring for layouts); size: if given, every image is resized to
    ``size x size`` (bilinear; labels nearest) and images may have any square size; if None, all images
    must share one square size. Items: ``image`` float32 ``[3, H, W]`` in [-1, 1], plus ``labels`` int64
    ``[H, W]``, ``attributes`` float32 ``[A]`` and ``class_id`` int64 when the folder provides them.
    """

    def __init__(self, root: str | Path, size: int | None = None):
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is a file; ImageFolderDataset expects a folder of images")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise ValueError(f"size must be a positive int or None, got {size!r}")
        self.size = size

        image_dir = self.root / "images" if (self.root / "images").is_dir() else self.root
        label_dir = self.root / "labels" if image_dir != self.root and (self.root / "labels").is_dir() else None
        self.files = self._scan_images(image_dir)
        self.resolution = self._check_sizes(self.files, size)
        self.label_files = self._match_labels(label_dir) if label_dir is not None else None
        self.attributes = self._optional_array("attributes.npy", np.float32)
        self.class_ids = self._optional_array("class_ids.npy", np.int64)

    # -- validation -----------------------------------------------------------------------------------------
    @staticmethod
    def _scan_images(folder: Path) -> list[Path]:
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not entries:
            raise ValueError(
                f"no image files found in {folder}; put square images ({', '.join(IMAGE_EXTENSIONS)}) there, "
                "or an images/ folder with labels/ next to it"
            )
        not_images = []
        for p in entries:
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                not_images.append(p.name)
                continue
            try:
                open_image(p, "image", load=False).close()  # the header only; the pixel cap is checked
            except LimitError:
                raise
            except ValueError:
                not_images.append(p.name)
        if not_images:
            raise ValueError(
                f"{len(not_images)} of {len(entries)} files in {folder} are not readable images: "
                f"{_examples(not_images)}. Move them out of the folder (nothing was deleted)."
            )
        return entries

    @staticmethod
    def _check_sizes(files: list[Path], size: int | None) -> int:
        by_size: dict[tuple[int, int], list[str]] = defaultdict(list)
        for p in files:
            with open_image(p, "image", load=False) as im:
                by_size[im.size].append(p.name)
        non_square = {wh: names for wh, names in by_size.items() if wh[0] != wh[1]}
        if non_square:
            desc = "; ".join(f"{w}x{h}: {_examples(n)}" for (w, h), n in sorted(non_square.items()))
            raise ValueError(f"images must be square, found non-square ones ({desc}); crop them first")
        if size is not None:
            return size
        if len(by_size) > 1:
            desc = "; ".join(f"{w}x{h} ({len(n)} files, e.g. {n[0]})" for (w, h), n in sorted(by_size.items()))
            raise ValueError(
                f"images in the folder have different sizes: {desc}. Pass size=N to resize them all to NxN."
            )
        return next(iter(by_size))[0]

    def _match_labels(self, label_dir: Path) -> list[Path]:
        labels = {p.stem: p for p in label_dir.iterdir() if p.is_file() and p.suffix.lower() == ".png"}
        missing = [p.name for p in self.files if p.stem not in labels]
        if missing:
            raise ValueError(
                f"{label_dir} exists but has no label PNG for {len(missing)} images: {_examples(missing)}. "
                "Each images/<name>.* needs labels/<name>.png (or remove the labels/ folder)."
            )
        return [labels[p.stem] for p in self.files]

    def _optional_array(self, name: str, dtype: type) -> np.ndarray | None:
        path = self.root / name
        if not path.is_file():
            return None
        arr = np.load(path, allow_pickle=False).astype(dtype)
        if len(arr) != len(self.files):
            raise ValueError(f"{path} has {len(arr)} rows but the folder has {len(self.files)} images")
        return arr

    # -- Dataset --------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        n = self.resolution
        with open_image(self.files[i], "image") as im:
            im = im.convert("RGB")
            if im.size != (n, n):
                im = im.resize((n, n), Image.BILINEAR)
            image = np.asarray(im, np.uint8)
        labels = None
        if self.label_files is not None:
            with open_image(self.label_files[i], "label PNG") as lb:
                if lb.size != (n, n):
                    lb = lb.resize((n, n), Image.NEAREST)
                labels = np.asarray(lb, np.int64)
            if labels.ndim != 2:
                raise ValueError(f"label PNG {self.label_files[i]} must be single-channel (mode L), got {labels.shape}")
        attrs = None if self.attributes is None else self.attributes[i]
        cid = None if self.class_ids is None else int(self.class_ids[i])
        return to_item(image, labels, attrs, cid)

    def __repr__(self) -> str:
        return f"ImageFolderDataset(root={str(self.root)!r}, images={len(self)}, resolution={self.resolution})"
