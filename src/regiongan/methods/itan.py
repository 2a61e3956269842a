"""ITAN — inference-time adaptive normalization (WACV 2022) on the generator interface (METHODS.md §1).

K latent codes, one per region of a :class:`~regiongan.regions.RegionSet`, drive one forward pass: at the
selected control points every layer gets a :class:`~regiongan.generators.base.BlendedStyle` of the K codes'
styles with the region masks (the generator resizes the masks and blends the demodulation, paper Eq. 3
generalised to K regions); every other control point gets the ``base`` code's style vector. No weights
change and there is no optimisation: the cost is one synthesis pass plus K affine (style) calls.

    blend_generate(G, codes, regions, ...)   the core: K codes + a partition -> one image per sample
    local_resample(G, code, region, n)       keep the outside, n fresh codes inside   (paper §4.1)
    transfer_region(G, target, reference, region, layers="fine")   reference's look inside the region
    saliency(G, code, regions, psi)          per-region truncation  w_k = w̄ + ψ_k (w − w̄)

Layer selections (``layers=``): ``None``/``"all"``; a preset ``"coarse"``, ``"middle"``, ``"fine"`` (see
:func:`preset_ranges`); an inclusive resolution range ``(lo, hi)`` matched against each control point's
*output* ``resolution`` (so ``b16.conv0``, which reads an 8² input, belongs to 16); or a list of control
point names (``"b32.torgb"``) and/or indices into ``G.control_points()``. :func:`parse_layers` reads the
command-line form (``"8-64"``, ``"fine"``, ``"b32.conv0,b32.conv1"``).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Literal, Sequence, Union

import torch

from ..generators.base import BlendedStyle, ControlPoint, Style
from ..ops.masks import resize_mask
from ..recipes import register_method, resolve_code, resolve_region, resolve_regionset
from ..regions import Region, RegionError, RegionSet

__all__ = [
    "ITANOutput",
    "ResampleOutput",
    "LayerSpec",
    "blend_generate",
    "local_resample",
    "transfer_region",
    "saliency",
    "select_layers",
    "preset_ranges",
    "parse_layers",
    "codes_to_ws",
]

Space = Literal["z", "w", "w+"]
ITANNoise = Literal["const", "blend", "resample"]
BlendSpace = Literal["s", "w"]
#: ``None`` | ``"all"`` | ``"coarse"`` | ``"middle"`` | ``"fine"`` | ``(res_lo, res_hi)`` | names / indices.
LayerSpec = Union[None, str, tuple[int, int], Sequence[Union[str, int]]]

_SPACES = ("z", "w", "w+")
_NOISE = ("const", "blend", "resample")
_PRESETS = ("coarse", "middle", "fine")


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


@dataclass
class ResampleOutput:
    """Result of :func:`local_resample`: images ``[n, 3, H, W]``, the fresh codes ``[n, z_dim]`` drawn for
    the region (always z, mapped like the original), and the underlying :class:`ITANOutput`."""

    images: torch.Tensor
    codes: torch.Tensor
    itan: ITANOutput


# --------------------------------------------------------------------------------------------------
# Layer selection


def preset_ranges(img_resolution: int) -> dict[str, tuple[int, int]]:
    """The named layer presets as inclusive resolution ranges for a model of output size ``img_resolution``.

    For ``R ≥ 128`` they are StyleGAN's split (Karras et al. 2019, §3.1): coarse 4²–8² (pose, shape),
    middle 16²–32² (features), fine 64²–R² (colour, texture). Smaller models are scaled down so every
    preset keeps at least one resolution: coarse 4 … min(8, R/8), middle … min(32, R/4), fine the rest —
    e.g. R = 64: coarse 4–8, middle 16, fine 32–64; R = 32: coarse 4, middle 8, fine 16–32.
    """
    r = int(img_resolution)
    coarse_hi = max(4, min(8, r // 8))
    middle_hi = max(2 * coarse_hi, min(32, r // 4))
    return {"coarse": (4, coarse_hi), "middle": (2 * coarse_hi, middle_hi), "fine": (2 * middle_hi, r)}


def parse_layers(spec: str) -> LayerSpec:
    """Command-line layer selection -> a :data:`LayerSpec`.

    ``"all"``, ``"coarse"``, ``"middle"``, ``"fine"``; ``"LO-HI"`` (inclusive resolution range, e.g.
    ``"8-64"``); ``"R"`` (one resolution, e.g. ``"32"``); or comma-separated control point names
    (``"b32.conv0,b32.torgb"``, see ``regiongan info MODEL``).
    """
    text = str(spec).strip()
    if text in ("all", *_PRESETS):
        return text
    lo, dash, hi = text.partition("-")
    if dash and lo.strip().isdigit() and hi.strip().isdigit():
        return (int(lo), int(hi))
    if text.isdigit():
        return (int(text), int(text))
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or not all(n.startswith("b") and "." in n for n in names):
        raise ValueError(
            f"cannot read layer selection {spec!r}; use all, coarse, middle, fine, a resolution range such "
            "as 8-64, one resolution such as 32, or control point names such as b32.conv0,b32.torgb"
        )
    return names


def select_layers(G, layers: LayerSpec) -> list[int]:
    """Indices into ``G.control_points()`` selected by ``layers`` (see the module docstring), sorted."""
    points: list[ControlPoint] = G.control_points()
    resolutions = sorted({p.resolution for p in points})
    if layers is None or (isinstance(layers, str) and layers == "all"):
        return list(range(len(points)))
    if isinstance(layers, str):
        if layers not in _PRESETS:
            raise ValueError(
                f"unknown layer preset {layers!r}; use 'all', 'coarse', 'middle', 'fine', a resolution range "
                "(lo, hi) or a list of control point names / indices"
            )
        lo, hi = preset_ranges(G.img_resolution)[layers]
        chosen = [i for i, p in enumerate(points) if lo <= p.resolution <= hi]
        if not chosen:
            raise ValueError(
                f"layer preset {layers!r} ({lo}-{hi}) selects no layer of this {G.img_resolution}² model "
                f"(resolutions {resolutions}); give a resolution range instead"
            )
        return chosen
    if isinstance(layers, tuple) and len(layers) == 2 and all(_is_int(v) for v in layers):
        lo, hi = int(layers[0]), int(layers[1])
        if lo > hi or lo < resolutions[0] or hi > resolutions[-1]:
            raise ValueError(
                f"layer range {lo}-{hi} is outside this model: its control points have resolutions "
                f"{resolutions}; give (lo, hi) with {resolutions[0]} <= lo <= hi <= {resolutions[-1]}"
            )
        chosen = [i for i, p in enumerate(points) if lo <= p.resolution <= hi]
        if not chosen:
            raise ValueError(f"layer range {lo}-{hi} contains none of the model's resolutions {resolutions}")
        return chosen
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError("the layer list is empty; give at least one control point name or index")
        names = [p.name for p in points]
        chosen_set: set[int] = set()
        for item in layers:
            if isinstance(item, str):
                if item not in names:
                    raise ValueError(f"unknown control point {item!r}; this model has {names}")
                chosen_set.add(names.index(item))
            elif _is_int(item):
                if not 0 <= int(item) < len(points):
                    raise ValueError(
                        f"control point index {item} out of range: this model has {len(points)} control "
                        f"points (0..{len(points) - 1}): {names}"
                    )
                chosen_set.add(int(item))
            else:
                raise ValueError(f"layer list entries must be names or ints, got {item!r}")
        return sorted(chosen_set)
    raise ValueError(
        f"layers must be None, 'all', 'coarse', 'middle', 'fine', a (lo, hi) resolution range or a list of "
        f"control point names / indices, got {layers!r}"
    )


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------------------------------
# Codes -> ws


def codes_to_ws(
    G, code: torch.Tensor, space: Space = "z", c: torch.Tensor | None = None, truncation_psi: float = 1.0,
    what: str = "code",
) -> torch.Tensor:
    """One code -> ``ws [N, num_ws, w_dim]``.

    ``"z"``: ``[N, z_dim]`` through the mapping (with ``c`` and its truncation, exactly as plain
    generation); ``"w"``: ``[N, w_dim]`` repeated over the layers; ``"w+"``: ``[N, num_ws, w_dim]``.
    For w / w+ a ``truncation_psi`` ≠ 1 applies ``G.truncate`` (``w̄ + ψ (w − w̄)``).
    """
    if space not in _SPACES:
        raise ValueError(f"space must be one of {_SPACES}, got {space!r}")
    if not isinstance(code, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(code).__name__}")
    _check_psi(truncation_psi, "truncation_psi")
    expected = {"z": f"[N, {G.z_dim}]", "w": f"[N, {G.w_dim}]", "w+": f"[N, {G.num_ws}, {G.w_dim}]"}[space]
    shape_ok = {
        "z": code.ndim == 2 and code.shape[1] == G.z_dim,
        "w": code.ndim == 2 and code.shape[1] == G.w_dim,
        "w+": code.ndim == 3 and tuple(code.shape[1:]) == (G.num_ws, G.w_dim),
    }[space]
    if not shape_ok:
        hint = " (one code: add a batch dimension, e.g. z[None])" if code.ndim == (1 if space != "w+" else 2) else ""
        raise ValueError(f"{what} in space {space!r} must be {expected}, got {tuple(code.shape)}{hint}")
    if not bool(torch.isfinite(code).all()):
        raise ValueError(f"{what} contains NaN or inf values")
    device = G.mapping.w_avg.device if hasattr(G, "mapping") else code.device
    code = code.to(device=device, dtype=torch.float32)
    if space == "z":
        return G.map(code, c, truncation_psi)
    ws = code.unsqueeze(1).repeat(1, G.num_ws, 1) if space == "w" else code
    return G.truncate(ws, truncation_psi) if truncation_psi != 1 else ws


def _check_psi(psi: float, what: str) -> float:
    try:
        value = float(psi)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {psi!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{what} must be a finite number > 0, got {psi!r}: ψ = 1 keeps the code, ψ < 1 pulls it towards the "
            "average w̄ (blends in), ψ > 1 pushes it away (stands out); ψ ≤ 0 collapses or mirrors the code"
        )
    return value


# --------------------------------------------------------------------------------------------------
# The core


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
    c: torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    psi_per_region: Sequence[float] | None = None,
    blend_space: BlendSpace = "s",
) -> ITANOutput:
    """Generate with region k driven by ``codes[k]`` at the selected layers (ITAN, METHODS.md §1).

    Args:
        G: a generator with control points (StyleGAN2).
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
        c: class labels ``[N, c_dim]`` for conditional models (z codes).
        truncation_psi: truncation applied to every code (z: by the mapping, as in plain generation).
        psi_per_region: optional K values ψ_k > 0, applied after ``truncation_psi``: ``w_k = w̄ + ψ_k (w_k − w̄)``.
        blend_space: ``"s"`` (ITAN, METHODS.md §1): blend the styles and, separately, the demodulations,
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
        psis = [_check_psi(p, f"psi_per_region[{i}]") for i, p in enumerate(psi_per_region)]
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


# --------------------------------------------------------------------------------------------------
# Applications


def _as_region(region: Region | torch.Tensor, G, batch: int | None, what: str = "region") -> Region:
    """Validate an application's region: image size, batch (``batch``, or anything when None; the RegionSet
    check in :func:`blend_generate` then applies), non-empty and not the whole image."""
    if isinstance(region, torch.Tensor):
        region = Region(region)
    if not isinstance(region, Region):
        raise RegionError(f"{what} must be a Region (or a [N, 1, H, W] mask), got {type(region).__name__}")
    res = G.img_resolution
    if region.size != (res, res):
        raise RegionError(
            f"{what} is {region.size[0]}x{region.size[1]} but this model generates {res}x{res} images; build "
            f"it at the image size, e.g. parse_region(spec, size=({res}, {res})) or region.resize(({res}, {res}))"
        )
    if batch is not None and region.batch not in (1, batch):
        raise RegionError(f"{what} has batch {region.batch}; expected 1 (shared) or {batch} (one mask per image)")
    return region.require_nonempty(what).require_not_full(what)


def local_resample(
    G,
    code: torch.Tensor,
    region: Region | torch.Tensor,
    n: int = 8,
    layers: LayerSpec = None,
    seed: int = 0,
    space: Space = "z",
    feather: float = 0.0,
    noise: Literal["const", "resample"] = "const",
    c: torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
) -> ResampleOutput:
    """Local generation (paper §4.1): keep the image outside ``region``, draw ``n`` new codes inside.

    Args:
        code: the image to vary, one code ``[1, ...]`` in ``space``.
        region: ``[1, 1, R, R]`` (non-empty, not the whole image).
        n: number of variations, generated as one batch.
        seed: seeds the new z codes ``[n, z_dim]`` (``torch.Generator().manual_seed(seed)``) and, with
            ``noise="resample"``, the fresh noise inside the region.
        layers, feather, c, truncation_psi, blend_space: as in :func:`blend_generate` (the new z's are mapped
            with the same ``c`` and truncation). noise: ``"const"`` or ``"resample"`` (fresh noise inside).

    Returns:
        :class:`ResampleOutput`: ``images [n, 3, R, R]``, ``codes [n, z_dim]``.
    """
    if not _is_int(n) or n < 1:
        raise ValueError(f"n (number of variations) must be a positive int, got {n!r}")
    if noise not in ("const", "resample"):
        raise ValueError(
            f"local_resample noise must be 'const' or 'resample' (fresh noise inside the region), got {noise!r}"
        )
    ws = codes_to_ws(G, code, space, c, truncation_psi, what="code")
    if ws.shape[0] != 1:
        raise ValueError(
            f"local_resample varies one image: code must have batch 1, got {ws.shape[0]}; call it once per image"
        )
    reg = _as_region(region, G, 1)
    gen = torch.Generator(device=ws.device).manual_seed(int(seed))
    z_new = torch.randn([n, G.z_dim], generator=gen, device=ws.device)
    c_new = None if c is None else c.expand(n, -1)
    ws_new = G.map(z_new, c_new, truncation_psi)
    out = blend_generate(
        G, [ws, ws_new], RegionSet.foreground_background(reg), space="w+", layers=layers, base=0,
        feather=feather, noise=noise, generator=gen, blend_space=blend_space,
    )  # fmt: skip
    return ResampleOutput(images=out.image, codes=z_new, itan=out)


def transfer_region(
    G,
    target: torch.Tensor,
    reference: torch.Tensor,
    region: Region | torch.Tensor,
    layers: LayerSpec = None,
    space: Space = "z",
    feather: float = 0.0,
    noise: ITANNoise = "const",
    generator: torch.Generator | None = None,
    c: torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
) -> ITANOutput:
    """Local attribute transfer: ``target`` outside, ``reference`` inside ``region`` at the chosen layers.

    ``layers="fine"`` moves colour and texture, ``"coarse"`` shape and pose, ``"all"`` everything the
    reference's code controls there (presets: :func:`preset_ranges`). ``target`` / ``reference``:
    ``[N|1, ...]`` codes in ``space``; region ``[N|1, 1, R, R]``, non-empty and not the whole image.
    Returns an :class:`ITANOutput` (``image [N, 3, R, R]``); ``reference == target`` gives the target.
    """
    reg = _as_region(region, G, None)
    return blend_generate(
        G, [target, reference], RegionSet.foreground_background(reg), space=space, layers=layers, base=0,
        feather=feather, noise=noise, generator=generator, c=c, truncation_psi=truncation_psi,
        blend_space=blend_space,
    )  # fmt: skip


def saliency(
    G,
    code: torch.Tensor,
    regions: RegionSet | torch.Tensor,
    psi: Sequence[float],
    layers: LayerSpec = None,
    space: Space = "z",
    base: int = 0,
    feather: float = 0.0,
    c: torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
) -> ITANOutput:
    """Saliency control: region k uses ``w_k = w̄ + ψ_k (w − w̄)`` (our design, METHODS.md §1).

    ψ_k > 1 makes a region stand out, ψ_k < 1 lets it blend into the average; all ψ_k = 1 is the plain
    image. ``regions``: K regions (e.g. ``RegionSet.foreground_background(r)`` = [background, region]);
    ``psi``: K values > 0 in the same order; ``base``: the region whose ψ drives the non-selected layers.
    Returns an :class:`ITANOutput` (``image [N, 3, R, R]``).
    """
    regions = _as_regionset(regions)
    psi = [_check_psi(p, f"psi[{i}]") for i, p in enumerate(psi)]
    if len(psi) != regions.k:
        raise ValueError(
            f"psi has {len(psi)} values but there are K={regions.k} regions"
            + (f" {list(regions.names)}" if regions.names else "")
            + "; give one ψ per region, in order"
        )
    return blend_generate(
        G, [code] * regions.k, regions, space=space, layers=layers, base=base, feather=feather, c=c,
        truncation_psi=truncation_psi, psi_per_region=psi, blend_space=blend_space,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Recipe methods (regiongan.recipes): the parameters are exactly the keyword arguments above.


def _kwargs_of(fn) -> list[str]:
    return [name for name in inspect.signature(fn).parameters if name != "G"]


def _image_size(G) -> tuple[int, int]:
    return (G.img_resolution, G.img_resolution)


@register_method("itan.blend_generate", required=("codes", "regions"), allowed=_kwargs_of(blend_generate))
def _recipe_blend_generate(G, params: dict) -> torch.Tensor:
    """ITAN: K codes blended by a RegionSet -> image [N, 3, R, R]."""
    params["codes"] = [resolve_code(G, v, f"codes[{i}]") for i, v in enumerate(params["codes"])]
    params["regions"] = resolve_regionset(params["regions"], _image_size(G))
    return blend_generate(G, **params).image


@register_method("itan.local_resample", required=("code", "region"), allowed=_kwargs_of(local_resample))
def _recipe_local_resample(G, params: dict) -> torch.Tensor:
    """ITAN local resample -> the n variations [n, 3, R, R]."""
    params["code"] = resolve_code(G, params["code"])
    params["region"] = resolve_region(params["region"], _image_size(G))
    return local_resample(G, **params).images


@register_method(
    "itan.transfer_region", required=("target", "reference", "region"), allowed=_kwargs_of(transfer_region)
)
def _recipe_transfer_region(G, params: dict) -> torch.Tensor:
    """ITAN local attribute transfer -> [N, 3, R, R]."""
    params["target"] = resolve_code(G, params["target"], "target")
    params["reference"] = resolve_code(G, params["reference"], "reference")
    params["region"] = resolve_region(params["region"], _image_size(G))
    return transfer_region(G, **params).image


@register_method("itan.saliency", required=("code", "regions", "psi"), allowed=_kwargs_of(saliency))
def _recipe_saliency(G, params: dict) -> torch.Tensor:
    """ITAN saliency (per-region truncation) -> [N, 3, R, R]."""
    params["code"] = resolve_code(G, params["code"])
    params["regions"] = resolve_regionset(params["regions"], _image_size(G))
    return saliency(G, **params).image
