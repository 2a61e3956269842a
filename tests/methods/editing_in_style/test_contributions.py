"""The contribution matrix (Eq. 1): a hand example, streaming == one shot == Eq. 1 written out, float64
precision on channels with a large mean, hard memberships, reset."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.methods.editing_in_style.contributions import (
    ContributionAccumulator,
    contribution_matrix,
    hard_memberships,
)
from regiongan.methods.editing_in_style.errors import CatalogError

pytestmark = pytest.mark.usefixtures("one_thread")


def eq1_float64(a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Eq. 1 in one shot, in float64, standardising with a two-pass mean and std (no expanded sums):
    ``a [N, C, h, w]``, ``u [N, K, h, w]`` at the same resolution -> ``M [K, C]``, columns summing to 1."""
    a, u = a.double(), u.double()
    ah = (a - a.mean(dim=(0, 2, 3), keepdim=True)) / a.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    ref = torch.einsum("nchw,nkhw->kc", ah.square(), u) / (a.shape[0] * a.shape[2] * a.shape[3])
    return ref / ref.sum(dim=0)


def test_contribution_matrix_hand_example():
    # channel 0 = [[1, 3], [1, 3]]: mean 2, σ 1 -> Â² = 1 everywhere
    # channel 1 = [[0, 0], [0, 4]]: mean 1, σ² 3 -> Â² = 1/3, 1/3, 1/3, 3
    a = torch.tensor([[[1.0, 3.0], [1.0, 3.0]], [[0.0, 0.0], [0.0, 4.0]]])[None]
    u1 = torch.tensor([[0.0, 0.0], [0.0, 1.0]])  # cluster 1 = bottom-right pixel
    u = torch.stack([1 - u1, u1])[None]
    expected = torch.tensor([[3 / 4, (3 * 1 / 3) / 4], [1 / 4, 3 / 4]])
    m = contribution_matrix(a, u)
    assert m.dtype == torch.float32
    assert torch.allclose(m, expected, atol=1e-6)
    # memberships at twice the resolution are area-averaged to the activation's 2x2 first
    u_big = u.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.allclose(contribution_matrix(a, u_big), expected, atol=1e-6)
    # a constant (dead) channel gets a zero column
    dead = torch.cat([a, torch.full((1, 1, 2, 2), 5.0)], dim=1)
    assert torch.equal(contribution_matrix(dead, u)[:, 2], torch.zeros(2))


def test_contribution_accumulator_streams_exactly():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 5, 8, 8, generator=g) * 3 + 1
    labels = torch.randint(3, (6, 16, 16), generator=g)
    u = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    acc = ContributionAccumulator(3, 5)
    for i in range(0, 6, 2):
        acc.update(a[i : i + 2], u[i : i + 2])
    whole = contribution_matrix(a, u)
    assert torch.allclose(acc.compute(), whole, atol=1e-6)
    assert torch.allclose(whole.sum(dim=0), torch.ones(5), atol=1e-6)
    # reference: Eq. 1 written out with torch ops
    ah = (a - a.mean(dim=(0, 2, 3), keepdim=True)) / a.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    ul = F.avg_pool2d(u, 2)
    ref = torch.einsum("nchw,nkhw->kc", ah.square(), ul) / (6 * 8 * 8)
    assert torch.allclose(whole, ref / ref.sum(dim=0), atol=1e-5)
    # reset forgets everything: the same batches give the same matrix again
    acc.reset()
    with pytest.raises(CatalogError, match="no activations were accumulated"):
        acc.compute()
    for i in range(0, 6, 3):
        acc.update(a[i : i + 3], u[i : i + 3])
    assert torch.allclose(acc.compute(), whole, atol=1e-6)


def eq1_float32_raw_sums(a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Eq. 1 the way regiongan 0.1 streamed it: raw float32 sums of A and A², variance as E[A²] − μ²."""
    n, c, h, w = a.shape
    s1 = torch.einsum("nchw,nkhw->kc", a, u)
    s2 = torch.einsum("nchw,nkhw->kc", a.square(), u)
    mu = a.sum(dim=(0, 2, 3)) / (n * h * w)
    var = a.square().sum(dim=(0, 2, 3)) / (n * h * w) - mu.square()
    m = (s2 - 2 * mu * s1 + mu.square() * u.sum(dim=(0, 2, 3))[:, None]).clamp_min(0) / (var * n * h * w)
    return (m / m.sum(dim=0)).double()


def test_large_mean_channels_keep_their_precision():
    """A channel with |mean|/std = 1000 (activations 1000 + N(0, 1)): the variance is E[A²] − μ², which
    float32 sums of the raw activations lose (11 % error in the audit; regiongan 0.1's accumulator is off
    by 0.02 here). The accumulator (float64 sums of centred batches) matches a one-shot float64
    reference."""
    g = torch.Generator().manual_seed(0)
    n, k = 8, 4
    a = torch.randn(n, 3, 16, 16, generator=g)
    a[:, 0] += 1000.0  # |mean| / std = 1000
    a[:, 1] = a[:, 1] * 2 - 3  # an ordinary channel next to it
    a[:, 2] = a[:, 2] * 1e-3 - 1e3  # |mean| / std = 1e6
    labels = torch.randint(k, (n, 16, 16), generator=g)
    u = F.one_hot(labels, k).permute(0, 3, 1, 2).float()
    reference = eq1_float64(a, u)
    acc = ContributionAccumulator(k, 3)
    for i in range(0, n, 2):
        acc.update(a[i : i + 2], u[i : i + 2])
    assert (acc.compute().double() - reference).abs().max() < 1e-5
    assert (contribution_matrix(a, u).double() - reference).abs().max() < 1e-5
    # the data is hard: raw float32 sums are far off at |mean|/std = 1000 and break down (NaN) at 1e6
    naive = eq1_float32_raw_sums(a, u)
    assert (naive - reference)[:, 0].abs().max() > 1e-2 and not naive[:, 2].isfinite().all()


def test_hard_memberships_and_bad_input():
    centroids = torch.eye(3)
    feats = torch.tensor([[3.0, 1.0, 0.0], [0.0, 0.5, 2.0], [1.0, 1.0, 0.0]]).t().reshape(1, 3, 1, 3)
    u = hard_memberships(feats, centroids)
    assert u.shape == (1, 3, 1, 3)
    assert u.argmax(dim=1).flatten().tolist() == [0, 2, 0]  # a tie goes to the lowest id
    assert torch.equal(u.sum(dim=1), torch.ones(1, 1, 3))
    with pytest.raises(CatalogError, match=r"features must be \[N, 3, H, W\]"):
        hard_memberships(torch.ones(1, 4, 2, 2), centroids)
    acc = ContributionAccumulator(3, 2)
    with pytest.raises(CatalogError, match=r"activations must be \[N, 2, h, w\]"):
        acc.update(torch.ones(1, 3, 2, 2), torch.ones(1, 3, 2, 2))
    with pytest.raises(CatalogError, match=r"memberships must be \[1, 3, H, W\]"):
        acc.update(torch.ones(1, 2, 2, 2), torch.ones(1, 2, 2, 2))
