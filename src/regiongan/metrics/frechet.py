"""Fréchet distance between Gaussians fitted to feature sets (the formula behind FID and FD-parser).

For feature sets modelled as N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982; Heusel et al. 2017,
eq. 6)::

    FD = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))

``tr((sigma1 sigma2)^(1/2))`` is computed without a general matrix square root: ``sigma1 sigma2`` is
similar to the symmetric PSD matrix ``S = sigma1^(1/2) sigma2 sigma1^(1/2)``, so the trace is the sum of the
square roots of the eigenvalues of ``S``. Two symmetric eigendecompositions (``eigh``), in float64, never
produce complex values, and singular covariances (fewer samples than dimensions) are handled by clipping
round-off negative eigenvalues to zero -- where ``scipy.linalg.sqrtm`` needs an ``eps * I`` offset and an
imaginary-part check. The tests compare against ``sqrtm``.

Functional form: :func:`feature_statistics`, :func:`frechet_distance`. Stateful form (torchmetrics style):
:class:`FrechetDistance` with ``update / compute / reset``, which accumulates statistics batch by batch.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

__all__ = ["frechet_distance", "feature_statistics", "FrechetDistance"]

ArrayLike = Union[np.ndarray, torch.Tensor]


def _as_float64(x: ArrayLike, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf; check the features (a diverged network or empty batch?)")
    return arr


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix ``[D, D]`` (negative round-off eigenvalues -> 0)."""
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((sigma1 sigma2)^(1/2))`` via the eigenvalues of ``sigma1^(1/2) sigma2 sigma1^(1/2)``."""
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    vals = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(vals, 0.0, None)).sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); means ``[D]``, covariances ``[D, D]``.

    Accepts numpy arrays or tensors; computes in float64. Symmetric, zero for identical statistics, and
    >= 0 up to round-off (tiny negative results are clipped to 0).
    """
    mu1, mu2 = _as_float64(mu1, "mu1"), _as_float64(mu2, "mu2")
    sigma1, sigma2 = _as_float64(sigma1, "sigma1"), _as_float64(sigma2, "sigma2")
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"means must both be [D], got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"covariances must both be [D, D] = [{d}, {d}] to match the means, got {sigma1.shape} and {sigma2.shape}"
        )
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * _trace_sqrt_product(sigma1, sigma2)
    return max(float(fd), 0.0)


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``features [N, D]`` -> ``(mu [D], sigma [D, D])`` in float64 (unbiased covariance, N >= 2)."""
    x = _as_float64(features, "features")
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features must be [N, D] with N >= 2 samples, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


class _RunningMoments:
    """Mean and scatter matrix of a growing set of rows, merged batch by batch (Chan et al. 1979)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.scatter: np.ndarray | None = None  # sum of (x - mean)(x - mean)^T

    def update(self, x: np.ndarray) -> None:
        nb = x.shape[0]
        mb = x.mean(axis=0)
        centred = x - mb
        sb = centred.T @ centred
        if self.n == 0:
            self.n, self.mean, self.scatter = nb, mb, sb
            return
        assert self.mean is not None and self.scatter is not None
        if mb.shape != self.mean.shape:
            raise ValueError(f"feature dimension changed between updates: {self.mean.shape[0]} then {mb.shape[0]}")
        total = self.n + nb
        delta = mb - self.mean
        self.scatter = self.scatter + sb + np.outer(delta, delta) * (self.n * nb / total)
        self.mean = self.mean + delta * (nb / total)
        self.n = total

    def statistics(self, what: str) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2:
            raise RuntimeError(f"{what} has {self.n} feature rows; call update() with at least 2 before compute()")
        assert self.mean is not None and self.scatter is not None
        return self.mean, self.scatter / (self.n - 1)


class FrechetDistance:
    """Accumulate features batch by batch and compute the Fréchet distance to a reference.

    Either give fixed reference statistics, or feed reference features with ``real=True``::

        fd = FrechetDistance(reference=(mu, sigma))       # e.g. precomputed procedural statistics
        for batch in loader:
            fd.update(features_of(batch))                 # [N, D]
        value = fd.compute()

        fd = FrechetDistance()
        fd.update(real_features, real=True); fd.update(fake_features); fd.compute()

    ``reset()`` clears the accumulated features of both sets; fixed reference statistics are kept.
    """

    def __init__(self, reference: tuple[ArrayLike, ArrayLike] | None = None) -> None:
        self.reference = None
        if reference is not None:
            mu, sigma = _as_float64(reference[0], "reference mu"), _as_float64(reference[1], "reference sigma")
            if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
                raise ValueError(f"reference must be (mu [D], sigma [D, D]), got shapes {mu.shape} and {sigma.shape}")
            self.reference = (mu, sigma)
        self.reset()

    def reset(self) -> None:
        """Forget all accumulated features (fixed reference statistics stay)."""
        self._fake = _RunningMoments()
        self._real = _RunningMoments()

    def update(self, features: ArrayLike, real: bool = False) -> None:
        """Add ``features [N, D]`` to the compared set, or to the reference set with ``real=True``."""
        x = _as_float64(features, "features")
        if x.ndim != 2 or x.shape[0] < 1:
            raise ValueError(f"features must be [N, D] with N >= 1, got shape {x.shape}")
        if real and self.reference is not None:
            raise ValueError("this FrechetDistance has fixed reference statistics; update(real=True) would be ignored")
        (self._real if real else self._fake).update(x)

    @property
    def count(self) -> int:
        """Feature rows accumulated in the compared set."""
        return self._fake.n

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mu [D], sigma [D, D])`` of the accumulated compared set (float64, unbiased covariance)."""
        return self._fake.statistics("the compared set")

    def compute(self) -> float:
        """Fréchet distance between the accumulated features and the reference."""
        mu1, sigma1 = self.statistics()
        if self.reference is not None:
            mu2, sigma2 = self.reference
        else:
            mu2, sigma2 = self._real.statistics("the reference set (real=True)")
        return frechet_distance(mu1, sigma1, mu2, sigma2)
