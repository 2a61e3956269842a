"""ITAN's core: K codes, one per region of a partition, drive one forward pass (described in
docs/itan.md).

At the selected control points every layer gets a :class:`~regiongan.generators.base.BlendedStyle` of the K
codes' styles with the region masks (the generator resizes the masks and blends the demodulation, paper
Eq. 3 generalised to K regions); every other control point gets the ``base`` code's style vector. No
weights change and there is no optimisation: the cost is one synthesis pass plus K style calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from ...generators.base import BlendedStyle, Style
from ...latents import Space, check_truncation_psi, codes_to_ws
from ...limits import check_count
from ...layer_selection import LayerSpec, select_layers
from ...ops.masks import resize_mask
from ...regions import Region, RegionError, RegionSet

__all__ = ["ITANOutput", "ITANNoise", "BlendSpace", "blend_generate"]

ITANNoise = Literal["const", "blend", "resample"]
BlendSpace = Literal["s", "w"]
_NOISE = ("const", "blend", "resample")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class ITANOutput:
    """Result of :func:`blend_generate`.

    image: ``[N, 3, H, W]`` in about [-1, 1]; styles: what entered each control point (a vector ``[N, C]``
    or a :class:`BlendedStyle`); ws: ``[N, K, num_ws, w_dim]`` per-region latents after truncation;
    masks: ``[N, K, H, W]`` the partition actually used (after feathering); layers: names of the control
    points that were blended; noise: the unscaled per-conv-layer noise maps used (``None``: const noise).
    """

    image: torch.Tensor
    styles: list[Style]
    ws: torch.Tensor
    masks: torch.Tensor
    layers: tuple[str, ...]
    noise: list[torch.Tensor | None] | None



def blend_generate(
    G,
    codes: Sequence[torch.Tensor],
    regions: RegionSet | torch.Tensor,
    space: Space = "z",
    layers: LayerSpec = None,
    base: int = 0,
    feather: float = 0.0,
    noise: ITANNoise = "const",
    generator: torch.Generator | None = None,
    c: int | torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    psi_per_region: Sequence[float] | None = None,
    blend_space: BlendSpace = "s",
) -> ITANOutput:
    """Generate with region k driven by ``codes[k]`` at the selected layers (ITAN; docs/itan.md).

    Args:
        G: any generator (:class:`~regiongan.generators.base.Generator`).
        codes: K codes, one per region, each ``[N|1, z_dim]`` (z), ``[N|1, w_dim]`` (w) or
            ``[N|1, num_ws, w_dim]`` (w+); batch 1 broadcasts.
        regions: a :class:`RegionSet` ``[N|1, K, R, R]`` at the image resolution R (a partition: RegionSet
            already refuses NaN, values outside [0, 1] and masks that do not sum to one), or such a tensor.
        space: how to read ``codes``.
        layers: which control points are blended (module docstring); the others use ``codes[base]``.
        base: the region whose code drives the non-selected layers (and whose noise is kept).
        feather: Gaussian std in image pixels applied to the partition before blending (0: hard edges).
        noise: ``"const"`` the model's constant noise everywhere; ``"blend"`` K independent random draws
            (in code order, from ``generator``) mixed by the masks at the selected conv layers (the base
            draw elsewhere); ``"resample"`` constant noise, but fresh random noise inside the non-base
            regions at the selected layers. Mixed noise is divided by ``sqrt(Σ_k m_k²)`` so it keeps unit
            variance across soft edges.
        generator: randomness for ``"blend"`` / ``"resample"`` noise.
        c: the class of z codes for conditional models (an index or ``[N, c_dim]``; :func:`~regiongan.latents.class_vector`).
        truncation_psi: truncation applied to every code (z: by the mapping, as in plain generation).
        psi_per_region: optional K values ψ_k > 0, applied after ``truncation_psi``: ``w_k = w̄ + ψ_k (w_k − w̄)``.
        blend_space: ``"s"`` (ITAN): blend the styles and, separately, the demodulations,
            ``D = Σ m_k d(s_k)``; ``"w"``: one blended latent per pixel, i.e. the style map ``S = Σ m_k s_k``
            (the same, as the affine map is linear and the masks sum to one) with the demodulation computed
            per pixel from ``S``. The two differ only at soft mask edges of demodulated (conv) layers.

    Returns:
        :class:`ITANOutput` with ``image [N, 3, R, R]``.

    Where all K styles of a layer are equal, or one region covers every pixel, the plain style vector is
    used instead of a blend: the same function, exactly the plain generator's numbers, and cheaper.
    """
    points = G.control_points()
    regions = _as_regionset(regions)
    k = regions.k
    if isinstance(codes, torch.Tensor):
        raise TypeError("codes must be a sequence of K tensors (one per region), e.g. [z_outside, z_inside]")
    codes = list(codes)
    if len(codes) != k:
        raise ValueError(
            f"got {len(codes)} codes for a RegionSet of K={k} regions"
            + (f" {list(regions.names)}" if regions.names else "")
            + "; give exactly one code per region, in the RegionSet's order"
        )
    if not _is_int(base) or not 0 <= base < k:
        raise ValueError(f"base must be a region index in 0..{k - 1}, got {base!r}")
    if noise not in _NOISE:
        raise ValueError(f"noise must be one of {_NOISE}, got {noise!r}")
    if blend_space not in ("s", "w"):
        raise ValueError(f"blend_space must be 's' (blended demodulation) or 'w' (per-pixel latent), got {blend_space!r}")
    res = G.img_resolution
    if regions.size != (res, res):
        raise RegionError(
            f"the regions are {regions.size[0]}x{regions.size[1]} but this model generates {res}x{res} images; "
            f"build the regions at the image size (e.g. parse_region(spec, size=({res}, {res})) or "
            f"RegionSet(regions.at({res}, {res})))"
        )
    selected = select_layers(G, layers)
    psis = None
    if psi_per_region is not None:
        psis = [check_truncation_psi(p, f"psi_per_region[{i}]") for i, p in enumerate(psi_per_region)]
        if len(psis) != k:
            raise ValueError(f"psi_per_region has {len(psis)} values but there are K={k} regions")

    ws_list = []
    for i, code in enumerate(codes):
        ws = codes_to_ws(G, code, space, c, truncation_psi, what=f"codes[{i}]")
        if psis is not None and psis[i] != 1:
            ws = G.truncate(ws, psis[i])
        ws_list.append(ws)
    n = max([w.shape[0] for w in ws_list] + [regions.batch])
    bad = [f"codes[{i}]: {w.shape[0]}" for i, w in enumerate(ws_list) if w.shape[0] not in (1, n)]
    if regions.batch not in (1, n):
        bad.append(f"regions: {regions.batch}")
    if bad:
        raise ValueError(
            f"batch sizes disagree ({', '.join(bad)}); every code and the RegionSet must have batch N={n} or 1 "
            "(which broadcasts)"
        )
    check_count(n, "images", "the number of images (the batch N)")
    masks = regions.feather(feather).masks.to(ws_list[0].device)
    masks = masks.expand(n, -1, -1, -1)
    # Styles per code at the code's own batch (K affine calls, the cost ITAN adds), then broadcast.
    per_code = [G.styles(w) for w in ws_list]
    full_region = _full_region_index(masks)
    sel = set(selected)
    styles: list[Style] = []
    by_res: dict[int, torch.Tensor] = {}  # masks resized once per resolution, not once per layer
    for i, point in enumerate(points):
        if i not in sel:
            styles.append(per_code[base][i].expand(n, -1))
            continue
        if point.resolution not in by_res:
            by_res[point.resolution] = resize_mask(masks, point.resolution, point.resolution)
        style = _blend_styles([pc[i] for pc in per_code], by_res[point.resolution], full_region, n)
        if blend_space == "w" and isinstance(style, BlendedStyle):
            # A spatial style map at the layer's output resolution: the generator demodulates per pixel.
            r = points[i].resolution
            style = torch.einsum("nkc,nkhw->nchw", style.styles, resize_mask(style.masks, r, r))
        styles.append(style)
    noise_maps = _noise_maps(G, n, masks, sel, noise, generator, base)
    out = G.synthesize(styles, noise_mode="const", noise=noise_maps)
    ws_all = torch.stack([w.expand(n, -1, -1) for w in ws_list], dim=1)
    return ITANOutput(
        image=out.image, styles=styles, ws=ws_all, masks=masks, layers=tuple(points[i].name for i in selected),
        noise=noise_maps,
    )


def _as_regionset(regions: RegionSet | torch.Tensor) -> RegionSet:
    if isinstance(regions, RegionSet):
        return regions
    if isinstance(regions, Region):
        raise RegionError(
            "blend_generate needs a RegionSet (a partition with one mask per code), got a single Region; use "
            "RegionSet.foreground_background(region) for [outside, inside]"
        )
    if isinstance(regions, torch.Tensor):
        return RegionSet(regions)  # validates shape, NaN, range and the partition
    raise RegionError(f"regions must be a RegionSet or a [N, K, H, W] tensor, got {type(regions).__name__}")


def _full_region_index(masks: torch.Tensor) -> torch.Tensor | None:
    """Per sample the region whose mask is 1 at every pixel, ``[N]`` long, or None if some sample has none."""
    full = masks.amin(dim=(2, 3)) >= 1.0  # [N, K]
    if not bool(full.any(dim=1).all()):
        return None
    return full.to(torch.int64).argmax(dim=1)


def _blend_styles(
    per_code: list[torch.Tensor], masks: torch.Tensor, full_region: torch.Tensor | None, n: int
) -> Style:
    """K style vectors ``[N|1, C]`` -> one vector ``[N, C]`` when no blend is needed, else a BlendedStyle."""
    first = per_code[0]
    if all(s.shape == first.shape and torch.equal(s, first) for s in per_code[1:]):
        return first.expand(n, -1)  # identical codes: blending would only add rounding
    stacked = torch.stack([s.expand(n, -1) for s in per_code], dim=1)  # [N, K, C]
    if full_region is not None:
        return stacked[torch.arange(n), full_region]  # one region covers the image: its vector
    return BlendedStyle(stacked, masks)


def _noise_maps(
    G, n: int, masks: torch.Tensor, selected: set[int], mode: ITANNoise, generator: torch.Generator | None, base: int
) -> list[torch.Tensor | None] | None:
    """Per conv control point an unscaled noise map ``[N, 1, r, r]`` (None: the model's const noise)."""
    if mode == "const":
        return None
    k = masks.shape[1]
    if mode == "blend":
        draws = [G.make_noise(n, "random", generator) for _ in range(k)]
    else:  # resample: const for the base region, fresh inside the others
        const = G.make_noise(n, "const")
        draws = [const if j == base else G.make_noise(n, "random", generator) for j in range(k)]
    out: list[torch.Tensor | None] = []
    conv_idx = [i for i, p in enumerate(G.control_points()) if p.kind == "conv"]
    for j, i in enumerate(conv_idx):
        if i not in selected:
            out.append(draws[base][j])
            continue
        r = draws[0][j].shape[-1]
        m = resize_mask(masks, r, r)  # [N, K, r, r], the generator's own resizing rule
        stack = torch.cat([d[j].expand(n, -1, -1, -1) for d in draws], dim=1)  # [N, K, r, r]
        out.append((m * stack).sum(dim=1, keepdim=True) / m.square().sum(dim=1, keepdim=True).sqrt())
    return out
