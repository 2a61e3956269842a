"""Fréchet distance: closed forms, an independent sqrtm reference, symmetry, and the accumulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regiongan.metrics.frechet import FrechetDistance, feature_statistics, frechet_distance


def _random_cov(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / (rank or d)


def _reference_fd(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The usual FID code path (pytorch-fid): scipy sqrtm with an eps offset for singular products."""
    linalg = pytest.importorskip("scipy.linalg")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def test_diagonal_closed_form():
    rng = np.random.default_rng(0)
    d = 16
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_scaled_covariance_closed_form():
    # sigma2 = c^2 sigma1  =>  tr((sigma1 sigma2)^(1/2)) = c tr(sigma1), FD = |dmu|^2 + (1 - c)^2 tr(sigma1)
    rng = np.random.default_rng(1)
    sigma = _random_cov(rng, 12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    c = 1.7
    expected = np.sum((mu1 - mu2) ** 2) + (1 - c) ** 2 * np.trace(sigma)
    assert frechet_distance(mu1, sigma, mu2, c * c * sigma) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("rank", [None, 5])  # full rank, and singular (N < D) covariances
def test_matches_scipy_sqrtm(rank):
    rng = np.random.default_rng(2)
    d = 20
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_cov(rng, d, rank), _random_cov(rng, d, rank)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_reference_fd(mu1, s1, mu2, s2), rel=1e-5, abs=1e-6)


def test_symmetric_zero_for_identical_and_accepts_tensors():
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = _random_cov(rng, 8), _random_cov(rng, 8, 3)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance(mu2, s2, mu2, s2) == pytest.approx(0.0, abs=1e-9)  # singular: no complex parts
    t = [torch.from_numpy(a).float() for a in (mu1, s1, mu2, s2)]
    assert frechet_distance(*t) == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-4)  # float32 inputs


def test_errors_explain_shapes():
    with pytest.raises(ValueError, match=r"\[D, D\]"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.array([np.nan]), np.eye(1), np.zeros(1), np.eye(1))
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(np.zeros((1, 4)))


def test_feature_statistics_matches_numpy():
    x = np.random.default_rng(4).normal(size=(50, 6))
    mu, sigma = feature_statistics(torch.from_numpy(x))
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x.T))


def test_accumulator_equals_functional_form():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(300, 10)), rng.normal(0.5, 2.0, size=(200, 10))
    expected = frechet_distance(*feature_statistics(a), *feature_statistics(b))

    fd = FrechetDistance()
    for chunk in np.array_split(a, 7):
        fd.update(torch.from_numpy(chunk))
    for chunk in np.array_split(b, 3):
        fd.update(chunk, real=True)
    assert fd.count == 300
    assert fd.compute() == pytest.approx(expected, rel=1e-9)
    mu, sigma = fd.statistics()
    np.testing.assert_allclose(sigma, np.cov(a.T), rtol=1e-9)

    fixed = FrechetDistance(reference=feature_statistics(b))
    fixed.update(a)
    assert fixed.compute() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="fixed reference"):
        fixed.update(b, real=True)

    fd.reset()
    assert fd.count == 0
    with pytest.raises(RuntimeError, match="update"):
        fd.compute()
