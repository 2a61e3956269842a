"""``WorldDataset``: a world as a map-style ``torch.utils.data.Dataset``."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .base import World, check_nonnegative, check_positive, check_size
from .registry import get_world

__all__ = ["WorldDataset", "to_item"]


def to_item(image: np.ndarray, labels: np.ndarray | None, attributes: np.ndarray | None, class_id: int | None) -> dict:
    """One training item from numpy arrays.

    image ``[H, W, 3]`` uint8 -> ``image`` float32 ``[3, H, W]`` in [-1, 1]; labels ``[H, W]`` -> int64;
    attributes ``[A]`` -> float32; class_id -> int64 scalar tensor. Keys whose value is None are omitted.
    """
    item = {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)}
    if labels is not None:
        item["labels"] = torch.from_numpy(np.asarray(labels, np.int64))
    if attributes is not None:
        item["attributes"] = torch.from_numpy(np.asarray(attributes, np.float32))
    if class_id is not None:
        item["class_id"] = torch.tensor(int(class_id), dtype=torch.int64)
    return item


class WorldDataset(torch.utils.data.Dataset):
    """Samples ``0 .. length-1`` of a world's stream ``seed``, rendered at ``size x size``.

    Items are dicts: ``image`` float32 ``[3, H, W]`` in [-1, 1], ``labels`` int64 ``[H, W]``,
    ``attributes`` float32 ``[A]``, ``class_id`` int64 scalar. Item ``i`` equals ``world.sample(seed, i)``.
    ``__getitems__`` renders a whole (possibly shuffled) batch at once, which ``DataLoader`` uses.
    """

    def __init__(self, world: World | str, size: int = 64, seed: int = 0, length: int = 100_000):
        if isinstance(world, str):
            world = get_world(world)
        if not isinstance(world, World):
            raise TypeError(f"world must be a World or a world name, got {type(world).__name__}")
        self.world = world
        self.size = check_size(size)
        self.seed = check_nonnegative("seed", seed)
        self.length = check_positive("length", length)

    def __len__(self) -> int:
        return self.length

    def _check_index(self, index: int) -> int:
        i = int(index)
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(f"index {index} out of range for WorldDataset of length {self.length}")
        return i

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        idx = [self._check_index(i) for i in indices]
        images, labels, attributes, class_ids = self.world.sample_indices(self.seed, idx, self.size)
        return [to_item(images[k], labels[k], attributes[k], class_ids[k]) for k in range(len(idx))]

    def __repr__(self) -> str:
        return f"WorldDataset(world={self.world.name!r}, size={self.size}, seed={self.seed}, length={self.length})"
