"""The semantic catalog of Editing in Style (Collins et al., CVPR 2020, §3.1; METHODS.md §2, steps 1–2).

Run N seeded samples, take the activations ``A [N, C, H, W]`` of one conv layer (default: the first 32×32
layer, ``b32.conv0``), cluster the per-pixel channel vectors with **spherical k-means** into K clusters,
and record for every style control point ``l`` the contribution matrix ``M_l [K, C_l]`` (Eq. 1): how much
of each style channel's activation energy falls into each cluster. Clusters can be named and merged into
parts (``catalog.name_clusters({"eyes": [3, 7]})``); with a part parser they are named automatically.

    spherical_kmeans(data, k, ...)          streaming spherical k-means (mini-batch or full-batch Lloyd)
    contribution_matrix(A, U)               Eq. 1 on in-memory tensors (the reference)
    build_catalog(G, samples, k, ...)       -> Catalog: centroids, contribution matrices, names
    Catalog.save(dir) / Catalog.load(dir)   catalog.json + catalog.safetensors (never pickle)
    cluster_agreement(catalog, G, parser)   per-part IoU / mIoU of the clusters against a part parser
    model_fingerprint(G)                    which model a catalog belongs to

Choices the paper leaves open (all documented in ``docs/editing-in-style.md``):

* **Memberships are hard**: ``U[n, k, h, w] = 1`` for the centroid with the largest cosine similarity
  (ties: lowest id), as in the paper's ``U ∈ {0, 1}^{N×K×H×W}``. For another layer ``U`` is resized with
  :func:`regiongan.ops.masks.resize_mask` (area average down, bilinear up), so it stays a partition.
* **Which activation feeds a style**: the style of control point ``l`` scales the *input* of its conv, so
  ``M_l`` uses the activation entering ``l``: the output of the preceding conv layer, at ``in_resolution``.
  ``b4.conv1`` reads the learned constant, which is the same for every sample and not part of the
  generator interface: its contribution matrix is all zeros, so a part transfer never changes the 4×4
  style (a global one).
* **Normalisation of M** (:func:`contribution_matrix`): each channel of ``A_l`` is standardised over all
  of ``(n, h, w)`` with the population variance, ``Â = (A − μ_c) / σ_c``. Then ``Σ_k M[k, c] =
  mean(Â²) = 1`` exactly (the memberships sum to one at every pixel), which is the paper's "M ∈ [0, 1]":
  ``M[k, c]`` reads as the *fraction of channel c's energy that lies in cluster k*. We divide each column by
  its sum anyway (removes rounding, keeps the identity exact); a channel with zero variance (dead) gets a
  zero column: it carries no spatial information, so no query ever selects it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import __version__
from ..checkpoints.files import (
    atomic_write, check_format, check_overwrite, json_writer, read_json, read_safetensors, safetensors_writer,
)  # fmt: skip
from ..ops.masks import resize_mask

__all__ = [
    "CATALOG_FORMAT",
    "CatalogError",
    "Catalog",
    "KMeansResult",
    "spherical_kmeans",
    "kmeans_similarity",
    "assign_clusters",
    "hard_memberships",
    "contribution_matrix",
    "ContributionAccumulator",
    "catalog_layers",
    "default_catalog_layer",
    "style_input_features",
    "build_catalog",
    "cluster_agreement",
    "match_clusters_to_parts",
    "model_fingerprint",
    "DEFAULT_PART_GROUPS",
    "cluster_colors",
    "cluster_preview",
]

CATALOG_FORMAT = "regiongan-catalog"
CATALOG_VERSION = 1
JSON_FILE = "catalog.json"
TENSORS_FILE = "catalog.safetensors"
_NORM_EPS = 1e-12
#: Parser parts merged into one catalog part when naming clusters (both eyes are one semantic part).
DEFAULT_PART_GROUPS: Mapping[str, tuple[str, ...]] = {"eyes": ("eye_left", "eye_right")}

VectorSource = Union[torch.Tensor, Callable[[], Iterable[torch.Tensor]]]


class CatalogError(ValueError):
    """Bad catalog input: unknown layer or part, K larger than the data, a catalog of another model, …"""


# --------------------------------------------------------------------------------------------------
# Model fingerprint


def model_fingerprint(G: torch.nn.Module) -> str:
    """``"sha256:<16 hex>"`` of a model's type, config JSON, the names, dtypes and shapes of all its tensors,
    and 1024 evenly strided values of each of 16 tensors spread over the sorted state dict.

    Retraining, fine-tuning or another architecture changes it, and it costs about a millisecond, so
    :func:`~regiongan.methods.editing_in_style.transfer_part` checks it on every call.
    (``regiongan.recipes.model_digest`` hashes every byte; use it where that matters.)
    """
    h = hashlib.sha256()
    meta = {"model_type": getattr(G, "model_type", type(G).__name__), "config": getattr(G, "config", None)}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    items = sorted(G.state_dict().items())
    h.update("\n".join(f"{name}|{t.dtype}|{tuple(t.shape)}" for name, t in items).encode())
    picked = items[:: max(1, math.ceil(len(items) / 16))]
    samples = [t.detach().reshape(-1)[:: max(1, t.numel() // 1024)][:1024].to("cpu", torch.float64) for _, t in picked]
    if samples:
        h.update(torch.cat(samples).numpy().tobytes())
    return "sha256:" + h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# Spherical k-means


@dataclass
class KMeansResult:
    """centroids: ``[K, C]`` unit vectors; epochs: passes over the data that were run; converged: the last
    pass moved no centroid by more than ``tol`` (``1 − cos``); shift: that largest move; mean_similarity:
    mean cosine of the points to their centroid during the last pass (the objective, higher is better);
    reseeded: how many empty clusters were re-seeded."""

    centroids: torch.Tensor
    epochs: int
    converged: bool
    shift: float
    mean_similarity: float
    reseeded: int = 0


def _unit_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalise the rows of ``[M, C]``; returns (unit rows of the non-zero vectors, keep mask)."""
    x = x.to(torch.float32)
    norms = x.norm(dim=1)
    keep = norms > _NORM_EPS
    return x[keep] / norms[keep, None], keep


def assign_clusters(vectors: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Nearest centroid by cosine similarity: ``vectors [M, C]``, ``centroids [K, C]`` (unit) -> ``[M]`` int64.

    The vectors need not be normalised (the argmax of ``x·c_k`` does not depend on ``‖x‖``); ties and zero
    vectors go to the lowest cluster id.
    """
    if vectors.ndim != 2 or centroids.ndim != 2 or vectors.shape[1] != centroids.shape[1]:
        raise CatalogError(
            f"vectors must be [M, C] and centroids [K, C] with the same C, got {tuple(vectors.shape)} and "
            f"{tuple(centroids.shape)}"
        )
    return (vectors.to(torch.float32) @ centroids.t().to(torch.float32)).argmax(dim=1)


def kmeans_similarity(vectors: torch.Tensor, centroids: torch.Tensor) -> float:
    """The spherical k-means objective: mean over the non-zero rows of ``vectors [M, C]`` of the cosine to
    their nearest centroid (1 = every point on its centroid)."""
    x, _ = _unit_rows(vectors)
    return float((x @ centroids.t()).amax(dim=1).mean()) if len(x) else float("nan")


def _kmeans_pp(pool: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding on unit vectors: the next seed is drawn with probability ∝ ``1 − max cos`` (= half
    the squared Euclidean distance to the nearest seed on the sphere)."""
    first = int(torch.randint(len(pool), (1,), generator=generator))
    seeds = [pool[first]]
    best = pool @ pool[first]
    for j in range(1, k):
        weight = (1.0 - best).clamp_min(0.0).double()
        if float(weight.sum()) <= 1e-12:
            raise CatalogError(
                f"cannot seed K={k} clusters: the {len(pool)} seeding vectors hold only {j} distinct directions; "
                "use a smaller K or more samples"
            )
        idx = int(torch.multinomial(weight, 1, generator=generator))
        seeds.append(pool[idx])
        best = torch.maximum(best, pool @ pool[idx])
    return torch.stack(seeds)


def _check_int(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CatalogError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value


def spherical_kmeans(
    data: VectorSource,
    k: int,
    *,
    epochs: int = 10,
    tol: float = 1e-4,
    batch_size: int | None = 4096,
    init_size: int = 16384,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> KMeansResult:
    """Spherical k-means (Dhillon & Modha 2001): points and centroids on the unit sphere, cosine similarity.

    Args:
        data: ``[M, C]`` vectors, or a callable returning a fresh iterable of ``[m_i, C]`` chunks on every
            call (one call per epoch), so that the M vectors never need to be in memory at once.
        k: number of clusters.
        epochs: maximum passes over the data; stops earlier when no centroid moves by more than ``tol``.
        tol: convergence tolerance on the largest centroid move in a pass, measured as ``1 − cos``.
        batch_size: mini-batch size (Sculley 2010: every centre is the running mean of the points assigned
            to it, updated after each mini-batch; the centroid is its direction). The counts restart every
            pass, so at the end of a pass a centre is the mean of what it received during that pass — a
            streamed Lloyd step with slightly stale assignments; keeping them across passes (Sculley's
            original) freezes the early, noisy assignments and lost up to 7 % of the objective in our tests.
            ``None``: exact full-batch Lloyd iterations (centroid = normalised sum of its members over the
            pass), still streamed.
        init_size: k-means++ seeding runs on this many vectors (a random subset of a tensor; the first
            chunks of a callable).
        generator: all randomness (seeding, shuffling); default ``torch.Generator().manual_seed(0)``.
        progress: a tqdm bar per pass (for a tensor input).

    Zero vectors have no direction: they are skipped in seeding and updates. A cluster that receives no
    point during a pass is re-seeded at the worst-fitting point of the last mini-batch.

    Returns:
        :class:`KMeansResult` with ``centroids [K, C]``.
    """
    k = _check_int(k, "k (number of clusters)", 1)
    epochs = _check_int(epochs, "epochs", 1)
    init_size = _check_int(init_size, "init_size", 1)
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size", 1)
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise CatalogError(f"tol must be a finite number >= 0, got {tol!r}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    if isinstance(data, torch.Tensor):
        if data.ndim != 2:
            raise CatalogError(f"data must be [M, C] vectors, got shape {tuple(data.shape)}")
        if k > data.shape[0]:
            raise CatalogError(f"K={k} clusters but only {data.shape[0]} vectors; use K <= {data.shape[0]}")
        tensor = data

        def chunks() -> Iterator[torch.Tensor]:
            perm = torch.randperm(tensor.shape[0], generator=gen)
            step = batch_size or tensor.shape[0]
            bar = tqdm(total=tensor.shape[0], disable=not progress, desc="k-means", leave=False)
            for i in range(0, tensor.shape[0], step):
                bar.update(min(step, tensor.shape[0] - i))
                yield tensor[perm[i : i + step]]
            bar.close()

    elif callable(data):
        chunks = lambda: iter(data())  # noqa: E731
    else:
        raise CatalogError(f"data must be a [M, C] tensor or a callable yielding chunks, got {type(data).__name__}")

    # ---- seeding (k-means++ on a pool); a callable's first chunks are buffered and replayed in pass 1
    buffered: list[torch.Tensor] = []
    if isinstance(data, torch.Tensor):
        pool_idx = torch.randperm(data.shape[0], generator=gen)[:init_size]
        pool, _ = _unit_rows(data[pool_idx])
    else:
        stream = chunks()
        have = 0
        for chunk in stream:
            buffered.append(chunk)
            have += chunk.shape[0]
            if have >= init_size:
                break
        first_pass_rest = stream
        if not buffered or buffered[0].ndim != 2:
            raise CatalogError("the data callable yielded no [m, C] chunks")
        pool_all = torch.cat(buffered)
        if k > pool_all.shape[0]:
            raise CatalogError(f"K={k} clusters but the data holds only {pool_all.shape[0]} vectors; use a smaller K")
        pool, _ = _unit_rows(pool_all[torch.randperm(pool_all.shape[0], generator=gen)[:init_size]])
    if len(pool) < k:
        raise CatalogError(f"K={k} clusters but only {len(pool)} non-zero vectors to seed them; use a smaller K")
    centroids = _kmeans_pp(pool, k, gen)
    c_dim = centroids.shape[1]
    totals = torch.zeros(k, dtype=torch.float64)  # Sculley's per-centre counts (mini-batch mode)
    means = centroids.clone()  # Sculley's running means (mini-batch mode)

    def minibatches(chunk: torch.Tensor) -> Iterator[torch.Tensor]:
        if chunk.ndim != 2 or chunk.shape[1] != c_dim:
            raise CatalogError(f"every chunk must be [m, {c_dim}], got {tuple(chunk.shape)}")
        if batch_size is None or chunk.shape[0] <= batch_size:
            yield chunk
            return
        perm = torch.randperm(chunk.shape[0], generator=gen)
        for i in range(0, chunk.shape[0], batch_size):
            yield chunk[perm[i : i + batch_size]]

    def epoch_chunks(epoch: int) -> Iterator[torch.Tensor]:
        if epoch == 0 and buffered:
            yield from buffered
            yield from first_pass_rest
        else:
            yield from chunks()

    shift, sim_mean, converged, reseeded, run = math.inf, float("nan"), False, 0, 0
    for epoch in range(epochs):
        old = centroids.clone()
        totals.zero_()
        members = torch.zeros(k, dtype=torch.int64)
        lloyd_sums = torch.zeros(k, c_dim, dtype=torch.float64)
        sim_total, n_total = 0.0, 0
        last_x, last_best = None, None
        for chunk in epoch_chunks(epoch):
            for batch in minibatches(chunk):
                x, _ = _unit_rows(batch)
                if not len(x):
                    continue
                sims = x @ centroids.t()
                best, labels = sims.max(dim=1)
                counts = torch.bincount(labels, minlength=k)
                sums = torch.zeros(k, c_dim).index_add_(0, labels, x)
                members += counts
                sim_total += float(best.sum())
                n_total += len(x)
                last_x, last_best = x, best
                if batch_size is None:
                    lloyd_sums += sums.double()
                    continue
                # Sculley's update: each centre is the running mean of every point it was ever assigned
                # (kept unnormalised in ``means``); the centroid is its direction.
                totals += counts.double()
                hit = counts > 0
                step = (sums[hit] - counts[hit, None].float() * means[hit]) / totals[hit, None].float()
                means[hit] = means[hit] + step
                centroids[hit] = F.normalize(means[hit], dim=1)
        if n_total == 0:
            raise CatalogError("the data holds no non-zero vectors to cluster")
        if batch_size is None:
            hit = members > 0
            centroids[hit] = F.normalize(lloyd_sums[hit].float(), dim=1)
        empty = (members == 0).nonzero().flatten()
        if len(empty) and last_x is not None:
            # Re-seed empty clusters at the worst-fitting points of the last mini-batch.
            worst = last_best.argsort()[: len(empty)]
            centroids[empty[: len(worst)]] = last_x[worst]
            means[empty[: len(worst)]] = last_x[worst]
            totals[empty] = 0.0
            reseeded += len(worst)
        run = epoch + 1
        sim_mean = sim_total / n_total
        shift = float((1.0 - (old * centroids).sum(dim=1)).max())
        if shift <= tol and not len(empty):
            converged = True
            break
    return KMeansResult(
        centroids=centroids.contiguous(), epochs=run, converged=converged, shift=shift, mean_similarity=sim_mean,
        reseeded=reseeded,
    )  # fmt: skip


def hard_memberships(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Cluster memberships ``U [N, K, H, W]`` (float32 one-hot) of the pixels of ``features [N, C, H, W]``."""
    if features.ndim != 4 or features.shape[1] != centroids.shape[1]:
        raise CatalogError(
            f"features must be [N, {centroids.shape[1]}, H, W] (the catalog layer's channels), got {tuple(features.shape)}"
        )
    n, c, h, w = features.shape
    labels = assign_clusters(features.permute(0, 2, 3, 1).reshape(-1, c), centroids)
    return F.one_hot(labels, centroids.shape[0]).reshape(n, h, w, -1).permute(0, 3, 1, 2).to(torch.float32)


# --------------------------------------------------------------------------------------------------
# Contribution matrix (Eq. 1)


class ContributionAccumulator:
    """Streams Eq. 1 over batches: ``M[k, c] = mean_{n,h,w} Â[n,c,h,w]² U[n,k,h,w]`` with ``Â`` standardised
    per channel over all of (n, h, w).

    Standardising needs the global mean and variance, which are only known at the end, so it keeps the raw
    sums ``S0[k] = Σ U``, ``S1[k, c] = Σ A U``, ``S2[k, c] = Σ A² U`` (float64) and expands
    ``Σ (A − μ)² U = S2 − 2 μ S1 + μ² S0``: one pass, memory ``O(K·C)``.
    """

    def __init__(self, k: int, channels: int) -> None:
        self.k, self.channels = k, channels
        self.s0 = torch.zeros(k, dtype=torch.float64)
        self.s1 = torch.zeros(k, channels, dtype=torch.float64)
        self.s2 = torch.zeros(k, channels, dtype=torch.float64)
        self.a1 = torch.zeros(channels, dtype=torch.float64)
        self.a2 = torch.zeros(channels, dtype=torch.float64)
        self.count = 0

    def update(self, activations: torch.Tensor, memberships: torch.Tensor) -> None:
        """activations ``[N, C, h, w]``; memberships ``[N, K, H', W']`` at any resolution (resized here)."""
        a = activations.to(torch.float32)
        if a.ndim != 4 or a.shape[1] != self.channels:
            raise CatalogError(f"activations must be [N, {self.channels}, h, w], got {tuple(a.shape)}")
        if memberships.ndim != 4 or memberships.shape[:2] != (a.shape[0], self.k):
            raise CatalogError(
                f"memberships must be [{a.shape[0]}, {self.k}, H, W] for activations {tuple(a.shape)}, "
                f"got {tuple(memberships.shape)}"
            )
        n, c, h, w = a.shape
        u = resize_mask(memberships.to(torch.float32), h, w).reshape(n, self.k, h * w)
        both = torch.cat([a, a.square()], dim=1).reshape(n, 2 * c, h * w)  # [N, 2C, hw]: A and A²
        sums = torch.bmm(u, both.transpose(1, 2)).sum(dim=0).double()  # [K, 2C] (3x faster than einsum)
        self.s0 += u.sum(dim=(0, 2)).double()
        self.s1 += sums[:, :c]
        self.s2 += sums[:, c:]
        totals = both.sum(dim=(0, 2)).double()
        self.a1 += totals[:c]
        self.a2 += totals[c:]
        self.count += a.shape[0] * a.shape[2] * a.shape[3]

    def compute(self) -> torch.Tensor:
        """``M [K, C]`` float32: every column sums to 1 (0 for dead channels), see the module docstring."""
        if self.count == 0:
            raise CatalogError("no activations were accumulated")
        mu = self.a1 / self.count
        var = (self.a2 / self.count - mu.square()).clamp_min(0.0)
        energy = self.s2 - 2.0 * mu * self.s1 + mu.square() * self.s0[:, None]  # Σ (A − μ)² U
        m = energy.clamp_min(0.0) / (var * self.count).clamp_min(1e-300)  # mean of Â² U
        dead = var <= 1e-12 * (1.0 + mu.square())
        col = m.sum(dim=0, keepdim=True)
        m = torch.where(dead[None, :], torch.zeros_like(m), m / col.clamp_min(1e-300))
        return m.to(torch.float32)


def contribution_matrix(activations: torch.Tensor, memberships: torch.Tensor) -> torch.Tensor:
    """Eq. 1 on in-memory tensors: ``activations [N, C, h, w]``, hard or soft ``memberships [N, K, H, W]``
    (resized to ``h×w`` with :func:`~regiongan.ops.masks.resize_mask`) -> ``M [K, C]``, columns summing to 1.

    ``M[k, c] = mean_{n,h,w} Â[n,c,h,w]² U[n,k,h,w]`` with ``Â = (A − μ_c) / σ_c`` over all (n, h, w)
    (population σ), then each column divided by its sum (already 1 up to rounding); dead channels: 0.
    """
    acc = ContributionAccumulator(memberships.shape[1], activations.shape[1])
    acc.update(activations, memberships)
    return acc.compute()


# --------------------------------------------------------------------------------------------------
# Layers


def catalog_layers(G) -> list[str]:
    """Names of the layers whose activations can be clustered: the conv control points (their outputs)."""
    return [p.name for p in G.control_points() if p.kind == "conv"]


def default_catalog_layer(G) -> str:
    """The first conv layer at resolution ``min(32, img_resolution)`` (the paper's "first 32×32 layer")."""
    target = min(32, G.img_resolution)
    for p in G.control_points():
        if p.kind == "conv" and p.resolution == target:
            return p.name
    return catalog_layers(G)[-1]


def style_input_features(G) -> dict[str, str | None]:
    """For each control point, the conv layer whose output its style scales (None for ``b4.conv1``,
    which reads the learned constant). Derived from the control point order: the closest preceding conv."""
    out: dict[str, str | None] = {}
    last = None
    for p in G.control_points():
        if last is not None and (last.resolution != p.in_resolution or last.out_channels != p.channels):
            raise CatalogError(
                f"cannot tell which activation feeds {p.name} ({p.channels} channels at {p.in_resolution}²): the "
                f"preceding conv layer {last.name} outputs {last.out_channels} channels at {last.resolution}²"
            )
        out[p.name] = None if last is None else last.name
        if p.kind == "conv":
            last = p
    return out


# --------------------------------------------------------------------------------------------------
# The catalog


PartSpec = Union[str, int, Sequence[int]]


@dataclass
class Catalog:
    """A semantic catalog of one model.

    centroids: ``[K, C]`` unit vectors at ``layer``; contributions: per control point name ``M_l [K, C_l]``
    (columns sum to 1, see the module docstring); fingerprint: :func:`model_fingerprint` of the model it
    was built from; names: ``{part: [cluster ids]}``; info: how it was built (JSON values).
    """

    centroids: torch.Tensor
    layer: str
    contributions: dict[str, torch.Tensor]
    fingerprint: str
    names: dict[str, list[int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.centroids.ndim != 2:
            raise CatalogError(f"centroids must be [K, C], got {tuple(self.centroids.shape)}")
        for name, m in self.contributions.items():
            if m.ndim != 2 or m.shape[0] != self.k:
                raise CatalogError(f"contribution matrix {name} must be [K={self.k}, C], got {tuple(m.shape)}")
        names, self.names = self.names, {}
        self.name_clusters(names)

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    # ---- naming
    def name_clusters(self, mapping: Mapping[str, int | Sequence[int]], replace: bool = False) -> Catalog:
        """Name (and so merge) clusters: ``{"eyes": [3, 7], "nose": 5}``. A name given again is replaced;
        ``replace=True`` forgets all earlier names. Returns the catalog (changed in place)."""
        if not isinstance(mapping, Mapping):
            raise CatalogError(f"names must be a mapping {{part: [cluster ids]}}, got {type(mapping).__name__}")
        new: dict[str, list[int]] = {}
        for name, ids in mapping.items():
            if not isinstance(name, str) or not name.strip() or name.strip().isdigit() or name != name.strip():
                raise CatalogError(f"a part name must be a non-empty word that is not a number, got {name!r}")
            ids_list = [ids] if isinstance(ids, int) else list(ids)
            bad = [i for i in ids_list if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.k]
            if bad or not ids_list:
                raise CatalogError(f"part {name!r}: cluster ids must be ints in 0..{self.k - 1}, got {ids!r}")
            new[name] = sorted(set(ids_list))
        if replace:
            self.names = {}
        self.names.update(new)
        return self

    def parts(self) -> list[str]:
        """The part names, sorted."""
        return sorted(self.names)

    def cluster_ids(self, part: PartSpec) -> list[int]:
        """Cluster ids of a part: a name, a cluster id (int or ``"3"``) or a list of ids."""
        if isinstance(part, str):
            if part in self.names:
                return list(self.names[part])
            if part.strip().isdigit() and int(part) < self.k:
                return [int(part)]
        elif isinstance(part, int) and not isinstance(part, bool):
            if 0 <= part < self.k:
                return [part]
        elif isinstance(part, (list, tuple)) and part and all(isinstance(i, int) and not isinstance(i, bool) for i in part):
            if all(0 <= i < self.k for i in part):
                return sorted(set(part))
        avail = ", ".join(f"{n}={ids}" for n, ids in sorted(self.names.items())) or "none named yet"
        raise CatalogError(
            f"unknown part {part!r}; this catalog's parts: {avail}; or give cluster ids 0..{self.k - 1} "
            "(name clusters with catalog.name_clusters({'eyes': [3, 7]}) or `regiongan name-clusters`)"
        )

    def part_contributions(self, part: PartSpec) -> dict[str, torch.Tensor]:
        """Per control point the contribution row of a part ``[C_l]``: the sum of its clusters' rows (the
        membership of a union of clusters is the sum of theirs, so this is Eq. 1 for the merged part)."""
        ids = self.cluster_ids(part)
        return {name: m[ids].sum(dim=0) for name, m in self.contributions.items()}

    # ---- the model
    def check_model(self, G) -> None:
        """Raise :class:`CatalogError` when ``G`` is not the model this catalog was built from."""
        fp = model_fingerprint(G)
        if fp != self.fingerprint:
            raise CatalogError(
                f"this catalog was built for the model with fingerprint {self.fingerprint}, but the given model "
                f"has fingerprint {fp}; a catalog only fits the model it was built from — build one for this "
                "model (regiongan catalog --model ...)"
            )
        expected = {p.name: p.channels for p in G.control_points()}
        got = {name: int(m.shape[1]) for name, m in self.contributions.items()}
        if got != expected:
            raise CatalogError(f"the catalog's contribution matrices {got} do not fit the model's control points {expected}")

    def memberships(self, features: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Hard memberships ``U [N, K, h, w]`` from the catalog layer's activations (or a features dict)."""
        a = features[self.layer] if isinstance(features, Mapping) else features
        return hard_memberships(a, self.centroids)

    def part_mask(self, features: Mapping[str, torch.Tensor] | torch.Tensor, part: PartSpec, size: int) -> torch.Tensor:
        """Binary ROI ``[N, 1, size, size]`` of a part: its clusters' memberships resized (bilinear up) and
        thresholded at 0.5 — the paper's ROI for In/Out-MSE."""
        u = self.memberships(features)[:, self.cluster_ids(part)].sum(dim=1, keepdim=True)
        return (resize_mask(u, size, size) >= 0.5).to(torch.float32)

    # ---- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain values and tensors (what a recipe stores: JSON + safetensors sidecar)."""
        return {
            "layer": self.layer, "fingerprint": self.fingerprint, "names": {k: list(v) for k, v in self.names.items()},
            "centroids": self.centroids, "contributions": {n: m.clone() for n, m in self.contributions.items()},
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Catalog:
        """Inverse of :meth:`to_dict`."""
        need = ("layer", "fingerprint", "centroids", "contributions")
        missing = [key for key in need if key not in d]
        if missing:
            raise CatalogError(f"a catalog needs {list(need)}; missing {missing}")
        return cls(
            centroids=d["centroids"], layer=d["layer"], contributions=dict(d["contributions"]),
            fingerprint=d["fingerprint"], names={k: list(v) for k, v in (d.get("names") or {}).items()},
            info=dict(d.get("info") or {}),
        )  # fmt: skip

    def save(self, directory: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``directory/catalog.json`` + ``directory/catalog.safetensors`` (atomically per file).

        Refuses existing catalog files unless ``overwrite=True``.
        """
        directory = Path(directory)
        check_overwrite([directory / JSON_FILE, directory / TENSORS_FILE], overwrite)
        tensors = {"centroids": self.centroids.detach().cpu().contiguous()}
        order = list(self.contributions)
        for name in order:
            tensors[f"contribution/{name}"] = self.contributions[name].detach().cpu().clone()  # never shared
        meta = {
            "format": CATALOG_FORMAT, "format_version": CATALOG_VERSION, "regiongan_version": __version__,
            "layer": self.layer, "k": self.k, "fingerprint": self.fingerprint,
            "names": {k: list(v) for k, v in sorted(self.names.items())}, "contribution_layers": order,
            "info": self.info,
        }  # fmt: skip
        writers = {TENSORS_FILE: safetensors_writer(tensors, {"format": CATALOG_FORMAT}), JSON_FILE: json_writer(meta)}
        return atomic_write(directory, writers)

    def save_names(self, directory: str | os.PathLike) -> Path:
        """Rewrite only the names in an existing ``directory/catalog.json`` (after :meth:`name_clusters`)."""
        path = Path(directory) / JSON_FILE
        meta = _read_json(path)
        meta["names"] = {k: list(v) for k, v in sorted(self.names.items())}
        atomic_write(path.parent, {JSON_FILE: json_writer(meta)})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Catalog:
        """Read a catalog written by :meth:`save` (a directory, or its catalog.json / .safetensors)."""
        p = Path(path)
        directory = p.parent if p.is_file() else p
        meta = _read_json(directory / JSON_FILE)
        weights = directory / TENSORS_FILE
        if not weights.is_file():
            raise CatalogError(f"{directory}: {TENSORS_FILE} is missing next to {JSON_FILE}")
        tensors, _ = read_safetensors(weights, CatalogError)
        order = meta.get("contribution_layers") or []
        missing = [n for n in ["centroids"] + [f"contribution/{n}" for n in order] if n not in tensors]
        if missing:
            raise CatalogError(f"{weights}: missing tensors {missing[:4]}; was it written with another catalog.json?")
        return cls(
            centroids=tensors["centroids"], layer=meta["layer"],
            contributions={n: tensors[f"contribution/{n}"] for n in order}, fingerprint=meta["fingerprint"],
            names={k: list(v) for k, v in (meta.get("names") or {}).items()}, info=meta.get("info") or {},
        )  # fmt: skip


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CatalogError(
            f"no catalog at '{path.parent}': {JSON_FILE} not found; build one with "
            "`regiongan catalog --model MODEL --out DIR` or build_catalog(G).save(DIR)"
        )
    return check_format(read_json(path, CatalogError), path, CATALOG_FORMAT, CATALOG_VERSION, "catalog", CatalogError)


# --------------------------------------------------------------------------------------------------
# Building a catalog


def _sample_codes(G, samples: int, seed: int) -> torch.Tensor:
    """``z [samples, z_dim]`` from ``torch.Generator().manual_seed(seed)`` (the catalog's own samples)."""
    return torch.randn([samples, G.z_dim], generator=torch.Generator().manual_seed(seed))


def _synthesize(G, z: torch.Tensor, truncation_psi: float):
    ws = G.map(z.to(G.mapping.w_avg.device) if hasattr(G, "mapping") else z, None, truncation_psi)
    return G.synthesize(G.styles(ws), noise_mode="const", return_features=True)


class _PartOverlap:
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
        cl = resize_mask(memberships.to(torch.float32), h, w).argmax(dim=1).reshape(-1)
        lab = labels.reshape(-1).to(torch.int64)
        p = len(self.part_names)
        joint = torch.bincount(cl * p + lab, minlength=k * p).reshape(k, p).double()
        self.inter += joint
        self.cluster_area += joint.sum(dim=1)
        self.part_area += joint.sum(dim=0)


def _part_groups(part_names: Sequence[str], groups: Mapping[str, Sequence[str]] | None) -> dict[str, list[int]]:
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
) -> dict[str, Any]:
    """Name clusters by best IoU against parts and measure the agreement.

    Args:
        inter: ``[K, P]`` pixel counts of cluster k labelled part p; cluster_area ``[K]``; part_area ``[P]``.
        part_names: the P parser part names; part_groups: catalog parts made of several parser parts
            (default :data:`DEFAULT_PART_GROUPS`: ``eyes = eye_left + eye_right``).
        min_iou: a cluster whose best IoU is lower stays unnamed.
        ignore: groups that never become names (the background is not a part to transfer); clusters whose
            best group is one of them stay unnamed but count for that group in the agreement.

    Each cluster goes to the group with which its IoU is largest, if that IoU is at least ``min_iou``
    (clusters are disjoint, so a group's clusters form a union whose IoU follows from the same counts). Returns ``names {group: [ids]}``,
    ``cluster_iou {id: (group, iou)}``, ``per_part_iou {group: IoU of its union}`` for every group that
    occurs, ``miou`` (mean over those groups; 0 for a group without clusters) and ``miou_matched`` (mean
    over groups that received clusters).
    """
    groups = _part_groups(list(part_names), part_groups)
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
        "names": {g: sorted(v) for g, v in names.items()},
        "cluster_iou": cluster_iou,
        "per_part_iou": per_part,
        "miou": sum(per_part.values()) / len(per_part) if per_part else float("nan"),
        "miou_matched": sum(matched) / len(matched) if matched else float("nan"),
    }


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
    names: Mapping[str, int | Sequence[int]] | None = None,
    progress: bool = True,
) -> Catalog:
    """Build a semantic catalog of ``G`` (paper §3.1).

    Args:
        G: a generator with control points and ``synthesize(..., return_features=True)``.
        samples: N, images whose activations make the contribution matrices (z drawn from
            ``torch.Generator().manual_seed(seed)``, const noise, ``truncation_psi``).
        k: number of clusters K.
        layer: the conv layer to cluster (default :func:`default_catalog_layer`; see :func:`catalog_layers`).
        batch_size: images per forward pass.
        epochs, tol, kmeans_batch: :func:`spherical_kmeans` (``kmeans_batch=None``: full-batch Lloyd).
        fit_samples: k-means runs on the pixels of the first ``fit_samples`` of the N images (None: all
            N). Their activations at ``layer`` stream in batches; if they take at most ``cache_mb`` MiB they
            are kept after the first epoch (cost ``fit_samples + N`` forward passes), otherwise every epoch
            re-generates them (``epochs·fit_samples + N``) and memory stays ``O(batch)``. The membership /
            contribution pass always covers all N.
        parser: optional part parser (``part_names``, ``parse(images) -> [N, H, W]``); clusters are then
            named by best IoU (:func:`match_clusters_to_parts`, ``part_groups``) and the in-sample agreement
            is stored in ``catalog.info["agreement"]``.
        names: explicit names ``{part: [ids]}`` (applied after the automatic ones).
        progress: tqdm bars.

    Returns:
        :class:`Catalog` with ``centroids [K, C]`` and ``contributions {control point: [K, C_l]}``.
    """
    samples = _check_int(samples, "samples", 1)
    k = _check_int(k, "k (number of clusters)", 2)
    batch_size = _check_int(batch_size, "batch_size", 1)
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
    n_fit = samples if fit_samples is None else min(_check_int(fit_samples, "fit_samples", 1), samples)
    inputs = style_input_features(G)
    z = _sample_codes(G, samples, seed)
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
        with torch.no_grad():
            for s in range(0, n_fit, batch_size):
                a = _synthesize(G, z[s : s + batch_size], truncation_psi).features[layer]
                bar.update(a.shape[0])
                chunk = a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])
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
    overlap = _PartOverlap(k, parser.part_names) if parser is not None else None
    bar = tqdm(total=samples, desc="catalog: contributions", unit="img", disable=not progress, leave=False)
    with torch.no_grad():
        for s in range(0, samples, batch_size):
            out = _synthesize(G, z[s : s + batch_size], truncation_psi)
            u = hard_memberships(out.features[layer], centroids)
            sizes += u.sum(dim=(0, 2, 3)).double()
            for f in feature_names:
                accs[f].update(out.features[f], u)
            if overlap is not None:
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
            "converged": km.converged, "shift": _finite(km.shift), "mean_similarity": _finite(km.mean_similarity),
            "reseeded": km.reseeded,
        },
        "cluster_fraction": [float(v) for v in (sizes / sizes.sum()).tolist()],
        "constant_input_layers": [n for n, f in inputs.items() if f is None],
    }  # fmt: skip
    catalog = Catalog(centroids=centroids, layer=layer, contributions=contributions, fingerprint=model_fingerprint(G), info=info)
    if overlap is not None:
        result = match_clusters_to_parts(
            overlap.inter, overlap.cluster_area, overlap.part_area, overlap.part_names, part_groups
        )
        catalog.name_clusters(result["names"])
        info["agreement"] = _agreement_json(result, samples, "in-sample (the catalog's own samples)")
    if names:
        catalog.name_clusters(names)
    return catalog


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _agreement_json(result: dict[str, Any], samples: int, note: str) -> dict[str, Any]:
    return {
        "samples": samples, "note": note, "miou": _finite(result["miou"]), "miou_matched": _finite(result["miou_matched"]),
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
    samples = _check_int(samples, "samples", 1)
    overlap = _PartOverlap(catalog.k, parser.part_names)
    z = _sample_codes(G, samples, seed)
    with torch.no_grad():
        for s in range(0, samples, batch_size):
            out = _synthesize(G, z[s : s + batch_size], truncation_psi)
            overlap.update(catalog.memberships(out.features), parser.parse(out.image))
    result = match_clusters_to_parts(
        overlap.inter, overlap.cluster_area, overlap.part_area, overlap.part_names, part_groups, min_iou=min_iou
    )
    groups = _part_groups(list(parser.part_names), part_groups)
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


# --------------------------------------------------------------------------------------------------
# Looking at clusters


def cluster_colors(k: int) -> torch.Tensor:
    """K distinct colours ``[K, 3]`` uint8 (golden-angle hues, alternating brightness)."""
    import colorsys

    rows = []
    for i in range(k):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.75 if i % 2 else 0.95, 1.0 if i % 3 else 0.7)
        rows.append([round(255 * r), round(255 * g), round(255 * b)])
    return torch.tensor(rows, dtype=torch.uint8)


def cluster_preview(G, catalog: Catalog, count: int = 8, seed: int = 0, scale: int = 2, truncation_psi: float = 1.0):
    """A PIL image: ``count`` samples (z from ``torch.Generator().manual_seed(seed)``) above their cluster
    maps, and a legend of cluster ids with their names — what you look at to name clusters."""
    from PIL import Image, ImageDraw

    from ..images import make_grid

    catalog.check_model(G)
    z = _sample_codes(G, count, seed)
    with torch.no_grad():
        out = _synthesize(G, z, truncation_psi)
    res = G.img_resolution
    labels = resize_mask(catalog.memberships(out.features), res, res).argmax(dim=1)  # [N, R, R]
    colours = cluster_colors(catalog.k)[labels]  # [N, R, R, 3]
    images = torch.cat([out.image, colours.permute(0, 3, 1, 2).float() / 127.5 - 1.0])
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
