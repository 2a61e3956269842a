"""Tests for regiongan.regions.regionset: RegionSet."""

from __future__ import annotations

import pytest
import torch

from regiongan.regions import Region, RegionError, RegionSet

from .conftest import SIZE


# ----------------------------------------------------------------------------------------------------------
# RegionSet


def test_regionset_from_regions_priority_and_partition() -> None:
    a = Region.box(0, 0, 16, 16, size=SIZE)
    b = Region.box(8, 8, 24, 24, size=SIZE)
    s = RegionSet.from_regions([a, b], names=["a", "b"])
    assert s.k == 3 and s.names == ("background", "a", "b") and s.masks.shape == (1, 3, 32, 48)
    assert torch.allclose(s.masks.sum(1), torch.ones(1, 32, 48))
    assert s["b"].mask.sum().item() == 256  # later region wins the overlap
    assert s["a"].mask.sum().item() == 256 - 64
    assert s[0].mask.sum().item() == 32 * 48 - 256 - 192
    assert torch.equal(s[-1].mask, s["b"].mask)
    assert [r.mask.sum().item() for r in s] == [s[i].mask.sum().item() for i in range(3)]
    # Soft overlap: m_a' = m_a (1 - m_b).
    ha = Region(torch.full((1, 1, 4, 4), 0.5))
    hb = Region(torch.full((1, 1, 4, 4), 0.4))
    soft = RegionSet.from_regions([ha, hb])
    assert soft.names == ("background", "region0", "region1")
    assert soft.masks[0, :, 0, 0].tolist() == pytest.approx([0.3, 0.3, 0.4])


def test_regionset_without_background() -> None:
    left = Region.box(0, 0, 24, 32, size=SIZE)
    right = Region.box(24, 0, 48, 32, size=SIZE)
    s = RegionSet.from_regions([left, right], names=["left", "right"], background=None)
    assert s.k == 2 and torch.allclose(s.masks.sum(1), torch.ones(1, 32, 48))
    with pytest.raises(RegionError, match="must cover every pixel"):
        RegionSet.from_regions([left], background=None)


def test_regionset_validation_and_normalize() -> None:
    bad = torch.full((1, 2, 4, 4), 0.3)
    with pytest.raises(RegionError, match=r"sum to 1.*from 0\.6 to 0\.6.*normalize=True.*from_regions"):
        RegionSet(bad)
    ok = RegionSet(bad, normalize=True)
    assert torch.allclose(ok.masks, torch.full((1, 2, 4, 4), 0.5))
    with pytest.raises(RegionError, match="all K masks equal to 0"):
        RegionSet(torch.zeros(1, 2, 4, 4), normalize=True)
    with pytest.raises(RegionError, match=r"\[N, K, H, W\]"):
        RegionSet(torch.ones(2, 4, 4))
    nan = torch.full((1, 1, 4, 4), float("nan"))
    with pytest.raises(RegionError, match="contains NaN"):
        RegionSet(nan)
    with pytest.raises(RegionError, match="2 non-empty strings"):
        RegionSet(torch.full((1, 2, 4, 4), 0.5), names=["only"])
    with pytest.raises(RegionError, match="duplicates"):
        RegionSet(torch.full((1, 2, 4, 4), 0.5), names=["x", "x"])


def test_regionset_getitem_errors_and_foreground_background() -> None:
    r = Region.box(0, 0, 8, 8, size=SIZE)
    fb = RegionSet.foreground_background(r)
    assert fb.names == ("background", "region")
    assert torch.equal(fb["region"].mask, r.mask) and torch.equal(fb["background"].mask, (~r).mask)
    with pytest.raises(RegionError, match=r"no region named 'mouth'; available names: \['background', 'region'\]"):
        fb["mouth"]
    with pytest.raises(RegionError, match="out of range"):
        fb[2]
    with pytest.raises(RegionError, match="has no names"):
        RegionSet(fb.masks)["region"]
    with pytest.raises(RegionError, match="same image size"):
        RegionSet.from_regions([r, Region.full((8, 8))])


def test_regionset_at_and_feather_keep_partition() -> None:
    a = Region.box(3.5, 2.25, 20.5, 17, size=SIZE)
    b = Region.polygon([(10, 10), (40, 5), (30, 30)], size=SIZE)
    s = RegionSet.from_regions([a, b])
    for h, w in ((16, 24), (5, 7), (64, 96), (20, 60)):
        m = s.at(h, w)
        assert m.shape == (1, 3, h, w)
        assert torch.allclose(m.sum(1), torch.ones(1, h, w), atol=1e-5)
    small = s.at(8, 12)
    assert torch.allclose(small.mean(dim=(2, 3)), s.masks.mean(dim=(2, 3)), atol=1e-6)
    f = s.feather(1.5)
    assert f.names == s.names
    assert torch.allclose(f.masks.sum(1), torch.ones(1, 32, 48), atol=1e-5)
    assert not torch.allclose(f.masks, s.masks)
    assert s.feather(0) is s
    e = s.expand(3)
    assert e.batch == 3 and e.names == s.names
    with pytest.raises(RegionError, match="only N=1"):
        e.expand(2)
