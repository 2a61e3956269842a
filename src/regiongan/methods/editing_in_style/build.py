"""Building a catalog (Collins et al. 2020, §3.1): sample, cluster one layer, measure every style channel.

Run N seeded samples, take the activations ``A [N, C, H, W]`` of one conv layer (default: the first
32×32 one), cluster the per-pixel channel vectors with spherical k-means (:mod:`.kmeans`) into K
clusters, then, in one more pass over all N samples, accumulate for every control point the contribution
matrix ``M_l [K, C_l]`` (:mod:`.contributions`). With a part parser the clusters are named after the
parts they overlap best (:mod:`.agreement`), and the agreement is stored in ``catalog.info``.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from ... import limits
from ...identity import model_record
from ...latents import check_latent_model, check_truncation_psi
from ...validate import finite
from .agreement import PartOverlap, agreement_json, json_float, match_clusters_to_parts
from .catalog import Catalog
from .contributions import ContributionAccumulator, hard_memberships
from .errors import CatalogError, check_count
from .features import catalog_layers, default_catalog_layer, sample_codes, sample_features, style_input_features
from .kmeans import spherical_kmeans

__all__ = ["build_catalog"]


def build_catalog(
    G,
    samples: int = 1000,
    k: int = 16,
    layer: str | None = None,
    *,
    seed: int = 0,
    truncation_psi: float = 1.0,
    batch_size: int = 16,
    epochs: int = 10,
    tol: float = 1e-4,
    fit_samples: int | None = 200,
    kmeans_batch: int | None = 4096,
    cache_mb: float = 256,
    parser=None,
    part_groups: Mapping[str, Sequence[str]] | None = None,
    min_iou: float = 0.05,
    min_part_iou: float = 0.0,
    names: Mapping[str, int | Sequence[int]] | None = None,
    progress: bool = True,
) -> Catalog:
    """Build a semantic catalog of ``G``.

    Args:
        G: any generator (:class:`~regiongan.generators.base.Generator`) whose ``synthesize`` returns
            features; unconditional (``c_dim = 0``).
        samples: N, images whose activations make the contribution matrices (z from
            :func:`~.features.sample_codes` with ``seed``, constant noise, ``truncation_psi``).
        k: number of clusters K.
        layer: the conv layer to cluster (default :func:`~.features.default_catalog_layer`; the valid ones
            are :func:`~.features.catalog_layers`).
        batch_size: images per forward pass.
        epochs, tol, kmeans_batch: :func:`~.kmeans.spherical_kmeans` (``kmeans_batch=None``: full-batch Lloyd).
        fit_samples: k-means runs on the pixels of the first ``fit_samples`` of the N images (None: all
            N). Their activations at ``layer`` stream in batches; if they take at most ``cache_mb`` MiB they
            are kept after the first epoch (cost ``fit_samples + N`` forward passes), otherwise every epoch
            re-generates them (``epochs·fit_samples + N``) and memory stays ``O(batch)``. The membership /
            contribution pass always covers all N.
        parser: optional part parser (``part_names``, ``parse(images [N, 3, R, R]) -> [N, R, R]``);
            clusters are then named after the part of best IoU, if at least ``min_iou``, and a part
            only if the union of its clusters has an IoU of at least ``min_part_iou``
            (:func:`~.agreement.match_clusters_to_parts`, ``part_groups``); the in-sample agreement
            is stored in ``catalog.info["agreement"]``.
        names: explicit names ``{part: [ids]}`` (applied after the automatic ones).
        progress: tqdm bars.

    Returns:
        :class:`~.catalog.Catalog` with ``centroids [K, C]`` and ``contributions {control point: [K, C_l]}``;
        the same arguments give the same catalog.
    """
    check_latent_model(G, "build_catalog")
    samples = limits.check_count(samples, "samples", "samples")
    k = check_count(k, "k (number of clusters)", 2)
    batch_size = check_count(batch_size, "batch_size", 1)
    truncation_psi = check_truncation_psi(truncation_psi)
    cache_mb = finite(cache_mb, "cache_mb", 0, error=CatalogError)
    min_iou = finite(min_iou, "min_iou", 0, 1, error=CatalogError)
    min_part_iou = finite(min_part_iou, "min_part_iou", 0, 1, error=CatalogError)
    if getattr(G, "c_dim", 0):
        raise CatalogError("catalogs of class-conditional models are not supported yet (c_dim > 0)")
    valid = catalog_layers(G)
    layer = default_catalog_layer(G) if layer is None else layer
    if layer not in valid:
        raise CatalogError(f"unknown catalog layer {layer!r}; the layers of this model are {valid}")
    point = next(p for p in G.control_points() if p.name == layer)
    n_vectors = samples * point.resolution**2
    if k > n_vectors:
        raise CatalogError(
            f"K={k} clusters but only {n_vectors} vectors ({samples} samples × {point.resolution}×{point.resolution} "
            f"pixels at {layer}); use K <= {n_vectors} or more samples"
        )
    n_fit = samples if fit_samples is None else min(check_count(fit_samples, "fit_samples", 1), samples)
    inputs = style_input_features(G)
    z = sample_codes(G, samples, seed)
    gen = torch.Generator().manual_seed(seed)

    # k-means streams the fit images' activations; when they fit in ``cache_mb`` they are kept after the
    # first epoch, so later epochs cost no forward pass (otherwise every epoch re-generates them).
    cache: list[torch.Tensor] = []
    cacheable = n_fit * point.resolution**2 * point.out_channels * 4 <= cache_mb * 2**20
    cache_done = [False]

    def fit_chunks() -> Iterator[torch.Tensor]:
        if cache_done[0]:
            yield from cache
            return
        bar = tqdm(total=n_fit, desc="catalog: k-means", unit="img", disable=not progress, leave=False)
        for s in range(0, n_fit, batch_size):
            a = sample_features(G, z[s : s + batch_size], truncation_psi).features[layer]
            bar.update(a.shape[0])
            chunk = a.permute(0, 2, 3, 1).reshape(-1, a.shape[1]).cpu()
            if cacheable:
                cache.append(chunk)
            yield chunk
        bar.close()
        cache_done[0] = cacheable

    km = spherical_kmeans(
        fit_chunks, k, epochs=epochs, tol=tol, batch_size=kmeans_batch, generator=gen,
        init_size=max(16384, 64 * k),
    )  # fmt: skip
    cache.clear()
    centroids = km.centroids

    # One pass over all N: memberships, contribution sums, cluster sizes, parser overlap.
    feature_names = sorted({f for f in inputs.values() if f is not None})
    channels = {p.name: p.out_channels for p in G.control_points()}
    accs = {f: ContributionAccumulator(k, channels[f]) for f in feature_names}
    sizes = torch.zeros(k, dtype=torch.float64)
    overlap = PartOverlap(k, parser.part_names) if parser is not None else None
    bar = tqdm(total=samples, desc="catalog: contributions", unit="img", disable=not progress, leave=False)
    for s in range(0, samples, batch_size):
        out = sample_features(G, z[s : s + batch_size], truncation_psi)
        u = hard_memberships(out.features[layer], centroids.to(out.image.device))
        sizes += u.sum(dim=(0, 2, 3)).double().cpu()
        for f in feature_names:
            accs[f].update(out.features[f], u)
        if overlap is not None:
            with torch.no_grad():
                overlap.update(u, parser.parse(out.image))
        bar.update(u.shape[0])
    bar.close()
    matrices = {f: accs[f].compute() for f in feature_names}
    contributions = {
        p.name: (matrices[inputs[p.name]].clone() if inputs[p.name] is not None else torch.zeros(k, p.channels))
        for p in G.control_points()
    }
    info: dict[str, Any] = {
        "samples": samples, "seed": seed, "truncation_psi": float(truncation_psi), "noise_mode": "const",
        "z": "torch.Generator().manual_seed(seed), torch.randn([samples, z_dim])",
        "kmeans": {
            "fit_samples": n_fit, "max_epochs": epochs, "epochs": km.epochs, "tol": tol, "batch_size": kmeans_batch,
            "converged": km.converged, "shift": json_float(km.shift), "mean_similarity": json_float(km.mean_similarity),
            "reseeded": km.reseeded,
        },
        "cluster_fraction": [float(v) for v in (sizes / sizes.sum()).tolist()],
        "constant_input_layers": [n for n, f in inputs.items() if f is None],
    }  # fmt: skip
    catalog = Catalog(centroids=centroids.cpu(), layer=layer, contributions=contributions, model=model_record(G), info=info)
    if overlap is not None:
        result = match_clusters_to_parts(
            overlap.inter, overlap.cluster_area, overlap.part_area, overlap.part_names, part_groups,
            min_iou=min_iou, min_part_iou=min_part_iou,
        )  # fmt: skip
        catalog.name_clusters(result["names"])
        info["agreement"] = agreement_json(result, samples, "in-sample (the catalog's own samples)")
        info["agreement"].update(min_iou=min_iou, min_part_iou=min_part_iou)
    if names:
        catalog.name_clusters(names)
    return catalog
