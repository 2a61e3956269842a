"""Real images for training, addressed by a global index so a run can resume exactly.

``source.batch(start, count)`` returns real images ``start .. start+count-1`` of an endless stream: for a
world, sample ``i`` of stream ``data_seed`` (rendered a batch at a time, deterministic by index); for a
folder, the folder shuffled once per epoch by a seeded permutation. The only state is the cursor.
Worlds also give each image's label map (``batch_with_labels``), which label-map families (SPADE) train on;
folders have none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..data.folder import ImageFolderDataset
from ..data.worlds import World, get_world, list_worlds

__all__ = ["RealImages", "WorldImages", "FolderImages", "open_real_images"]


class RealImages(Protocol):
    resolution: int
    c_dim: int  # 0 when unconditional

    def batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images ``[count, 3, R, R]`` float32 in [-1, 1] and one-hot classes ``[count, c_dim]`` or None."""
        ...

    def batch_with_labels(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """As :meth:`batch`, plus the label maps ``[count, R, R]`` int64 (part ids); a ValueError when the
        source has none."""
        ...

    def describe(self) -> dict:
        """JSON facts for the model card."""
        ...


def _one_hot(class_ids: np.ndarray, c_dim: int) -> torch.Tensor:
    ids = torch.as_tensor(np.asarray(class_ids, np.int64))
    if ids.numel() and (ids.min() < 0 or ids.max() >= c_dim):
        raise ValueError(f"class ids must be in [0, {c_dim}), got range [{ids.min()}, {ids.max()}]")
    return torch.nn.functional.one_hot(ids, c_dim).float()


class WorldImages:
    """A procedural world rendered on the fly; image ``i`` is ``world.sample(data_seed, i)``."""

    def __init__(self, world: World, resolution: int, data_seed: int = 0, conditional: bool = False):
        self.world, self.resolution, self.data_seed = world, resolution, data_seed
        self.c_dim = len(world.class_names) if conditional else 0

    def batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, c, _ = self.batch_with_labels(start, count)
        return x, c

    def batch_with_labels(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Images ``[count, 3, R, R]``, classes or None, and the part-id label maps ``[count, R, R]`` int64
        (ids ``0 .. len(world.part_names) − 1``), rendered together."""
        images, labels, _, class_ids = self.world.sample_batch(self.data_seed, start, count, self.resolution)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()
        return x, (_one_hot(class_ids, self.c_dim) if self.c_dim else None), torch.from_numpy(labels.astype(np.int64))

    def describe(self) -> dict:
        out = {"world": self.world.name, "data_seed": self.data_seed}
        if self.c_dim:
            out["class_names"] = list(self.world.class_names)
        return out


class FolderImages:
    """An :class:`ImageFolderDataset`, reshuffled every epoch with a permutation seeded by (seed, epoch)."""

    def __init__(self, root: str | Path, resolution: int, seed: int = 0, conditional: bool = False):
        self.dataset = ImageFolderDataset(root, size=resolution)
        self.resolution, self.seed = resolution, seed
        self.c_dim = 0
        if conditional:
            if self.dataset.class_ids is None:
                raise ValueError(f"--conditional needs {Path(root) / 'class_ids.npy'} (one class id per image)")
            self.c_dim = int(self.dataset.class_ids.max()) + 1
        self._perm_epoch, self._perm = -1, np.arange(0)

    def _index(self, i: int) -> int:
        epoch, pos = divmod(i, len(self.dataset))
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]))
            self._perm = torch.randperm(len(self.dataset), generator=g).numpy()
            self._perm_epoch = epoch
        return int(self._perm[pos])

    def batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        items = [self.dataset[self._index(i)] for i in range(start, start + count)]
        x = torch.stack([it["image"] for it in items])
        if not self.c_dim:
            return x, None
        return x, _one_hot(np.array([int(it["class_id"]) for it in items]), self.c_dim)

    def batch_with_labels(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        raise ValueError(_NO_FOLDER_LABELS.format(root=self.dataset.root))

    def describe(self) -> dict:
        return {"folder": str(self.dataset.root), "images": len(self.dataset)}


_NO_FOLDER_LABELS = (
    "this family trains on label maps, which the image folder {root} does not have; train on a world "
    "(e.g. --data scenes), whose samples come with their label maps"
)


def open_real_images(
    data: str, resolution: int, data_seed: int = 0, seed: int = 0, conditional: bool = False, labels: bool = False
) -> RealImages:
    """``data`` is a world name or an image folder; anything else raises a ValueError listing the worlds.
    ``labels``: the run needs label maps (:meth:`RealImages.batch_with_labels`), so a folder is refused."""
    if data in list_worlds():
        return WorldImages(get_world(data), resolution, data_seed, conditional)
    path = Path(data).expanduser()
    if path.is_dir():
        if labels:
            raise ValueError(_NO_FOLDER_LABELS.format(root=path))
        return FolderImages(path, resolution, seed, conditional)
    if path.exists():
        raise ValueError(f"--data {data!r} is a file; give a folder of images or a world name ({', '.join(list_worlds())})")
    raise ValueError(
        f"--data {data!r} is neither a world nor an existing folder; available worlds: {', '.join(list_worlds())}"
    )
