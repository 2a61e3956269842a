"""Diversity-aware scores: what a Fréchet distance at a few hundred images does not see.

A generator that draws one well-formed face for every latent can score a tolerable Fréchet distance (its
features match the mean, and the covariance term at small N is noisy); these two numbers drop to ~0 for it.

* :func:`precision_recall` — improved precision and recall (Kynkäänniemi et al. 2019, §2): each set's
  manifold is the union of balls around its features with radius the distance to the k-th nearest
  neighbour within the set. **Precision** is the fraction of generated features inside the real manifold
  (are the images realistic?), **recall** the fraction of real features inside the generated manifold (is
  the variety covered?). A collapsed generator has a tiny manifold, so its recall is near 0.
* :func:`mean_pairwise_distance` — the mean Euclidean distance between two members of a feature set; the
  ratio of a generated set's to a real set's (:func:`diversity_ratio`) is ~1 for a generator as varied as
  the data and ~0 for a collapse, however realistic the images (precision/recall need realism first: an
  image outside the real manifold counts for neither).
* :func:`pixel_spread` — the per-pixel standard deviation across a set of images, averaged over pixels and
  channels: how much images differ at the same place. Compared with the same number for real images
  (:func:`spread_ratio`), a collapse to one face shows as a ratio far below 1.

    precision_recall(real [N, D], fake [M, D], k=3)  -> (precision, recall)
    mean_pairwise_distance(features [N, D])          -> float
    diversity_ratio(fake [M, D], real [N, D])        -> mean_pairwise_distance(fake) / mean_pairwise_distance(real)
    pixel_spread(images [N, C, H, W])                -> float
    spread_ratio(fake, real)                         -> pixel_spread(fake) / pixel_spread(real)
"""

from __future__ import annotations

import torch

__all__ = ["precision_recall", "mean_pairwise_distance", "diversity_ratio", "pixel_spread", "spread_ratio"]


def _check_features(x: torch.Tensor, what: str, k: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} features must be a [N, D] tensor, got {got}")
    if x.shape[0] <= k:
        raise ValueError(f"{what}: {x.shape[0]} features are too few for k={k} nearest neighbours (need more than k)")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} features contain NaN or inf")
    return x.double()


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of every row of ``x [N, D]`` to its k-th nearest other row: ``[N]``."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the row itself at distance 0


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of ``points [M, D]`` inside at least one ball (``centres [N, D]``, ``radii [N]``)."""
    inside = torch.cdist(points, centres) <= radii[None, :]
    return float(inside.any(dim=1).double().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of ``fake [M, D]`` against ``real [N, D]`` features, each in [0, 1].

    ``k`` (3, the paper's choice) sets the neighbourhood size; compare numbers only at equal k and equal
    set sizes (both grow with N).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    real, fake = _check_features(real, "real", k), _check_features(fake, "fake", k)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    precision = _coverage(fake, real, _kth_radius(real, k))
    recall = _coverage(real, fake, _kth_radius(fake, k))
    return precision, recall


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs ``i != j`` of ``features [N, D]`` (N >= 2)."""
    x = _check_features(features, "the", 1)
    n = x.shape[0]
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))


def diversity_ratio(fake: torch.Tensor, real: torch.Tensor) -> float:
    """``mean_pairwise_distance(fake) / mean_pairwise_distance(real)``: ~1 as varied as the data, ~0 collapsed."""
    fake, real = _check_features(fake, "fake", 1), _check_features(real, "real", 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    base = mean_pairwise_distance(real)
    if base == 0:
        raise ValueError("the real features are all identical; their mean pairwise distance is 0")
    return mean_pairwise_distance(fake) / base


def pixel_spread(images: torch.Tensor) -> float:
    """Mean over pixels and channels of the standard deviation across ``images [N, C, H, W]`` (N >= 2)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 2:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"pixel_spread needs images [N >= 2, C, H, W], got {got}")
    return float(images.double().std(dim=0).mean())


def spread_ratio(fake: torch.Tensor, real: torch.Tensor) -> float:
    """``pixel_spread(fake) / pixel_spread(real)``: 1 for a generator as varied as the data, ~0 for a collapse."""
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"fake and real images differ in shape: {tuple(fake.shape[1:])} vs {tuple(real.shape[1:])}")
    base = pixel_spread(real)
    if base == 0:
        raise ValueError("the real images are all identical; their spread is 0")
    return pixel_spread(fake) / base
