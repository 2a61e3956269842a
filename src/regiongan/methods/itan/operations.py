"""ITAN's operations (paper §4): blend, local resample, region transfer, saliency.

Each is a registered operation (``regiongan.<name>``, a recipe method, a CLI command, a studio panel)
that returns a :class:`~regiongan.results.Result`:

    blend(G, codes, regions)                      K codes + a partition -> one image per sample
    resample(G, code, region, variations=8)       keep the outside, fresh codes inside         (paper §4.1)
    transfer(G, target, reference, region)        the reference's look inside the region        (paper §4.2)
    saliency(G, code, region, psi)                per-region truncation w̄ + ψ_k (w − w̄)       (our design)
    hybridize(G, code, region, classes, base_class)   a region of another class (conditional models)

Codes are seeds or tensors in ``space``; regions are Regions, masks or spec strings, ``part:`` included
(resolved by the model's companion parser on the image the region is about); ``layers`` selects the
blended control points (:mod:`regiongan.layer_selection`). Recipes store regions that needed a file or
the parser as masks, so ``parser`` is always recorded as None.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import torch

from ...limits import check_count
from ...latents import Code, Space, check_truncation_psi, class_vector, code_tensor, codes_to_ws
from ...layer_selection import LayerSpec
from ...regions import Region, RegionSet
from ...registry import register_method
from ...results import Result
from ...validate import seed
from ..inputs import RegionLike, RegionsLike, needs_images, resolve_region, resolve_regionset
from ..sampling import render
from .blend import BlendSpace, ITANNoise, ITANOutput, blend_generate

__all__ = ["blend", "resample", "transfer", "saliency", "hybridize"]


def _needs_images(value: Any) -> bool:
    """Whether a region argument (or any item of a list of them) needs the image it is about."""
    return needs_images(value) or (isinstance(value, (list, tuple)) and any(map(needs_images, value)))


def _extras(out: ITANOutput, **more: Any) -> dict[str, Any]:
    return {"masks": out.masks, "layers": out.layers, "ws": out.ws, "noise": out.noise, "styles": out.styles, **more}


def _images_of(G, code: torch.Tensor, space: Space, c: torch.Tensor | None, psi: float) -> torch.Tensor:
    return render(G, codes_to_ws(G, code, space, c, psi))


def _single_region(G, region: RegionLike, images: torch.Tensor | None, parser: Any) -> tuple[Region, Any]:
    reg, record = resolve_region(G, region, images, parser)
    return reg.require_nonempty("region").require_not_full("region"), record


@register_method("itan.blend")
def blend(
    G,
    codes: Sequence[Code],
    regions: RegionsLike,
    space: Space = "z",
    layers: LayerSpec = None,
    base: int = 0,
    feather: float = 0.0,
    noise: ITANNoise = "const",
    noise_seed: int = 0,
    c: int | torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
    parser: Any = None,
) -> Result:
    """Blend K codes, region k driven by ``codes[k]`` at the selected layers (ITAN's core).

    regions: a partition of K regions (a RegionSet, ``[N, K, R, R]``), or K − 1 regions that become
    ``[background, r1, …]`` (then ``codes[0]`` drives the background); ``part:`` regions are resolved on the
    image of ``codes[base]``. Extras: ``masks [N, K, R, R]``, ``layers``, ``ws [N, K, num_ws, w_dim]``.
    """
    if isinstance(codes, torch.Tensor) or not isinstance(codes, (list, tuple)):
        raise TypeError("codes must be a list of K codes (one per region), e.g. [3, 11] or [z_outside, z_inside]")
    tensors = [code_tensor(G, v, space, f"codes[{i}]") for i, v in enumerate(codes)]
    noise_seed = seed(noise_seed, "noise_seed")
    images = None
    if _needs_images(regions):
        if not 0 <= base < len(tensors):
            raise ValueError(f"base must be a region index in 0..{len(tensors) - 1}, got {base!r}")
        images = _images_of(G, tensors[base], space, c, truncation_psi)
    partition, record = resolve_regionset(G, regions, images, parser)
    gen = torch.Generator().manual_seed(noise_seed)
    out = blend_generate(
        G, tensors, partition, space=space, layers=layers, base=base, feather=feather, noise=noise,
        generator=gen, c=c, truncation_psi=truncation_psi, blend_space=blend_space,
    )  # fmt: skip
    return Result(images=out.image, extras=_extras(out), recorded={"regions": record, "parser": None})


@register_method("itan.resample")
def resample(
    G,
    code: Code,
    region: RegionLike,
    variations: int = 8,
    variation_seed: int = 0,
    layers: LayerSpec = None,
    space: Space = "z",
    feather: float = 0.0,
    noise: Literal["const", "resample"] = "const",
    c: int | torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
    parser: Any = None,
) -> Result:
    """Local resample (paper §4.1): keep the image outside ``region``, draw ``variations`` new codes inside.

    code: one image (a seed, or ``[1, …]`` in ``space``). The new z codes ``[variations, z_dim]`` come from
    ``torch.Generator().manual_seed(variation_seed)`` (which also draws the fresh noise of
    ``noise="resample"``) and are mapped with the same ``c`` and truncation. Returns ``images
    [variations, 3, R, R]``; extras ``codes`` (the new z), ``masks``, ``layers``, ``ws``.
    """
    variations = check_count(variations, "variations", "variations")
    variation_seed = seed(variation_seed, "variation_seed")
    if noise not in ("const", "resample"):
        raise ValueError(f"resample noise must be 'const' or 'resample' (fresh noise inside the region), got {noise!r}")
    ws = codes_to_ws(G, code_tensor(G, code, space), space, c, truncation_psi, what="code")
    if ws.shape[0] != 1:
        raise ValueError(f"resample varies one image: code must have batch 1, got {ws.shape[0]}; call it once per image")
    reg, record = _single_region(G, region, render(G, ws) if needs_images(region) else None, parser)
    if reg.batch != 1:
        raise ValueError(f"region has batch {reg.batch}; resample varies one image, give one mask")
    gen = torch.Generator(device=ws.device).manual_seed(variation_seed)
    z_new = torch.randn([variations, G.z_dim], generator=gen, device=ws.device)
    ws_new = G.map(z_new, class_vector(G, c, variations), truncation_psi)
    out = blend_generate(
        G, [ws, ws_new], RegionSet.foreground_background(reg), space="w+", layers=layers, base=0, feather=feather,
        noise=noise, generator=gen, blend_space=blend_space,
    )  # fmt: skip
    return Result(
        images=out.image, extras=_extras(out, codes=z_new),
        recorded={"region": record, "parser": None},
    )  # fmt: skip


@register_method("itan.transfer")
def transfer(
    G,
    target: Code,
    reference: Code,
    region: RegionLike,
    layers: LayerSpec = None,
    space: Space = "z",
    feather: float = 0.0,
    noise: ITANNoise = "const",
    noise_seed: int = 0,
    c: int | torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
    parser: Any = None,
) -> Result:
    """Local attribute transfer (paper §4.2): ``target`` outside, ``reference`` inside ``region``.

    ``layers="fine"`` moves colour and texture, ``"coarse"`` shape and pose, ``None``/``"all"`` everything
    the reference's code controls there. ``part:`` regions are found on the target's image. Returns
    ``images [N, 3, R, R]``; extras ``masks``, ``layers``, ``ws``.
    """
    t = code_tensor(G, target, space, "target")
    r = code_tensor(G, reference, space, "reference")
    noise_seed = seed(noise_seed, "noise_seed")
    before = _images_of(G, t, space, c, truncation_psi) if needs_images(region) else None
    reg, record = _single_region(G, region, before, parser)
    gen = torch.Generator().manual_seed(noise_seed)
    out = blend_generate(
        G, [t, r], RegionSet.foreground_background(reg), space=space, layers=layers, base=0, feather=feather,
        noise=noise, generator=gen, c=c, truncation_psi=truncation_psi, blend_space=blend_space,
    )  # fmt: skip
    return Result(
        images=out.image, extras=_extras(out),
        recorded={"region": record, "parser": None},
    )  # fmt: skip


@register_method("itan.saliency")
def saliency(
    G,
    code: Code,
    region: RegionsLike,
    psi: float | Sequence[float],
    background_psi: float = 1.0,
    layers: LayerSpec = None,
    space: Space = "z",
    feather: float = 0.0,
    c: int | torch.Tensor | None = None,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
    parser: Any = None,
) -> Result:
    """Saliency control: region k uses ``w_k = w̄ + ψ_k (w − w̄)``; ψ > 1 stands out, ψ < 1 blends in.

    region: one region (or a list, or a partition). psi: one ψ for every region (the background gets
    ``background_psi``), or one value per region of the partition ``[background, r1, …]``. Returns
    ``images [N, 3, R, R]``; extras ``masks``, ``layers``, ``ws``, ``psi`` (per region).
    """
    z = code_tensor(G, code, space)
    per_region = isinstance(psi, (list, tuple))
    psi = [check_truncation_psi(p, f"psi[{i}]") for i, p in enumerate(psi)] if per_region else check_truncation_psi(psi, "psi")
    background_psi = check_truncation_psi(background_psi, "background_psi")
    images = _images_of(G, z, space, c, truncation_psi) if _needs_images(region) else None
    partition, record = resolve_regionset(G, region, images, parser)
    if per_region:
        psis = list(psi)
        if len(psis) != partition.k:
            raise ValueError(
                f"psi has {len(psis)} values but there are K={partition.k} regions {list(partition.names or [])}; "
                "give one ψ per region in order, or one number for all regions but the background"
            )
    else:
        psis = [background_psi] + [psi] * (partition.k - 1)
    out = blend_generate(
        G, [z] * partition.k, partition, space=space, layers=layers, base=0, feather=feather, c=c,
        truncation_psi=truncation_psi, psi_per_region=psis, blend_space=blend_space,
    )  # fmt: skip
    return Result(
        images=out.image, extras=_extras(out, psi=psis),
        recorded={"region": record, "parser": None},
    )  # fmt: skip


@register_method("itan.hybridize")
def hybridize(
    G,
    code: Code,
    region: RegionsLike,
    classes: Sequence[int | torch.Tensor],
    base_class: int | torch.Tensor,
    region_codes: Sequence[Code] | None = None,
    layers: LayerSpec = None,
    feather: float = 0.0,
    truncation_psi: float = 1.0,
    blend_space: BlendSpace = "s",
    parser: Any = None,
) -> Result:
    """Class hybridization (ITAN on a class-conditional model): each region drawn as another class.

    The image is ``code`` (a seed or z ``[1, z_dim]``) as ``base_class``; region k is drawn as
    ``classes[k]`` (an index, or a one-hot / soft ``[1, c_dim]`` vector) from the same z — or from
    ``region_codes[k]`` when given (separate z per region). ``region``: one region or a list, one per class,
    later ones winning overlaps; ``part:`` regions are found on the base-class image. Returns ``images
    [1, 3, R, R]``; extras ``masks`` (``[background, r1, …]``), ``layers``, ``ws``, ``classes``.
    """
    if getattr(G, "c_dim", 0) <= 0:
        raise ValueError("class hybridization needs a class-conditional model (c_dim > 0); this one has no classes")
    items = list(region) if isinstance(region, (list, tuple)) else [region]
    if not isinstance(classes, (list, tuple)) or len(classes) != len(items):
        raise ValueError(
            f"classes must be a list with one class per region: {len(items)} region(s), got "
            f"{len(classes) if isinstance(classes, (list, tuple)) else repr(classes)}"
        )
    if region_codes is not None and (not isinstance(region_codes, (list, tuple)) or len(region_codes) != len(items)):
        raise ValueError(f"region_codes must be None or a list with one code per region ({len(items)})")
    z = code_tensor(G, code, "z")
    if z.shape[0] != 1:
        raise ValueError(f"hybridize draws one image: give one seed or z [1, {G.z_dim}], got batch {z.shape[0]}")
    base_ws = codes_to_ws(G, z, "z", class_vector(G, base_class, 1), truncation_psi, what="code")
    images = render(G, base_ws) if _needs_images(items) else None
    partition, record = resolve_regionset(G, items, images, parser)
    ws = [base_ws]
    for k, cls in enumerate(classes):
        zk = z if region_codes is None else code_tensor(G, region_codes[k], "z", f"region_codes[{k}]")
        ws.append(codes_to_ws(G, zk, "z", class_vector(G, cls, 1), truncation_psi, what=f"region_codes[{k}]"))
    out = blend_generate(
        G, ws, partition, space="w+", layers=layers, base=0, feather=feather, blend_space=blend_space,
    )  # fmt: skip
    return Result(images=out.image, extras=_extras(out, classes=list(classes)), recorded={"region": record, "parser": None})
