"""DiffAugment: shapes, determinism by generator, differentiability."""

from __future__ import annotations

import pytest
import torch

from regiongan.training import DiffAugment


def test_ops_keep_shape_follow_the_generator_and_pass_gradients():
    aug = DiffAugment(["color", "translation", "cutout"])
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    a = aug(x, torch.Generator().manual_seed(0))
    b = aug(x, torch.Generator().manual_seed(0))
    c = aug(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    (g,) = torch.autograd.grad(a.square().sum(), x, create_graph=True)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_cutout_zeroes_a_quarter_and_translation_only_shifts():
    x = torch.ones(8, 3, 16, 16)
    out = DiffAugment(["cutout"])(x, torch.Generator().manual_seed(0))
    zero_frac = (out == 0).float().mean(dim=[1, 2, 3])
    assert ((zero_frac > 0.05) & (zero_frac <= 0.25 + 1e-6)).all()
    shifted = DiffAugment(["translation"])(torch.arange(16.0).expand(1, 1, 16, 16), torch.Generator().manual_seed(3))
    assert set(shifted.unique().tolist()) <= set(range(16))


def test_empty_policy_is_identity_and_unknown_ops_fail():
    x = torch.randn(2, 3, 8, 8)
    assert not DiffAugment([]) and torch.equal(DiffAugment([])(x, torch.Generator()), x)
    with pytest.raises(ValueError, match="unknown augmentation"):
        DiffAugment(["rotate"])
