"""Queries (Eq. 4, 5): clipping, budget and threshold, ρ validation, merged parts."""

from __future__ import annotations

import math

import pytest
import torch

from regiongan.methods.editing_in_style import (
    DEFAULT_RHO,
    CatalogError,
    build_catalog,
    part_queries,
    sequential_query,
    simultaneous_query,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def catalog(G):
    cat = build_catalog(G, samples=8, k=4, progress=False)
    return cat.name_clusters({"eyes": [1, 2], "rest": [0, 3]})


def test_simultaneous_query_clips_at_one():
    m = torch.tensor([0.05, 0.3, 0.6, 0.0])
    assert torch.allclose(simultaneous_query(m, 2.0), torch.tensor([0.1, 0.6, 1.0, 0.0]))
    assert torch.equal(simultaneous_query(m, 0.0), torch.zeros(4))
    assert torch.equal(simultaneous_query(m, 1e6), torch.tensor([1.0, 1.0, 1.0, 0.0]))


def test_sequential_query_budget_and_threshold():
    m = torch.tensor([0.5, 0.05, 0.9, 0.3, 0.2])
    # sorted: 0.9 (cost 0.1, total 0.1), 0.5 (0.5 -> 0.6), 0.3 (0.7 -> 1.3 > 1): stop
    assert torch.equal(sequential_query(m, eps=1.0), torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0]))
    assert torch.equal(sequential_query(m, eps=1.35), torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]))
    # a budget met exactly is within it (dyadic values: no rounding): costs 0.25 + 0.5 = 0.75
    assert torch.equal(sequential_query(torch.tensor([0.5, 0.75, 0.25]), eps=0.75), torch.tensor([1.0, 1.0, 0.0]))
    # a large budget takes every channel above ρ/(1+ρ) = 0.1, never the 0.05 one
    assert torch.equal(sequential_query(m, eps=100.0), torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0]))
    # ρ = 1: threshold 0.5, strict: 0.5 itself is out
    assert torch.equal(sequential_query(m, eps=100.0, rho=1.0), torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))
    # ε = 0: only channels that cost nothing (M = 1)
    assert torch.equal(sequential_query(torch.tensor([1.0, 0.9]), eps=0.0), torch.tensor([1.0, 0.0]))
    assert torch.equal(sequential_query(m, eps=0.05), torch.zeros(5))
    # ties: lower index first
    assert torch.equal(sequential_query(torch.tensor([0.4, 0.4, 0.4]), eps=1.2), torch.tensor([1.0, 1.0, 0.0]))
    assert DEFAULT_RHO / (1 + DEFAULT_RHO) == pytest.approx(0.1)


@pytest.mark.parametrize("rho", [0.0, -1.0, math.inf, math.nan])
def test_bad_rho(rho):
    with pytest.raises(ValueError, match=r"rho is the paper's ρ \(Eq. 5\).*finite number > 0 .*lies in \(0, 1\)"):
        sequential_query(torch.tensor([0.5]), eps=1.0, rho=rho)


def test_bad_query_input(catalog):
    with pytest.raises(ValueError, match=r"eps \(ε, Eq. 5\) must be a finite number >= 0"):
        sequential_query(torch.tensor([0.5]), eps=-0.1)
    with pytest.raises(ValueError, match=r"eps \(ε, Eq. 5\) must be a finite number >= 0"):
        sequential_query(torch.tensor([0.5]), eps=math.nan)
    with pytest.raises(ValueError, match=r"lam \(λ, Eq. 4\) must be a finite number >= 0"):
        simultaneous_query(torch.tensor([0.5]), lam=-1)
    with pytest.raises(ValueError, match="must be a number"):
        sequential_query(torch.tensor([0.5]), eps="10")
    with pytest.raises(ValueError, match=r"a contribution row must be a 1-D tensor \[C\]"):
        sequential_query(torch.ones(2, 2), eps=1.0)
    with pytest.raises(ValueError, match=r"method must be one of \('sequential', 'simultaneous'\)"):
        part_queries(catalog, "eyes", method="greedy")
    with pytest.raises(CatalogError, match=r"unknown part 'nose'; this catalog's parts: eyes=\[1, 2\], rest=\[0, 3\]"):
        part_queries(catalog, "nose")


def test_part_queries_use_the_merged_row(G, catalog):
    q = part_queries(catalog, "eyes", method="simultaneous", lam=2.0)
    m = catalog.contributions["b16.conv1"][[1, 2]].sum(dim=0)
    assert torch.allclose(q["b16.conv1"], (2 * m).clamp(max=1))
    assert torch.equal(q["b4.conv1"], torch.zeros_like(q["b4.conv1"]))  # the constant's layer is never edited
    assert set(q) == {p.name for p in G.control_points()}
    seq = part_queries(catalog, [1, 2], eps=3.0)
    assert all(torch.equal(seq[n], sequential_query(catalog.part_contributions("eyes")[n], 3.0)) for n in seq)
