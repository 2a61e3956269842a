"""Image tensors <-> files, grids, and seed -> latent conventions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["to_uint8", "to_pil", "make_grid", "save_image", "parse_seeds", "z_from_seeds"]


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, C, H, W]`` in [-1, 1] -> ``uint8 [N, H, W, C]`` (rounded, clipped)."""
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got {tuple(images.shape)}")
    x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image ``[C, H, W]`` or ``[1, C, H, W]`` in [-1, 1] -> PIL image (RGB or L)."""
    if image.ndim == 3:
        image = image[None]
    arr = to_uint8(image)[0]
    return Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)


def make_grid(images: torch.Tensor | np.ndarray, ncols: int | None = None, pad: int = 2, scale: int = 1) -> Image.Image:
    """``[N, C, H, W]`` tensor in [-1, 1] or ``uint8 [N, H, W, C]`` -> one grid image (white padding)."""
    arr = to_uint8(images) if isinstance(images, torch.Tensor) else np.asarray(images)
    n, h, w, c = arr.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + col * (w + pad) : pad + col * (w + pad) + w] = arr[i]
    img = Image.fromarray(grid[..., 0] if c == 1 else grid)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_image(image: Image.Image, path: str | Path, overwrite: bool = True) -> Path:
    """Save a PIL image, creating parent directories; refuses to replace a file when ``overwrite=False``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def parse_seeds(spec: str) -> list[int]:
    """``"0-3,10,12-13"`` -> ``[0, 1, 2, 3, 10, 12, 13]``."""
    seeds: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(t) for t in part.split("-", 1))
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed list {spec!r}: use numbers and ranges like '0-15' or '1,5,9-12'") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"bad seed list {spec!r}: need at least one non-negative seed")
    return seeds


def z_from_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """Seeds -> ``z [N, z_dim]``, the same convention as NVlabs' generate.py (``RandomState(seed).randn``),
    so a seed names the same latent here and in the official tools."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).float()
