"""Precision/recall and pixel spread: a collapse scores ~0 recall and ~0 spread, a matching set ~1."""

from __future__ import annotations

import pytest
import torch

from regiongan.metrics.diversity import diversity_ratio, mean_pairwise_distance, pixel_spread, precision_recall, spread_ratio


def _cloud(n: int, seed: int, d: int = 8) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_two_samples_of_one_distribution_score_high_on_both():
    p, r = precision_recall(_cloud(400, 0), _cloud(400, 1))
    assert p > 0.8 and r > 0.8


def test_a_collapse_keeps_precision_and_loses_recall():
    real = _cloud(400, 0)
    collapsed = real[:1] + 0.01 * _cloud(400, 2)  # every fake near one real point
    p, r = precision_recall(real, collapsed)
    assert p > 0.95 and r < 0.05


def test_a_shifted_set_loses_precision_and_recall():
    p, r = precision_recall(_cloud(300, 0), _cloud(300, 1) + 20.0)
    assert p == 0.0 and r == 0.0


def test_a_set_scores_itself_perfectly_and_the_scores_swap_with_the_roles():
    real, fake = _cloud(200, 0), _cloud(200, 1) * 0.3  # fake: a narrower cloud inside the real one
    assert precision_recall(real, real) == (1.0, 1.0)
    p, r = precision_recall(real, fake)
    assert precision_recall(fake, real) == (r, p)
    assert p > r


def test_feature_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"real features must be a \[N, D\] tensor, got \(4,\)"):
        precision_recall(torch.zeros(4), _cloud(10, 0))
    with pytest.raises(ValueError, match="3 features are too few for k=3"):
        precision_recall(_cloud(10, 0), _cloud(3, 1))
    with pytest.raises(ValueError, match="differ in width: 8 vs 4"):
        precision_recall(_cloud(10, 0), _cloud(10, 1, d=4))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        precision_recall(_cloud(10, 0), _cloud(10, 1), k=0)
    bad = _cloud(10, 1)
    bad[2, 3] = float("nan")
    with pytest.raises(ValueError, match="fake features contain NaN"):
        precision_recall(_cloud(10, 0), bad)


def test_pixel_spread_is_the_mean_per_pixel_standard_deviation():
    images = torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), 2.0)])
    assert pixel_spread(images) == pytest.approx(2**0.5)  # unbiased std of {0, 2}
    assert pixel_spread(images[:1].expand(5, -1, -1, -1)) == 0.0
    varied = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert spread_ratio(varied[:1].expand(16, -1, -1, -1), varied) == 0.0
    assert spread_ratio(varied, varied) == pytest.approx(1.0)


def test_spread_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"needs images \[N >= 2, C, H, W\], got \(1, 3, 4, 4\)"):
        pixel_spread(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="differ in shape"):
        spread_ratio(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="all identical"):
        spread_ratio(torch.randn(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))


def test_mean_pairwise_distance_and_the_diversity_ratio():
    assert mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    three = torch.tensor([[0.0], [1.0], [3.0]])  # pairs 1, 3, 2 -> mean 2
    assert mean_pairwise_distance(three) == pytest.approx(2.0)
    real = _cloud(300, 0)
    assert diversity_ratio(_cloud(300, 1), real) == pytest.approx(1.0, abs=0.05)
    assert diversity_ratio(0.5 * _cloud(300, 1), real) == pytest.approx(0.5, abs=0.03)
    assert diversity_ratio(real[:1] + 0.001 * _cloud(300, 2), real) < 0.01  # a collapse, however realistic
    with pytest.raises(ValueError, match="differ in width: 8 vs 4"):
        diversity_ratio(_cloud(10, 1, d=4), real)
    with pytest.raises(ValueError, match="real features are all identical"):
        diversity_ratio(_cloud(10, 1), torch.zeros(5, 8))
