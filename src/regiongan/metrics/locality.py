"""Locality of an edit: how much changed inside vs outside a region, measured in CIELAB.

The In-MSE / Out-MSE protocol of Editing in Style (Collins et al. 2020, §4.2) and ReSeFa: both images are
converted to CIELAB, the per-pixel error is the squared Lab distance (summed over L, a, b — the square of
CIE76 ΔE), and it is averaged over the pixels inside the region (weighted by the soft mask ``m``) and
outside (weighted by ``1 − m``). A local edit has a large In-MSE and an Out-MSE near zero. Every region
method reports these numbers with these functions.

    rgb_to_lab(images)           [N, 3, H, W] in [-1, 1] -> [N, 3, H, W] (L in [0, 100])
    in_out_mse(a, b, mask)       -> (in_mse [N], out_mse [N])
    change_heatmap(a, b)         -> ΔE per pixel [N, 1, H, W]
    heatmap_image(heat)          -> PIL image (colour ramp), save_heatmap(heat, path)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..regions import Region, RegionError

__all__ = ["rgb_to_lab", "in_out_mse", "change_heatmap", "heatmap_image", "save_heatmap"]

# sRGB (IEC 61966-2-1) linear RGB -> XYZ, and the D65 reference white (the constants of scikit-image and
# most colour libraries; with them pure sRGB red is Lab (53.24, 80.09, 67.20)).
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    dtype=torch.float64,
)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_EPS = (6.0 / 29.0) ** 3  # CIE: f(t) = t^(1/3) above, linear below
_KAPPA = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


def _check_images(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be RGB images [N, 3, H, W] in [-1, 1], got {shape}")


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """sRGB images ``[N, 3, H, W]`` in [-1, 1] -> CIELAB ``[N, 3, H, W]`` (D65; L in [0, 100]).

    Values are clamped to [-1, 1] first (what an 8-bit save would keep). Computed in float64, returned in
    the input's floating dtype. Standard formulas: sRGB gamma expansion, the sRGB→XYZ matrix, CIE f(t).
    """
    _check_images(images, "images")
    x = ((images.detach().to(torch.float64) + 1.0) / 2.0).clamp(0.0, 1.0)
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(x.device), lin)
    t = xyz / _WHITE_D65.to(x.device)[None, :, None, None]
    f = torch.where(t > _EPS, t.clamp_min(_EPS) ** (1.0 / 3.0), t * _KAPPA + 4.0 / 29.0)
    lab = torch.stack([116.0 * f[:, 1] - 16.0, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], dim=1)
    dtype = images.dtype if images.is_floating_point() else torch.float32
    return lab.to(dtype)


def _lab_sq_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared CIELAB distance per pixel ``[N, 1, H, W]`` (float64)."""
    _check_images(a, "a")
    _check_images(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    da = rgb_to_lab(a.to(torch.float64)) - rgb_to_lab(b.to(torch.float64))
    return da.square().sum(dim=1, keepdim=True)


def in_out_mse(
    a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | Region
) -> tuple[torch.Tensor, torch.Tensor]:
    """In-MSE and Out-MSE between two image batches, in CIELAB.

    Args:
        a, b: ``[N, 3, H, W]`` in [-1, 1] (e.g. original and edited).
        mask: soft region ``[N|1, 1, H, W]`` in [0, 1] (or a :class:`Region`), at the image size.

    Returns:
        ``(in_mse [N], out_mse [N])`` float32, with ``e = Σ_{L,a,b} (lab(a) − lab(b))²`` per pixel:
        ``in = Σ m e / Σ m`` and ``out = Σ (1 − m) e / Σ (1 − m)``. A sample whose mask is empty (or full)
        has no inside (outside) and gets NaN there, so batch statistics can skip it (``nanmean``).
    """
    err = _lab_sq_error(a, b)  # [N, 1, H, W]
    m = mask.mask if isinstance(mask, Region) else Region(mask).mask  # validates range / NaN / shape
    if m.shape[-2:] != err.shape[-2:]:
        raise RegionError(
            f"mask is {m.shape[-2]}x{m.shape[-1]} but the images are {err.shape[-2]}x{err.shape[-1]}; "
            f"resize it first (Region.resize(({err.shape[-2]}, {err.shape[-1]})))"
        )
    if m.shape[0] not in (1, err.shape[0]):
        raise RegionError(f"mask has batch {m.shape[0]}; expected 1 (shared) or {err.shape[0]} (one per image)")
    m = m.to(device=err.device, dtype=torch.float64).expand(err.shape[0], -1, -1, -1)
    w_in, w_out = m.sum(dim=(1, 2, 3)), (1.0 - m).sum(dim=(1, 2, 3))
    s_in, s_out = (m * err).sum(dim=(1, 2, 3)), ((1.0 - m) * err).sum(dim=(1, 2, 3))
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=err.device)
    in_mse = torch.where(w_in > 0, s_in / w_in.clamp_min(1e-12), nan)
    out_mse = torch.where(w_out > 0, s_out / w_out.clamp_min(1e-12), nan)
    return in_mse.to(torch.float32), out_mse.to(torch.float32)


def change_heatmap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Colour difference per pixel, CIE76 ΔE = ‖lab(a) − lab(b)‖: ``[N, 3, H, W]`` x2 -> ``[N, 1, H, W]``.

    ΔE ≈ 2.3 is a just-noticeable difference; 0 means unchanged.
    """
    return _lab_sq_error(a, b).sqrt().to(torch.float32)


# A perceptually ordered ramp black -> purple -> red -> orange -> yellow -> white (inferno-like anchors).
_RAMP = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64
)


def heatmap_image(heat: torch.Tensor, vmax: float | None = None, scale: int = 1) -> Image.Image:
    """Heatmap ``[N, 1, H, W]`` / ``[1, H, W]`` / ``[H, W]`` (first image only) -> RGB PIL image.

    Values are mapped linearly from 0 to ``vmax`` (default: the map's maximum; pass the same vmax to
    compare maps) onto a black-purple-red-yellow ramp; ``scale`` enlarges with nearest neighbour.
    """
    h = heat.detach().float().cpu()
    while h.ndim > 2:
        h = h[0]
    if h.ndim != 2:
        raise ValueError(f"heat must be [N, 1, H, W], [1, H, W] or [H, W], got {tuple(heat.shape)}")
    top = float(h.max()) if vmax is None else float(vmax)
    t = (h.numpy().astype(np.float64) / top if top > 0 else np.zeros(h.shape)).clip(0.0, 1.0)
    pos = t * (len(_RAMP) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_RAMP) - 2)
    frac = (pos - lo)[..., None]
    rgb = _RAMP[lo] * (1 - frac) + _RAMP[lo + 1] * frac
    img = Image.fromarray(rgb.round().astype(np.uint8))
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def save_heatmap(heat: torch.Tensor, path: str | Path, vmax: float | None = None, scale: int = 1) -> Path:
    """Write :func:`heatmap_image` as a PNG (creating parent directories) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    heatmap_image(heat, vmax=vmax, scale=scale).save(path)
    return path
