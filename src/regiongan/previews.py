"""Preview pictures: what a person looks at to understand an artefact (the one place that draws them).

    cluster_colors(k)                       K distinct colours [K, 3] uint8
    cluster_preview(G, catalog, count=8)    samples above their catalog cluster maps, with a legend
    region_overlay(image, mask, scale=3)    a region drawn on its image: translucent tint + outline
"""

from __future__ import annotations

import colorsys

import numpy as np
import torch
from PIL import Image, ImageDraw

from .images import make_grid, to_uint8
from .methods.editing_in_style import Catalog, sample_codes, sample_features
from .ops.masks import resize_mask

__all__ = ["cluster_colors", "cluster_preview", "region_overlay", "OVERLAY_COLOR"]

_GOLDEN = 0.618033988749895


def cluster_colors(k: int) -> torch.Tensor:
    """K distinct colours ``[K, 3]`` uint8 (golden-angle hues, alternating saturation and brightness)."""
    rows = []
    for i in range(k):
        r, g, b = colorsys.hsv_to_rgb((i * _GOLDEN) % 1.0, 0.75 if i % 2 else 0.95, 1.0 if i % 3 else 0.7)
        rows.append([round(255 * r), round(255 * g), round(255 * b)])
    return torch.tensor(rows, dtype=torch.uint8).reshape(k, 3)


def cluster_preview(
    G, catalog: Catalog, count: int = 8, seed: int = 0, scale: int = 2, truncation_psi: float = 1.0
) -> Image.Image:
    """``count`` samples (z from ``torch.Generator().manual_seed(seed)``) above their cluster maps, and a
    legend of cluster ids with their names: what you look at to name a catalog's clusters."""
    catalog.check_model(G)
    out = sample_features(G, sample_codes(G, count, seed), truncation_psi)
    res = G.img_resolution
    labels = resize_mask(catalog.memberships(out.features), res, res).argmax(dim=1).cpu()  # [N, R, R]
    colours = cluster_colors(catalog.k)[labels]  # [N, R, R, 3]
    images = torch.cat([out.image.cpu(), colours.permute(0, 3, 1, 2).float() / 127.5 - 1.0])
    grid = make_grid(images, ncols=count, scale=scale)
    names = {i: n for n, ids in catalog.names.items() for i in ids}
    legend_h = 14 * ((catalog.k + 3) // 4) + 6
    canvas = Image.new("RGB", (max(grid.width, 4 * 120), grid.height + legend_h), "white")
    canvas.paste(grid, (0, 0))
    draw = ImageDraw.Draw(canvas)
    palette = cluster_colors(catalog.k).tolist()
    for i in range(catalog.k):
        x, y = 4 + 120 * (i % 4), grid.height + 4 + 14 * (i // 4)
        draw.rectangle([x, y + 1, x + 10, y + 11], fill=tuple(palette[i]), outline="black")
        draw.text((x + 14, y), f"{i}" + (f" {names[i]}" if i in names else ""), fill="black")
    return canvas


#: Tint and outline colour of :func:`region_overlay` (RGB): cyan, which stands out on skin, hair and lips.
OVERLAY_COLOR = (0, 210, 255)


def _outline(inside: np.ndarray) -> np.ndarray:
    """Pixels of the boolean mask ``inside [H, W]`` that touch (4-neighbourhood) a pixel outside it or the border."""
    padded = np.pad(inside, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inside & ~interior


def region_overlay(
    image: torch.Tensor,
    mask: torch.Tensor,
    color: tuple[int, int, int] = OVERLAY_COLOR,
    alpha: float = 0.45,
    scale: int = 1,
) -> Image.Image:
    """The region ``mask`` drawn on ``image``: a translucent ``color`` tint inside, a solid outline along its edge.

    image: ``[3, H, W]`` in [-1, 1]; mask: a soft mask ``[1, H, W]`` or ``[H, W]`` in [0, 1] at the same size
    (the tint follows its softness, the outline is drawn where it crosses 0.5). ``scale`` enlarges the picture
    (nearest neighbour) before the 1-pixel outline is drawn, so the outline stays thin. Returns an RGB image
    ``(W * scale) x (H * scale)``.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be one RGB image [3, H, W] in [-1, 1], got {got}")
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[0] != 1):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be [1, H, W] or [H, W], got {got}; for a Region pass region.mask[0]")
    if tuple(mask.shape[-2:]) != tuple(image.shape[-2:]):
        raise ValueError(
            f"mask is {tuple(mask.shape[-2:])} but the image is {tuple(image.shape[-2:])}; resize the region to the "
            "image size first (region.resize(size))"
        )
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int, got {scale!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    rgb = to_uint8(image[None])[0].astype(np.float32)  # [H, W, 3]
    m = mask.detach().float().cpu().reshape(mask.shape[-2:]).clamp(0, 1).numpy()  # [H, W]
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
        m = m.repeat(scale, axis=0).repeat(scale, axis=1)
    tint = np.asarray(color, dtype=np.float32)
    weight = (alpha * m)[..., None]
    out = rgb * (1 - weight) + tint * weight
    out[_outline(m >= 0.5)] = tint
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))
