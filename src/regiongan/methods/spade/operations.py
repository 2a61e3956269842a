"""SPADE's region-level operations (docs/spade.md, "Region-level control"), each registered for recipes:

    synthesize(G, labels, n=1, seed=0, style=None)        label maps -> n styles per map, or a reference's style
    repaint(G, labels, region, to, seed=0)                paint a region with a class, same style code, In/Out-MSE
    region_styles(G, labels, regions, styles)             one style (seed or reference) per region

Style codes: with ``use_vae``, seed ``s`` names the code ``z_from_seeds([s])`` (the same convention as
every other model here); a reference image gives ``mu`` of the encoder (example-guided synthesis), or
``mu + ε·σ`` with ε from a seed when ``sample_style``. Without VAE the label map alone decides the image.
Label maps and references read from files are stored in the recipe as tensors, ``world:`` specs as
specs, so a replay needs none of the files and reproduces the images bit-for-bit.
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import torch

from ...latents import z_from_seeds
from ...limits import check_count
from ...metrics.locality import in_out_mse
from ...regions import RegionError, RegionSet
from ...registry import register_method
from ...results import Result
from ...validate import integer, seed as check_seed
from ..inputs import MAX_REGIONS, RegionLike, RegionsLike
from .labels import ClassNames, LabelsLike, PaletteLike, load_reference, resolve_labels
from .repaint import dilate, label_reach, repaint_labels, resolve_label_region

__all__ = ["synthesize", "repaint", "region_styles", "StyleLike"]

#: A style: a seed (int), or a reference image (tensor ``[1|N, 3, H, W]`` in [-1, 1], image file, ``world:`` spec).
StyleLike = Union[int, torch.Tensor, str]


def _check_spade(G, operation: str) -> None:
    if not hasattr(G, "synthesize_labels"):
        kind = getattr(G, "model_type", type(G).__name__)
        raise ValueError(f"spade.{operation} needs a SPADE label-to-image model; {getattr(G, 'model_name', None) or 'this model'} is a {kind}")


def _needs_vae(G, what: str) -> None:
    if not getattr(G, "use_vae", False):
        raise ValueError(f"{what} needs a SPADE with a VAE style code (use_vae true); this one is driven by its label map alone")


def _reference_codes(G, style: Any, sample_seeds: list[int] | None) -> tuple[torch.Tensor, Any]:
    """A reference image -> ``(codes [R, S, z_dim], record)``: ``S = 1`` code ``mu`` per reference image, or
    one sampled code ``mu + ε·σ`` per seed of ``sample_seeds`` (ε = ``z_from_seeds([seed])``)."""
    if getattr(G, "encoder", None) is None:
        G.encode(torch.zeros(1, 3, G.img_resolution, G.img_width))  # raises the model's one-line reason
    image, record = load_reference(G, style)
    mu, logvar = G.encode(image)  # [R, z_dim]; wrong size / dtype: the model's one-line errors
    if sample_seeds is None:
        return mu[:, None], record
    eps = z_from_seeds(sample_seeds, G.z_dim).to(mu)  # [S, z_dim]
    return mu[:, None] + eps[None] * torch.exp(0.5 * logvar)[:, None], record


def _seed_range(seed: int, n: int, what: str = "seed") -> list[int]:
    seed = check_seed(seed, what)
    return [seed + i for i in range(n)]


@register_method("spade.synthesize", latent=False)
def synthesize(
    G,
    labels: LabelsLike,
    n: int = 1,
    seed: int = 0,
    style: torch.Tensor | str | None = None,
    sample_style: bool = False,
    palette: PaletteLike = None,
) -> Result:
    """Label maps -> images: ``n`` styles per map (multimodal), or a reference image's style (example-guided).

    labels: class ids ``[N, H, W]``, a one-hot map ``[N, label_nc, H, W]``, a PNG / .npy path or
    ``world:NAME:INDEX`` (:mod:`.labels`; an RGB colour PNG needs ``palette``). Without ``style`` the styles
    are seeds ``seed … seed+n−1``. With ``style`` (a reference ``[1|N, 3, H, W]`` in [-1, 1], an image file
    or ``world:`` spec, at the model's image size) the code is the encoder's ``mu`` (``n`` must be 1), or
    with ``sample_style`` ``n`` codes ``mu + ε·σ`` with ε from seeds ``seed …``. Returns ``images
    [N·n, 3, H, W]`` (map-major); extras ``codes [N·n, z_dim]`` (None without VAE), ``labels``,
    ``grid_shape (N, n)``.
    """
    _check_spade(G, "synthesize")
    n = check_count(n, "images", "n (styles per label map)")
    if not isinstance(sample_style, bool):
        raise ValueError(f"sample_style must be true or false, got {sample_style!r}")
    labels, labels_record = resolve_labels(G, labels, palette)
    count = labels.shape[0]
    check_count(count * n, "images", "label maps × n")
    style_record = None
    with torch.no_grad():
        if not G.use_vae:
            if n != 1 or style is not None:
                raise ValueError(
                    "this SPADE has no VAE (use_vae false): it paints one image per label map, so n must be 1 and "
                    "style must be None"
                )
            images, codes = G.synthesize_labels(labels), None
        else:
            if style is None:
                if sample_style:
                    raise ValueError("sample_style samples around a reference's code: give style too")
                z = z_from_seeds(_seed_range(seed, n), G.z_dim)[None].expand(count, -1, -1)  # [N, n, z_dim]
            else:
                if n != 1 and not sample_style:
                    raise ValueError(
                        f"a reference gives one style code (its mu), so n={n} images would be identical; pass "
                        "sample_style=True (CLI: --sample-style) for n codes around it, or n=1"
                    )
                z, style_record = _reference_codes(G, style, _seed_range(seed, n) if sample_style else None)
                if z.shape[0] not in (1, count):
                    raise ValueError(f"style has {z.shape[0]} reference images for {count} label maps; give one, or one per map")
                z = z.expand(count, -1, -1)
            codes = z.reshape(count * n, -1)
            images = G.synthesize_labels(labels.repeat_interleave(n, dim=0), z=codes)
    return Result(
        images=images, extras={"codes": codes, "labels": labels, "grid_shape": (count, n)},
        recorded={"labels": labels_record, "style": style_record},
    )  # fmt: skip


@register_method("spade.repaint", latent=False)
def repaint(
    G,
    labels: LabelsLike,
    region: RegionLike,
    to: int | str,
    seed: int = 0,
    style: torch.Tensor | str | None = None,
    neighbourhood: int = 4,
    class_names: ClassNames = None,
    palette: PaletteLike = None,
) -> Result:
    """Paint ``region`` of the label map with class ``to`` and regenerate with the same style code.

    labels: class ids (any :func:`synthesize` form but one-hot). region: a Region, mask or spec at the
    label map's size (painted where the mask >= 0.5; ``part:NAME`` = the map's pixels of class NAME). to:
    a class id, or a name in ``class_names`` (a list or a world name, e.g. ``"scenes"``). The style code of
    map j is seed ``seed + j`` (or the reference ``style``'s mu). Returns ``images [N, 3, H, W]`` (after);
    extras ``before`` (the images of the original map), ``labels`` / ``labels_before``, ``mask`` (the pixels
    whose class changed, ``[N, 1, H, W]``), ``neighbourhood`` (``mask`` grown by ``neighbourhood`` pixels),
    ``in_mse`` / ``out_mse`` ``[N]`` (CIELAB, inside / outside that neighbourhood), ``reach`` (the pixels
    the change can reach through the network at all: outside it the image is exactly unchanged), ``codes``.
    """
    _check_spade(G, "repaint")
    side = max(G.img_resolution, G.img_width)
    neighbourhood = integer(neighbourhood, "neighbourhood (pixels around the repainted region)", 0, side)
    labels, labels_record = resolve_labels(G, labels, palette)
    reg, region_record = resolve_label_region(region, labels, class_names)
    new, changed = repaint_labels(labels, reg, to, class_names, G.num_classes)
    count = new.shape[0]
    labels = labels.expand(count, -1, -1)
    style_record = None
    with torch.no_grad():
        z = None
        if G.use_vae:
            if style is None:
                z = z_from_seeds(_seed_range(seed, count), G.z_dim)
            else:
                codes, style_record = _reference_codes(G, style, None)
                if codes.shape[0] not in (1, count):
                    raise ValueError(f"style has {codes.shape[0]} reference images for {count} label maps; give one, or one per map")
                z = codes[:, 0].expand(count, -1)
        elif style is not None:
            raise ValueError("this SPADE has no VAE (use_vae false): it takes no style; leave style out")
        before = G.synthesize_labels(labels, z=z)
        after = G.synthesize_labels(new, z=z)
    changed = changed.to(after.device)
    near = dilate(changed, neighbourhood)
    in_mse, out_mse = in_out_mse(before, after, near.float())
    extras = {
        "before": before, "labels": new, "labels_before": labels, "mask": changed.float(), "neighbourhood": near.float(),
        "in_mse": in_mse, "out_mse": out_mse, "reach": label_reach(G, changed), "codes": z,
    }  # fmt: skip
    return Result(images=after, extras=extras, recorded={"labels": labels_record, "region": region_record, "style": style_record})


def _resolve_partition(regions: RegionsLike, labels: torch.Tensor, class_names: ClassNames) -> tuple[RegionSet, Any]:
    """A ``regions`` argument -> ``(RegionSet [N|1, K, H, W] at the label map's size, record)``: a RegionSet or
    ``[N, K, H, W]`` tensor as it is, else one region or a list -> ``[background, r0, r1, …]`` (later win)."""
    size = tuple(labels.shape[-2:])
    if isinstance(regions, RegionSet) or (isinstance(regions, torch.Tensor) and regions.ndim == 4 and regions.shape[1] > 1):
        partition = regions if isinstance(regions, RegionSet) else RegionSet(regions)
        if partition.size != size:
            raise RegionError(f"regions are {partition.size[0]}×{partition.size[1]} but the label map is {size[0]}×{size[1]}")
        return partition, partition
    items = list(regions) if isinstance(regions, (list, tuple)) else [regions]
    if not items or len(items) > MAX_REGIONS:
        raise RegionError(f"regions must name 1 to {MAX_REGIONS} regions, got {len(items)}")
    resolved = [resolve_label_region(v, labels, class_names, f"regions[{i}]") for i, v in enumerate(items)]
    partition = RegionSet.from_regions([r for r, _ in resolved])
    records = [rec for _, rec in resolved]
    return partition, (records if isinstance(regions, (list, tuple)) else records[0])


@register_method("spade.region_styles", latent=False)
def region_styles(
    G,
    labels: LabelsLike,
    regions: RegionsLike,
    styles: Sequence[StyleLike],
    class_names: ClassNames = None,
    palette: PaletteLike = None,
) -> Result:
    """Per-region styles: region k painted in ``styles[k]`` (a seed, or a reference image's mu).

    regions: a partition (RegionSet / ``[N, K, H, W]``), or one region or a list that becomes
    ``[background, r0, r1, …]`` (later regions win overlaps) — then ``styles[0]`` is the background's.
    The K codes blend SPADE's VAE input tensor by each region's share of every input cell
    (``SPADEModel.input_features``): a style's precision is one input cell (``2^k`` pixels), while the
    label map keeps every region's class pixel-exact. Returns ``images [N, 3, H, W]``; extras ``masks``
    (the partition), ``codes [K, z_dim]``, ``labels``.
    """
    _check_spade(G, "region_styles")
    _needs_vae(G, "per-region styles")
    if isinstance(styles, (str, torch.Tensor)) or not isinstance(styles, (list, tuple)):
        raise ValueError("styles must be a list with one style per region (a seed or a reference image), e.g. [3, 11]")
    labels, labels_record = resolve_labels(G, labels, palette)
    ids = labels.argmax(dim=1) if labels.is_floating_point() else labels
    partition, regions_record = _resolve_partition(regions, ids, class_names)
    if len(styles) != partition.k:
        names = list(partition.names or [])
        raise ValueError(
            f"styles has {len(styles)} entries but there are K={partition.k} regions {names}; give one style per "
            "region in order (the background first)"
        )
    codes, records = [], []
    with torch.no_grad():
        for k, style in enumerate(styles):
            if isinstance(style, int) and not isinstance(style, bool):
                codes.append(z_from_seeds([check_seed(style, f"styles[{k}]")], G.z_dim).to(G.device))
                records.append(style)
            else:
                z, record = _reference_codes(G, style, None)
                if z.shape[0] != 1:
                    raise ValueError(f"styles[{k}] holds {z.shape[0]} reference images; give one image per style")
                codes.append(z[:, 0])
                records.append(record)
        z = torch.cat(codes)  # [K, z_dim]
        images = G.synthesize_labels(labels, z=z[None], z_masks=partition.masks)
    return Result(
        images=images, extras={"masks": partition.masks, "codes": z, "labels": labels},
        recorded={"labels": labels_record, "regions": regions_record, "styles": records},
    )  # fmt: skip
