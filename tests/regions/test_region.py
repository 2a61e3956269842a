"""Tests for regiongan.regions.region: Region constructors, checks, resampling and set operations."""

from __future__ import annotations

import math

import pytest
import torch

from regiongan.regions import Region, RegionError

from .conftest import SIZE


# ----------------------------------------------------------------------------------------------------------
# Region.box


def test_box_integer_coords_is_exact_hard_mask() -> None:
    r = Region.box(8, 4, 24, 12, size=SIZE)
    assert r.mask.shape == (1, 1, 32, 48) and r.mask.dtype == torch.float32
    expected = torch.zeros(32, 48)
    expected[4:12, 8:24] = 1.0
    assert torch.equal(r.mask[0, 0], expected)
    assert r.size == SIZE and r.batch == 1


def test_box_fractional_coverage_sums_to_box_area() -> None:
    r = Region.box(2.5, 3.25, 10.75, 7.5, size=SIZE)
    m = r.mask[0, 0]
    assert m.sum().item() == pytest.approx((10.75 - 2.5) * (7.5 - 3.25), abs=1e-4)
    assert m[5, 2].item() == pytest.approx(0.5)  # left edge at x=2.5
    assert m[3, 5].item() == pytest.approx(0.75)  # top edge at y=3.25
    assert m[3, 2].item() == pytest.approx(0.5 * 0.75)  # corner
    assert m[5, 10].item() == pytest.approx(0.75)  # right edge at x=10.75
    assert m[5, 11].item() == 0.0
    assert r.area().item() == pytest.approx(m.sum().item() / (32 * 48))


def test_box_relative_matches_pixels() -> None:
    pix = Region.box(12, 8, 36, 24, size=SIZE)
    rel = Region.box(0.25, 0.25, 0.75, 0.75, size=SIZE, relative=True)
    assert torch.allclose(pix.mask, rel.mask)
    # Relative boxes are resolution independent: same area fraction at another size.
    rel_big = Region.box(0.1, 0.3, 0.55, 0.9, size=(97, 131), relative=True)
    assert rel_big.area().item() == pytest.approx(0.45 * 0.6, abs=1e-5)


def test_box_partially_outside_is_clipped_and_batch_broadcasts() -> None:
    r = Region.box(40, 28, 60, 40, size=SIZE, batch=3)
    assert r.batch == 3
    assert r.mask[0, 0].sum().item() == pytest.approx(8 * 4)
    assert torch.equal(r.mask[0], r.mask[2])


@pytest.mark.parametrize(
    ("coords", "match"),
    [
        ((10, 5, 10, 20), "box is empty"),
        ((10, 20, 20, 5), "box is empty"),
        ((50, 0, 60, 10), "fully outside"),
        ((0, 40, 10, 50), "fully outside"),
    ],
)
def test_box_errors(coords: tuple[float, ...], match: str) -> None:
    with pytest.raises(RegionError, match=match):
        Region.box(*coords, size=SIZE)


def test_box_relative_out_of_range_suggests_pixels() -> None:
    with pytest.raises(RegionError, match=r"relative box coordinates must lie in \[0, 1\].*relative=False"):
        Region.box(0, 0, 16, 16, size=SIZE, relative=True)


@pytest.mark.parametrize("size", [(0, 10), (10,), (10.0, 10), "32x32"])
def test_bad_size_is_explained(size: object) -> None:
    with pytest.raises(RegionError, match=r"\(height, width\)"):
        Region.full(size)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------
# Region.polygon


def test_polygon_square_matches_box() -> None:
    poly = Region.polygon([(8, 4), (24, 4), (24, 20), (8, 20)], size=SIZE)
    box = Region.box(8, 4, 24, 20, size=SIZE)
    assert torch.allclose(poly.mask, box.mask)
    # Non-integer square: supersampled area within 1% of the exact fractional box.
    poly = Region.polygon([(3.3, 2.6), (20.7, 2.6), (20.7, 17.1), (3.3, 17.1)], size=SIZE)
    box = Region.box(3.3, 2.6, 20.7, 17.1, size=SIZE)
    assert poly.mask.sum().item() == pytest.approx(box.mask.sum().item(), rel=0.01)
    assert (poly.mask - box.mask).abs().max().item() <= 0.25 + 1e-6  # only edge pixels differ


def test_polygon_triangle_area_and_relative() -> None:
    tri = Region.polygon([(0, 0), (48, 0), (0, 32)], size=SIZE)
    assert tri.mask.sum().item() == pytest.approx(48 * 32 / 2, rel=0.01)
    rel = Region.polygon([(0, 0), (1, 0), (0, 1)], size=SIZE, relative=True)
    assert torch.allclose(tri.mask, rel.mask)


def test_polygon_self_intersection_uses_even_odd_rule() -> None:
    # A bow-tie: left and right triangles meeting at the centre.
    bow = Region.polygon([(0, 0), (48, 32), (48, 0), (0, 32)], size=SIZE)
    assert bow.mask.sum().item() == pytest.approx(2 * (32 * 24 / 2), rel=0.02)
    assert bow.mask[0, 0, 16, 2].item() == 1.0  # left triangle
    assert bow.mask[0, 0, 1, 24].item() == 0.0  # top wedge between the triangles is empty
    # A pentagram drawn in one stroke: the even-odd rule leaves the central pentagon empty
    # (the nonzero rule would fill it).
    tips = [(24 + 15 * math.sin(2 * math.pi * i / 5), 16 - 15 * math.cos(2 * math.pi * i / 5)) for i in range(5)]
    star = Region.polygon([tips[i] for i in (0, 2, 4, 1, 3)], size=SIZE)
    assert star.mask[0, 0, 16, 24].item() == 0.0  # centre
    assert star.mask[0, 0, 6, 24].item() == 1.0  # top arm


def test_polygon_errors() -> None:
    with pytest.raises(RegionError, match="at least 3 points"):
        Region.polygon([(0, 0), (10, 10)], size=SIZE)
    with pytest.raises(RegionError, match="covers no pixel"):
        Region.polygon([(0, 0), (10, 10), (20, 20)], size=SIZE)  # collinear
    with pytest.raises(RegionError, match="covers no pixel"):
        Region.polygon([(100, 100), (120, 100), (110, 120)], size=SIZE)
    with pytest.raises(RegionError, match=r"\(x, y\) pairs"):
        Region.polygon([(0, 0, 1), (10, 10, 1), (20, 0, 1)], size=SIZE)


# ----------------------------------------------------------------------------------------------------------
# Region.from_tensor / full


def test_from_tensor_shapes() -> None:
    m = torch.rand(8, 10)
    for t in (m, m[None], m[None, None]):
        r = Region.from_tensor(t)
        assert r.mask.shape == (1, 1, 8, 10) and torch.equal(r.mask[0, 0], m)
    assert Region.from_tensor(torch.rand(3, 1, 8, 10)).batch == 3
    assert Region.from_tensor(m > 0.5).mask.dtype == torch.float32
    with pytest.raises(RegionError, match="ambiguous.*unsqueeze"):
        Region.from_tensor(torch.rand(3, 8, 10))
    with pytest.raises(RegionError, match="5-D"):
        Region.from_tensor(torch.rand(1, 1, 1, 8, 10))


def test_region_validation_errors() -> None:
    nan = torch.zeros(1, 1, 4, 4)
    nan[0, 0, 1, 1] = float("nan")
    with pytest.raises(RegionError, match="contains NaN"):
        Region(nan)
    with pytest.raises(RegionError, match="contains inf"):
        Region(torch.full((1, 1, 4, 4), float("inf")))
    with pytest.raises(RegionError, match=r"must be \[N, 1, H, W\].*from_tensor"):
        Region(torch.zeros(4, 4))
    with pytest.raises(RegionError, match=r"must be \[N, 1, H, W\]"):
        Region(torch.zeros(1, 3, 4, 4))
    with pytest.raises(RegionError, match=r"\[0, 1\].*divide by 255"):
        Region(torch.full((1, 1, 4, 4), 200.0))
    with pytest.raises(RegionError, match="min -0.5"):
        Region(torch.full((1, 1, 4, 4), -0.5))
    with pytest.raises(RegionError, match="dtype torch.uint8"):
        Region(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    # Rounding noise within 1e-6 is clamped, not rejected.
    r = Region(torch.full((1, 1, 2, 2), 1.0 + 5e-7))
    assert r.mask.max().item() == 1.0


def test_full_empty_and_requirements() -> None:
    full = Region.full(SIZE, batch=2)
    assert full.mask.shape == (2, 1, 32, 48)
    assert full.covers_all().all() and not full.is_empty().any()
    assert torch.equal(full.area(), torch.ones(2))
    with pytest.raises(RegionError, match="covers the whole image"):
        full.require_not_full()
    box = Region.box(0, 0, 8, 8, size=SIZE)
    assert box.require_nonempty() is box and box.require_not_full() is box
    empty = box - box
    assert empty.is_empty().item()
    with pytest.raises(RegionError, match=r"^region is empty \(covers 0 pixels\); "):
        empty.require_nonempty()
    with pytest.raises(RegionError, match=r"^mouth is empty .*batch item\(s\) \[1\]"):
        Region(torch.cat([box.mask, empty.mask])).require_nonempty("mouth")


# ----------------------------------------------------------------------------------------------------------
# Resampling, feathering, batch


def test_at_area_average_preserves_mean_and_enlarges() -> None:
    r = Region.box(5.5, 3.25, 30.5, 21.75, size=(32, 48))
    for h, w in ((16, 24), (8, 12), (5, 7)):
        small = r.at(h, w)
        assert small.shape == (1, 1, h, w)
        if 32 % h == 0 and 48 % w == 0:
            assert small.mean().item() == pytest.approx(r.mask.mean().item(), abs=1e-6)
    big = r.at(64, 96)
    assert big.shape == (1, 1, 64, 96) and 0 <= big.min() and big.max() <= 1
    assert r.at(32, 48) is r.mask
    assert r.resize((16, 24)).size == (16, 24)
    with pytest.raises(RegionError, match="positive"):
        r.at(0, 4)


def test_feather_keeps_mass_and_softens() -> None:
    r = Region.box(16, 8, 32, 24, size=SIZE)
    f = r.feather(2.0)
    assert f.mask.sum().item() == pytest.approx(r.mask.sum().item(), rel=1e-4)
    assert 0.0 < f.mask[0, 0, 16, 15].item() < 1.0  # just outside the left edge now partly on
    assert f.mask[0, 0, 16, 24].item() == pytest.approx(1.0, abs=1e-3)  # centre stays on
    assert r.feather(0) is r
    # A huge sigma on a tiny image still works (kernel radius is capped by reflect padding).
    tiny = Region.box(0, 0, 2, 2, size=(4, 4)).feather(10.0)
    assert tiny.mask.sum().item() == pytest.approx(4.0, rel=0.05)
    with pytest.raises(RegionError, match=">= 0"):
        r.feather(-1.0)


def test_expand_and_to() -> None:
    r = Region.box(0, 0, 8, 8, size=SIZE)
    e = r.expand(4)
    assert e.batch == 4 and torch.equal(e.mask[3], r.mask[0])
    assert e.expand(4) is e
    with pytest.raises(RegionError, match="only a single mask"):
        e.expand(2)
    assert r.to("cpu").mask.device.type == "cpu"


# ----------------------------------------------------------------------------------------------------------
# Set operations


def test_set_operations() -> None:
    a = Region.box(0, 0, 16, 16, size=SIZE)
    b = Region.box(8, 8, 24, 24, size=SIZE)
    assert (a | b).mask.sum().item() == 256 + 256 - 64
    assert (a & b).mask.sum().item() == 64
    assert (a - b).mask.sum().item() == 256 - 64
    assert (~a).mask.sum().item() == 32 * 48 - 256
    assert torch.equal((~~a).mask, a.mask)
    # Soft masks: difference is min(a, 1 - b).
    s = Region(torch.full((1, 1, 32, 48), 0.7))
    assert torch.allclose((s - s).mask, torch.full_like(s.mask, 0.3))
    # Batch 1 broadcasts against batch 3.
    assert (a | b.expand(3)).batch == 3


def test_set_operation_errors() -> None:
    a = Region.box(0, 0, 16, 16, size=SIZE)
    with pytest.raises(RegionError, match=r"different image sizes.*\(32, 48\) vs \(16, 16\).*resize"):
        _ = a | Region.full((16, 16))
    with pytest.raises(RegionError, match="batches 2 and 3"):
        _ = a.expand(2) & a.expand(3)
    with pytest.raises(TypeError):
        _ = a | 1  # type: ignore[operator]


def test_to_image_save_roundtrip(tmp_path) -> None:
    r = Region.box(2.5, 2, 20, 10, size=SIZE)
    img = r.to_image()
    assert img.mode == "L" and img.size == (48, 32)
    r.save(tmp_path / "out.png")
    back = Region.from_image(tmp_path / "out.png")
    assert torch.allclose(back.mask, r.mask, atol=0.5 / 255 + 1e-6)
