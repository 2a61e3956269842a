"""find_directions(precision="bf16"): the directions agree with float32's within a stated bound."""

from __future__ import annotations

import pytest
import torch

from regiongan.methods.resefa import find_directions

from .conftest import BOX


@pytest.fixture(scope="module")
def both(G):
    return {p: find_directions(G, BOX, samples=4, k=4, precision=p) for p in ("fp32", "bf16")}


def test_bf16_directions_agree_with_float32(both):
    """Bound: top-3 directions |cos| >= 0.99 and eigenvalues within 3 % of float32's (measured on faces-64,
    box region, 3 samples: |cos| >= 0.9997 for all 10 directions, eigenvalues within 0.5 %)."""
    a, b = both["fp32"], both["bf16"]
    assert a.meta["precision"] == "fp32" and b.meta["precision"] == "bf16"
    cos = (a.vectors[:3] * b.vectors[:3]).sum(1).abs()
    assert bool((cos >= 0.99).all()), cos
    rel = ((b.eigenvalues[:3] - a.eigenvalues[:3]) / a.eigenvalues[:3]).abs()
    assert bool((rel <= 0.03).all()), rel
    assert not torch.equal(a.vectors, b.vectors)  # bf16 really ran


def test_bad_precision_is_refused_before_any_work(G):
    with pytest.raises(ValueError, match="precision must be 'auto', 'fp32' or 'bf16'"):
        find_directions(G, BOX, samples=1, precision="half")
