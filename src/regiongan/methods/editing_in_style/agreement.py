"""How well a catalog's clusters find a part parser's parts: overlap counts, naming by IoU, the metric.

On the procedural worlds a part parser knows the true parts. Overlaying every cluster (upsampled to the
image) on the parser's labels of the same images gives pixel counts ``[K, P]``; each cluster is named
after the part with which its IoU is largest (at least ``min_iou``), and the IoU of every part with the
union of its clusters measures the agreement.

    PartOverlap(k, part_names)                     update(memberships, labels): pixel counts [K, P]
    match_clusters_to_parts(inter, ...)            names {part: [ids]}, per-part IoU, mIoU
    cluster_agreement(catalog, G, parser, ...)     the same on fresh samples of the model
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch

from ... import limits
from ...latents import check_truncation_psi
from ...ops.masks import resize_mask
from .catalog import Catalog
from .errors import check_count
from .features import sample_codes, sample_features

__all__ = [
    "DEFAULT_PART_GROUPS", "PartOverlap", "parser_part_groups", "match_clusters_to_parts", "agreement_json",
    "json_float", "cluster_agreement",
]  # fmt: skip

#: Parser parts merged into one catalog part when naming clusters (both eyes are one semantic part).
DEFAULT_PART_GROUPS: Mapping[str, tuple[str, ...]] = {"eyes": ("eye_left", "eye_right")}


class PartOverlap:
    """Accumulates, over images, the pixel overlap of K clusters with P parser parts at image resolution."""

    def __init__(self, k: int, part_names: Sequence[str]) -> None:
        self.part_names = list(part_names)
        self.inter = torch.zeros(k, len(part_names), dtype=torch.float64)
        self.cluster_area = torch.zeros(k, dtype=torch.float64)
        self.part_area = torch.zeros(len(part_names), dtype=torch.float64)

    def update(self, memberships: torch.Tensor, labels: torch.Tensor) -> None:
        """memberships ``[N, K, h, w]`` (any resolution), labels ``[N, H, W]`` int (parser output)."""
        n, k = memberships.shape[:2]
        h, w = labels.shape[-2:]
        cl = resize_mask(memberships.detach().cpu().to(torch.float32), h, w).argmax(dim=1).reshape(-1)
        lab = labels.detach().cpu().reshape(-1).to(torch.int64)
        p = len(self.part_names)
        joint = torch.bincount(cl * p + lab, minlength=k * p).reshape(k, p).double()
        self.inter += joint
        self.cluster_area += joint.sum(dim=1)
        self.part_area += joint.sum(dim=0)


def parser_part_groups(part_names: Sequence[str], groups: Mapping[str, Sequence[str]] | None) -> dict[str, list[int]]:
    """Catalog part name -> parser part ids: the given groups (default :data:`DEFAULT_PART_GROUPS`, where all
    members exist) and every parser part not in a group under its own name."""
    groups = DEFAULT_PART_GROUPS if groups is None else groups
    out: dict[str, list[int]] = {}
    used: set[str] = set()
    for name, members in groups.items():
        if all(m in part_names for m in members):
            out[name] = [part_names.index(m) for m in members]
            used.update(members)
    for i, name in enumerate(part_names):
        if name not in used and name not in out:
            out[name] = [i]
    return out


def match_clusters_to_parts(
    inter: torch.Tensor,
    cluster_area: torch.Tensor,
    part_area: torch.Tensor,
    part_names: Sequence[str],
    part_groups: Mapping[str, Sequence[str]] | None = None,
    min_iou: float = 0.05,
    ignore: Sequence[str] = ("background",),
    min_part_iou: float = 0.0,
) -> dict[str, Any]:
    """Name clusters by best IoU against parts and measure the agreement.

    Args:
        inter: ``[K, P]`` pixel counts of cluster k labelled part p; cluster_area ``[K]``; part_area ``[P]``.
        part_names: the P parser part names; part_groups: catalog parts made of several parser parts
            (default :data:`DEFAULT_PART_GROUPS`: ``eyes = eye_left + eye_right``).
        min_iou: a cluster whose best IoU is lower stays unnamed.
        ignore: groups that never become names (the background is not a part to transfer); clusters whose
            best group is one of them stay unnamed but count for that group in the agreement.
        min_part_iou: a group whose union of clusters has a lower IoU is not named either (its clusters
            still count for it in the agreement): a large part split over many clusters matches none of
            them well, so this, not ``min_iou``, is the test of a name.

    Each cluster goes to the group with which its IoU is largest, if that IoU is at least ``min_iou``
    (clusters are disjoint, so a group's clusters form a union whose IoU follows from the same counts).
    Returns ``names {group: [ids]}``, ``cluster_iou {id: (group, iou)}``, ``per_part_iou {group: IoU of
    its union}`` for every group that occurs, ``miou`` (mean over those groups; 0 for a group without
    clusters) and ``miou_matched`` (mean over groups that received clusters).
    """
    groups = parser_part_groups(list(part_names), part_groups)
    g_names = list(groups)
    g_inter = torch.stack([inter[:, ids].sum(dim=1) for ids in groups.values()], dim=1)  # [K, G]
    g_area = torch.stack([part_area[ids].sum() for ids in groups.values()])  # [G]
    iou = g_inter / (cluster_area[:, None] + g_area[None, :] - g_inter).clamp_min(1.0)  # [K, G]
    names: dict[str, list[int]] = {}
    assigned: dict[str, list[int]] = {}  # names + the ignored groups (they count in the agreement only)
    cluster_iou: dict[int, tuple[str, float]] = {}
    for kk in range(iou.shape[0]):
        best = int(iou[kk].argmax())
        group, value = g_names[best], float(iou[kk, best])
        cluster_iou[kk] = (group, value)
        if value >= min_iou:
            assigned.setdefault(group, []).append(kk)
            if group not in ignore:
                names.setdefault(group, []).append(kk)
    per_part: dict[str, float] = {}
    for gi, g in enumerate(g_names):
        if float(g_area[gi]) <= 0:
            continue
        ids = assigned.get(g, [])
        i_sum = float(g_inter[ids, gi].sum()) if ids else 0.0
        a_sum = float(cluster_area[ids].sum()) if ids else 0.0
        per_part[g] = i_sum / max(a_sum + float(g_area[gi]) - i_sum, 1.0)
    matched = [per_part[g] for g in per_part if assigned.get(g)]
    return {
        "names": {g: sorted(v) for g, v in names.items() if per_part.get(g, 0.0) >= min_part_iou},
        "cluster_iou": cluster_iou,
        "per_part_iou": per_part,
        "miou": sum(per_part.values()) / len(per_part) if per_part else float("nan"),
        "miou_matched": sum(matched) / len(matched) if matched else float("nan"),
    }


def json_float(x: float) -> float | None:
    """``x`` as a float, or None when it is NaN or infinite (JSON has neither)."""
    return float(x) if math.isfinite(x) else None


def agreement_json(result: dict[str, Any], samples: int, note: str) -> dict[str, Any]:
    """The JSON form of a :func:`match_clusters_to_parts` result, as a catalog's ``info["agreement"]``."""
    return {
        "samples": samples, "note": note, "miou": json_float(result["miou"]), "miou_matched": json_float(result["miou_matched"]),
        "per_part_iou": {g: round(v, 6) for g, v in result["per_part_iou"].items()},
        "cluster_best_part": {str(kk): [g, round(v, 6)] for kk, (g, v) in result["cluster_iou"].items()},
    }  # fmt: skip


def cluster_agreement(
    catalog: Catalog,
    G,
    parser,
    samples: int = 200,
    *,
    seed: int = 1,
    truncation_psi: float = 1.0,
    batch_size: int = 16,
    part_groups: Mapping[str, Sequence[str]] | None = None,
    min_iou: float = 0.05,
) -> dict[str, Any]:
    """How well the catalog's clusters recover a part parser's parts on fresh samples.

    The clusters of ``samples`` new images (z from ``torch.Generator().manual_seed(seed)``) are matched to
    the parser's parts by best IoU (:func:`match_clusters_to_parts`). Returns ``miou`` (mean IoU over the
    parts that occur, after matching), ``miou_matched``, ``per_part_iou``, ``matched_names``
    ``{part: [ids]}``, ``cluster_iou`` and, for catalog names that are also parser parts, ``named_iou``
    (IoU of the catalog's own naming).
    """
    catalog.check_model(G)
    samples = limits.check_count(samples, "samples", "samples")
    truncation_psi = check_truncation_psi(truncation_psi)
    batch_size = check_count(batch_size, "batch_size", 1)
    overlap = PartOverlap(catalog.k, parser.part_names)
    z = sample_codes(G, samples, seed)
    with torch.no_grad():
        for s in range(0, samples, batch_size):
            out = sample_features(G, z[s : s + batch_size], truncation_psi)
            overlap.update(catalog.memberships(out.features), parser.parse(out.image))
    result = match_clusters_to_parts(
        overlap.inter, overlap.cluster_area, overlap.part_area, overlap.part_names, part_groups, min_iou=min_iou
    )
    groups = parser_part_groups(list(parser.part_names), part_groups)
    named_iou = {}
    for name, ids in catalog.names.items():
        if name in groups:
            pid = groups[name]
            inter = float(overlap.inter[ids][:, pid].sum())
            union = float(overlap.cluster_area[ids].sum() + overlap.part_area[pid].sum()) - inter
            named_iou[name] = inter / max(union, 1.0)
    return {
        "samples": samples, "seed": seed, "miou": result["miou"], "miou_matched": result["miou_matched"],
        "per_part_iou": result["per_part_iou"], "matched_names": result["names"], "cluster_iou": result["cluster_iou"],
        "named_iou": named_iou,
    }  # fmt: skip
