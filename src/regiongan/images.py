"""Image tensors <-> PIL images and files, and grids. (Seeds -> latents: :mod:`regiongan.latents`.)"""

from __future__ import annotations

import math
from pathlib import Path
import numpy as np
import torch
import warnings

from PIL import Image, UnidentifiedImageError

from .limits import LimitError, env_name, limit
from .validate import scale as check_scale

__all__ = ["to_uint8", "to_pil", "make_grid", "save_image", "open_image"]


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
    """``[N, C, H, W]`` tensor in [-1, 1] or ``uint8 [N, H, W, C]`` -> one grid image (white padding).
    The upscaled grid must stay within ``limits.limit("preview_size")`` per side (checked before drawing)."""
    arr = to_uint8(images) if isinstance(images, torch.Tensor) else np.asarray(images)
    n, h, w, c = arr.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    check_scale(scale, max(nrows * (h + pad) + pad, ncols * (w + pad) + pad), "the grid's scale")
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


def open_image(path: str | Path, what: str = "image", error: type[Exception] = ValueError, load: bool = True) -> Image.Image:
    """Open an image file with the pixel cap (:mod:`regiongan.limits` ``image_pixels``) checked from its header,
    before any pixel is decoded; PIL's decompression-bomb check becomes the same one-line ``error``.
    ``load=False`` reads the header only (size and mode)."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} file not found: '{path}'; check the path")
    if not path.is_file():
        raise error(f"{what} path '{path}' is not a regular file; give the path of an image file")
    cap = limit("image_pixels")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap below decides
            img = Image.open(path)
            w, h = img.size
            if w * h > cap:
                img.close()
                raise LimitError(
                    f"{what} '{path}' is {w}x{h} = {w * h} pixels, above the limit of {cap}; shrink it or raise "
                    f"the limit with {env_name('image_pixels')}={w * h}"
                )
            if load:
                with img:
                    img.load()
                    return img.copy()
            return img
    except Image.DecompressionBombError as e:
        raise error(f"{what} '{path}' is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, LimitError):
            raise
        raise error(f"{what} '{path}' is not a readable image ({type(e).__name__}: {e})") from None

