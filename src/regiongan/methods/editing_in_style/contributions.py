"""The contribution matrix (Collins et al. 2020, Eq. 1): how much of each style channel's energy lies in
each cluster.

    M_l[k, c] = mean_{n,h,w}  Â_l[n, c, h, w]² · U[n, k, h, w]

``Â_l`` is the activation a control point's style scales, standardised per channel over all of
``(n, h, w)`` with the population variance; ``U`` the hard cluster memberships, resized to the layer with
:func:`regiongan.ops.masks.resize_mask` (area average down, bilinear up) so they stay a partition. As the
memberships sum to one at every pixel, ``Σ_k M[k, c] = mean(Â²) = 1``: ``M[k, c]`` is the *fraction* of
channel c's energy in cluster k. Each column is divided by its sum anyway (removes rounding); a channel
with zero variance (dead) gets a zero column: it carries no spatial information, so no query selects it.

    hard_memberships(features, centroids)        U [N, K, H, W], one-hot by nearest centroid
    ContributionAccumulator(k, channels)         update(A, U) per batch, compute() -> M [K, C], reset()
    contribution_matrix(A, U)                    the same on in-memory tensors (one update)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...ops.masks import resize_mask
from .errors import CatalogError
from .kmeans import assign_clusters

__all__ = ["ACCUMULATOR_DTYPE", "hard_memberships", "ContributionAccumulator", "contribution_matrix"]

#: The running sums' dtype. The variance is recovered as ``E[A²] − μ²``, which cancels catastrophically
#: when a channel's |mean| is large against its std: with plain float32 sums the matrix was off by 11 % at
#: |mean|/std = 1000 (tests/methods/editing_in_style/test_contributions.py). So the sums run in float64,
#: and each batch is first centred by a per-channel shift (the first batch's mean) so that its own float32
#: products hold no large offset either (float64 products cost 60 % more build time for no gain).
ACCUMULATOR_DTYPE = torch.float64


def hard_memberships(features: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Cluster memberships ``U [N, K, H, W]`` (float32 one-hot) of the pixels of ``features [N, C, H, W]``
    by nearest centroid (``centroids [K, C]``, unit rows; ties: lowest id), the paper's ``U ∈ {0, 1}``."""
    if features.ndim != 4 or features.shape[1] != centroids.shape[1]:
        raise CatalogError(
            f"features must be [N, {centroids.shape[1]}, H, W] (the catalog layer's channels), got {tuple(features.shape)}"
        )
    n, c, h, w = features.shape
    labels = assign_clusters(features.permute(0, 2, 3, 1).reshape(-1, c), centroids)
    return F.one_hot(labels, centroids.shape[0]).reshape(n, h, w, -1).permute(0, 3, 1, 2).to(torch.float32)


class ContributionAccumulator:
    """Eq. 1 streamed over batches (the torchmetrics protocol: ``update`` / ``compute`` / ``reset``).

    Standardising needs the global mean and variance, known only at the end, so it keeps the raw sums
    ``S0[k] = Σ U``, ``S1[k, c] = Σ D U``, ``S2[k, c] = Σ D² U``, ``Σ D`` and ``Σ D²`` of the shifted
    activations ``D = A − shift_c`` (in :data:`ACCUMULATOR_DTYPE`; the shift is the first batch's
    per-channel mean, and mean-free sums lose no precision to a large mean) and expands
    ``Σ (A − μ)² U = S2 − 2 μ_D S1 + μ_D² S0`` (variance and energy do not depend on the shift): one
    pass, memory ``O(K·C)``.
    """

    def __init__(self, k: int, channels: int) -> None:
        self.k, self.channels = k, channels
        self.reset()

    def reset(self) -> None:
        """Forget every batch seen so far."""
        dt = ACCUMULATOR_DTYPE
        self.s0 = torch.zeros(self.k, dtype=dt)
        self.s1 = torch.zeros(self.k, self.channels, dtype=dt)
        self.s2 = torch.zeros(self.k, self.channels, dtype=dt)
        self.a1 = torch.zeros(self.channels, dtype=dt)
        self.a2 = torch.zeros(self.channels, dtype=dt)
        self.shift: torch.Tensor | None = None  # [C] float64, set by the first update
        self.count = 0

    def update(self, activations: torch.Tensor, memberships: torch.Tensor) -> None:
        """activations ``[N, C, h, w]``; memberships ``[N, K, H', W']`` at any resolution (resized here)."""
        if activations.ndim != 4 or activations.shape[1] != self.channels:
            raise CatalogError(f"activations must be [N, {self.channels}, h, w], got {tuple(activations.shape)}")
        if memberships.ndim != 4 or memberships.shape[:2] != (activations.shape[0], self.k):
            raise CatalogError(
                f"memberships must be [{activations.shape[0]}, {self.k}, H, W] for activations "
                f"{tuple(activations.shape)}, got {tuple(memberships.shape)}"
            )
        dt = ACCUMULATOR_DTYPE
        a = activations.detach().to(torch.float32)  # on its own device; only the [K, C] sums come to the CPU
        if self.shift is None:
            self.shift = a.double().mean(dim=(0, 2, 3)).cpu()
        n, c, h, w = a.shape
        d = a - self.shift.to(a.device, torch.float32)[None, :, None, None]  # D = A − shift, mean-free
        u = resize_mask(memberships.detach().to(a.device, torch.float32), h, w).reshape(n, self.k, h * w)
        both = torch.cat([d, d.square()], dim=1).reshape(n, 2 * c, h * w)  # [N, 2C, hw]: D and D²
        sums = torch.bmm(u, both.transpose(1, 2)).sum(dim=0).cpu().to(dt)  # [K, 2C] (3x faster than einsum)
        self.s0 += u.sum(dim=(0, 2)).cpu().to(dt)
        self.s1 += sums[:, :c]
        self.s2 += sums[:, c:]
        totals = both.sum(dim=(0, 2)).cpu().to(dt)
        self.a1 += totals[:c]
        self.a2 += totals[c:]
        self.count += n * h * w

    def compute(self) -> torch.Tensor:
        """``M [K, C]`` float32: every column sums to 1 (0 for dead channels), see the module docstring."""
        if self.count == 0:
            raise CatalogError("no activations were accumulated; call update(activations, memberships) first")
        mu = self.a1 / self.count  # mean of D = A − shift
        var = (self.a2 / self.count - mu.square()).clamp_min(0.0)
        energy = self.s2 - 2.0 * mu * self.s1 + mu.square() * self.s0[:, None]  # Σ (A − μ)² U
        m = energy.clamp_min(0.0) / (var * self.count).clamp_min(1e-300)  # mean of Â² U
        dead = var <= 1e-12 * (1.0 + (mu + self.shift).square())  # no variance left, relative to |mean|
        col = m.sum(dim=0, keepdim=True)
        m = torch.where(dead[None, :], torch.zeros_like(m), m / col.clamp_min(1e-300))
        return m.to(torch.float32)


def contribution_matrix(activations: torch.Tensor, memberships: torch.Tensor) -> torch.Tensor:
    """Eq. 1 on in-memory tensors: ``activations [N, C, h, w]``, hard or soft ``memberships [N, K, H, W]``
    (resized to ``h×w``) -> ``M [K, C]`` float32, columns summing to 1 (dead channels: 0)."""
    acc = ContributionAccumulator(memberships.shape[1], activations.shape[1])
    acc.update(activations, memberships)
    return acc.compute()
