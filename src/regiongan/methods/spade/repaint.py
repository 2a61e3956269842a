"""Repainting a label map, and where a repaint can change SPADE's image.

* :func:`resolve_label_region` — a ``region`` argument (a :class:`~regiongan.regions.Region`, a mask
  tensor, or a spec string) -> a Region at the label map's ``H × W``. ``part:NAME`` selects the label
  map's own pixels of class NAME (class names from ``class_names``), e.g. ``part:water+box:0,40,64,64``;
  the other forms are :func:`~regiongan.regions.parse_region`'s. Recipes store spec strings as they are,
  except ``mask:`` / ``label:`` specs (they read a file), which are stored as the mask.
* :func:`repaint_labels` — paint the region (pixels where the mask is >= 0.5) with one class.
* :func:`label_reach` — the pixels of the image whose value can depend on the labels in a changed set,
  computed from the network's structure (a sound over-approximation: outside it the image is *exactly*
  unchanged when the style code is the same and the norms are batch norms in eval mode).
* :func:`dilate` — a mask grown by ``r`` pixels (the "neighbourhood" of In/Out-MSE).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...generators.spade_blocks import parse_spade_norm
from ...regions import Region, RegionError, parse_region
from ..inputs import RegionLike, as_region
from .labels import ClassNames, class_ids, class_names_of

__all__ = ["resolve_label_region", "repaint_labels", "label_reach", "dilate", "PAINT_THRESHOLD"]

#: A soft region paints the pixels where its mask is at least this.
PAINT_THRESHOLD = 0.5
_FILE_FORMS = ("mask:", "label:")


def resolve_label_region(
    value: RegionLike, labels: torch.Tensor, class_names: ClassNames = None, what: str = "region"
) -> tuple[Region, object]:
    """A region argument -> ``(Region [N|1, 1, H, W] at the label map's size, what a recipe stores)``.

    labels: class ids ``[N, H, W]`` (what ``part:`` terms select from).
    """
    size = (int(labels.shape[-2]), int(labels.shape[-1]))
    if isinstance(value, str):
        names = class_names_of(class_names)
        parts = {n: i for i, n in enumerate(names)} if names is not None else None
        if "part:" in value and parts is None:
            raise RegionError(
                f"{what} {value!r}: part: terms select classes of the label map by name, which needs class names "
                "(class_names='scenes' or a list; CLI: --world)"
            )
        region = parse_region(value, size, labels=labels if parts is not None else None, part_names=parts)
        keep_spec = not any(f in value for f in _FILE_FORMS)
        return region, (value if keep_spec else region)
    region = as_region(value, size, what, f"the label map is {size[0]}x{size[1]}", example="'part:water'")
    return region, region


def repaint_labels(
    labels: torch.Tensor, region: Region, to: int | str, class_names: ClassNames = None, num_classes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paint ``region`` of ``labels`` with class ``to`` (an id, or a name looked up in ``class_names``).

    labels: class ids ``[N, H, W]``; region: ``[N|1, 1, H, W]`` (painted where the mask >= 0.5).
    Returns ``(new labels [N', H, W] long, changed [N', 1, H, W] bool)`` — ``changed`` marks the pixels whose
    class changed (``N'`` = the larger batch). A repaint that changes no pixel is an error.
    """
    if labels.is_floating_point() or labels.ndim != 3:
        raise ValueError(f"repaint needs class ids [N, H, W] (integer), got {labels.dtype} {tuple(labels.shape)}")
    (cls,) = class_ids(to, class_names, "to")
    if num_classes is not None and cls >= num_classes:
        raise ValueError(f"class {to!r} (id {cls}) is out of range: this model has {num_classes} classes (ids 0..{num_classes - 1})")
    inside = region.mask.to(labels.device) >= PAINT_THRESHOLD  # [N|1, 1, H, W]
    n = max(labels.shape[0], inside.shape[0])
    labels = labels.long().expand(n, -1, -1)
    inside = inside.expand(n, -1, -1, -1)
    new = torch.where(inside[:, 0], torch.full_like(labels, cls), labels)
    changed = (new != labels)[:, None]
    if not bool(changed.any()):
        painted = int(inside.sum())
        why = "the region is empty (or softer than 0.5 everywhere)" if painted == 0 else f"its {painted} pixels are class {cls} already"
        raise ValueError(f"repainting changes no pixel: {why}; choose another region or class")
    return new, changed


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """A boolean / 0-1 mask ``[N, C, H, W]`` grown by ``radius`` pixels (square neighbourhood) -> bool."""
    m = mask.float()
    if radius > 0:
        m = F.max_pool2d(m, 2 * radius + 1, stride=1, padding=radius)
    return m > 0


def label_reach(G, changed: torch.Tensor) -> torch.Tensor:
    """The image pixels ``[N, 1, H, W]`` (bool) whose value can depend on the labels at ``changed``
    ``[N, 1, H, W]`` (bool), when the style code is the same.

    Follows the generator's structure (docs/spade.md): each block sees the label map nearest-resized to
    its resolution (so a block of scale ``s`` reads only every ``s``-th pixel), through SPADE's
    ``k×k`` shared conv and ``k×k`` γ/β convs (radius ``2·(k//2)``); a block's convs each spread a change by
    one pixel; nearest ×2 upsampling doubles it; ``conv_img`` spreads it once more. With instance norm
    (whose statistics are global) any change reaches every pixel.
    """
    norm = parse_spade_norm(G.config["norm_G"])
    geo = G.geometry
    r_label = 2 * (norm.kernel // 2)
    if not bool(changed.any()):
        return torch.zeros_like(changed, dtype=torch.bool)
    if norm.norm == "instance":
        return torch.ones_like(changed, dtype=torch.bool)
    n = changed.shape[0]
    x = torch.zeros(n, 1, geo.sh, geo.sw, dtype=torch.bool, device=changed.device)
    src = changed.float()
    for _, fin, fout, up in geo.blocks:
        if up:
            x = F.interpolate(x.float(), scale_factor=2, mode="nearest") > 0
        seen = F.interpolate(src, size=x.shape[-2:], mode="nearest") > 0  # what this block's SPADE reads
        mod = dilate(seen, r_label)  # γ, β that change
        h0 = dilate(x | mod, 1)  # norm_0 then conv_0
        h1 = dilate(h0 | mod, 1)  # norm_1 then conv_1
        short = (x | mod) if fin != fout else x  # learned shortcut: norm_s then a 1×1 conv
        x = h1 | short
    return dilate(x, 1)  # conv_img
