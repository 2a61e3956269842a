"""Spherical k-means: planted clusters, determinism, mini-batch vs full-batch, streaming, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.methods.editing_in_style.errors import CatalogError
from regiongan.methods.editing_in_style.kmeans import assign_clusters, kmeans_similarity, spherical_kmeans

pytestmark = pytest.mark.usefixtures("one_thread")


def planted(k: int = 6, c: int = 16, m: int = 6000, noise: float = 0.05, seed: int = 0):
    """Points around K known unit directions, with random lengths (spherical k-means must ignore them)."""
    g = torch.Generator().manual_seed(seed)
    dirs = F.normalize(torch.randn(k, c, generator=g), dim=1)
    labels = torch.randint(k, (m,), generator=g)
    x = (dirs[labels] + noise * torch.randn(m, c, generator=g)) * (0.2 + 3 * torch.rand(m, 1, generator=g))
    return x, dirs, labels


def matched_accuracy(x, labels, dirs, centroids) -> tuple[float, float]:
    cos = centroids @ dirs.t()  # [K, K]
    cluster_of_dir = cos.argmax(dim=0)
    acc = float((cluster_of_dir[labels] == assign_clusters(x, centroids)).float().mean())
    return acc, float(cos.amax(dim=0).min())


@pytest.mark.parametrize("batch_size", [None, 512])
def test_kmeans_recovers_planted_clusters(batch_size):
    x, dirs, labels = planted()
    res = spherical_kmeans(x, 6, batch_size=batch_size, epochs=20, generator=torch.Generator().manual_seed(3))
    acc, worst_cos = matched_accuracy(x, labels, dirs, res.centroids)
    assert acc == 1.0
    assert worst_cos > 0.995
    assert torch.allclose(res.centroids.norm(dim=1), torch.ones(6), atol=1e-5)
    assert res.converged


def test_kmeans_is_seed_deterministic():
    x, _, _ = planted(noise=0.3)
    a = spherical_kmeans(x, 6, batch_size=500, generator=torch.Generator().manual_seed(7))
    b = spherical_kmeans(x, 6, batch_size=500, generator=torch.Generator().manual_seed(7))
    c = spherical_kmeans(x, 6, batch_size=500, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.centroids, b.centroids)
    assert not torch.equal(a.centroids, c.centroids)


def test_minibatch_matches_full_batch_quality():
    x, _, _ = planted(k=8, noise=0.4, m=4000)
    full = spherical_kmeans(x, 8, batch_size=None, epochs=20, generator=torch.Generator().manual_seed(1))
    mini = spherical_kmeans(x, 8, batch_size=256, epochs=5, generator=torch.Generator().manual_seed(1))
    q_full, q_mini = kmeans_similarity(x, full.centroids), kmeans_similarity(x, mini.centroids)
    assert q_mini > 0.99 * q_full


def test_kmeans_streams_chunks_from_a_callable():
    x, dirs, labels = planted()
    calls = []

    def chunks():
        calls.append(1)
        return (x[i : i + 1000] for i in range(0, len(x), 1000))

    res = spherical_kmeans(chunks, 6, batch_size=256, init_size=2000, generator=torch.Generator().manual_seed(0))
    assert matched_accuracy(x, labels, dirs, res.centroids)[0] == 1.0
    assert len(calls) == res.epochs  # one fresh pass per epoch, never all vectors at once


def test_kmeans_bad_input():
    x, _, _ = planted(m=10)
    with pytest.raises(CatalogError, match="K=11 clusters but only 10 vectors"):
        spherical_kmeans(x, 11)
    with pytest.raises(CatalogError, match="only 5 vectors"):
        spherical_kmeans(lambda: iter([x[:5]]), 6)
    same = torch.ones(50, 4)
    with pytest.raises(CatalogError, match="only 1 distinct directions"):
        spherical_kmeans(same, 3)
    with pytest.raises(CatalogError, match=r"data must be \[M, C\]"):
        spherical_kmeans(torch.ones(3, 4, 5), 2)
    with pytest.raises(CatalogError, match="epochs must be an int >= 1"):
        spherical_kmeans(x, 2, epochs=0)
