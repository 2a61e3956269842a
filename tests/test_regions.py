"""Tests for regiongan.regions: Region, RegionSet and parse_region."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from regiongan.regions import REGION_SYNTAX_HELP, Region, RegionError, RegionSet, parse_region

SIZE = (32, 48)  # (H, W), deliberately not square


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
# Region.from_image / from_labels / from_tensor / full


def _ramp() -> np.ndarray:
    return np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))  # [16, 32], 0..248


def test_from_image_l_rgb_rgba(tmp_path) -> None:
    ramp = _ramp()
    expected = torch.from_numpy(ramp.astype(np.float32) / 255.0)

    Image.fromarray(ramp).save(tmp_path / "l.png")
    Image.fromarray(np.stack([ramp] * 3, axis=-1)).save(tmp_path / "rgb.png")
    rgba = np.zeros((16, 32, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # colour is ignored, alpha is the mask
    rgba[..., 3] = ramp
    Image.fromarray(rgba).save(tmp_path / "rgba.png")

    for name in ("l.png", "rgb.png", "rgba.png"):
        r = Region.from_image(tmp_path / name)
        assert r.mask.shape == (1, 1, 16, 32), name
        assert torch.allclose(r.mask[0, 0], expected, atol=1 / 255), name

    # A colour image uses luminance, not e.g. the red channel.
    red = np.zeros((16, 32, 3), dtype=np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    assert Region.from_image(str(tmp_path / "red.png")).mask.mean().item() == pytest.approx(0.299, abs=0.01)


def test_from_image_resize_uses_area_average_and_batch(tmp_path) -> None:
    arr = np.zeros((32, 32), dtype=np.uint8)
    arr[:, :16] = 255
    arr[0:2, 16:18] = 255
    Image.fromarray(arr).save(tmp_path / "brush.png")
    r = Region.from_image(tmp_path / "brush.png", size=(8, 8), batch=2)
    assert r.mask.shape == (2, 1, 8, 8)
    assert r.area()[0].item() == pytest.approx(float(arr.mean()) / 255.0, abs=1e-6)
    assert r.mask[0, 0, 0, 4].item() == pytest.approx(4 / 16)  # 4x4 cell with 2x2 brushed pixels


def test_from_image_accepts_pil_and_array() -> None:
    ramp = _ramp()
    a = Region.from_image(Image.fromarray(ramp))
    b = Region.from_image(ramp)
    c = Region.from_image(ramp.astype(np.float32) / 255.0)
    assert torch.allclose(a.mask, b.mask) and torch.allclose(b.mask, c.mask)


def test_from_image_errors(tmp_path) -> None:
    with pytest.raises(RegionError, match="not found"):
        Region.from_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("this is not a PNG")
    with pytest.raises(RegionError, match="not a readable image"):
        Region.from_image(tmp_path / "notes.png")
    with pytest.raises(RegionError, match=r"got min .* max 2"):
        Region.from_image(np.full((4, 4), 2.0, dtype=np.float32))


def test_from_labels_tensor_numpy_and_png(tmp_path) -> None:
    labels = torch.zeros(16, 16, dtype=torch.long)
    labels[2:6, 2:6] = 3
    labels[8:12, 8:16] = 4
    r3 = Region.from_labels(labels, 3)
    assert r3.mask.sum().item() == 16 and r3.mask[0, 0, 3, 3].item() == 1.0
    r34 = Region.from_labels(labels.numpy().astype(np.uint8), [3, 4])
    assert r34.mask.sum().item() == 16 + 32
    Image.fromarray(labels.numpy().astype(np.uint8)).save(tmp_path / "seg.png")
    from_png = Region.from_labels(tmp_path / "seg.png", (3, 4))
    assert torch.equal(from_png.mask, r34.mask)
    # Resizing a binary label mask by area average gives the covered fraction per cell.
    small = Region.from_labels(labels, 3, size=(4, 4))
    assert small.mask[0, 0, 0, 0].item() == pytest.approx(4 / 16)
    assert small.mask.sum().item() * 16 == pytest.approx(16)


def test_from_labels_batched_and_errors() -> None:
    labels = torch.zeros(2, 8, 8, dtype=torch.int32)
    labels[0, :4] = 1
    labels[1, :, :2] = 1
    r = Region.from_labels(labels, 1)
    assert Region.from_labels(labels[:1], 1, batch=3).batch == 3
    assert r.batch == 2 and r.area().tolist() == pytest.approx([0.5, 0.25])
    with pytest.raises(RegionError, match=r"class\(es\) \[7\].*classes present are \[0, 1\]"):
        Region.from_labels(labels, 7)
    with pytest.raises(RegionError, match="integer class ids"):
        Region.from_labels(labels.float(), 1)
    with pytest.raises(RegionError, match="classes is empty"):
        Region.from_labels(labels, [])


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


# ----------------------------------------------------------------------------------------------------------
# parse_region


@pytest.fixture
def brush_path(tmp_path):
    arr = np.zeros((32, 48), dtype=np.uint8)
    arr[4:12, 4:20] = 255
    path = tmp_path / "my-brush+v2.png"  # '-' and '+' in the path must not split the spec
    Image.fromarray(arr).save(path)
    return path


def test_parse_box_forms() -> None:
    ref = Region.box(8, 4, 24, 20, size=SIZE)
    assert torch.equal(parse_region("box:8,4,24,20", SIZE).mask, ref.mask)
    assert torch.equal(parse_region(" box: 8, 4, 24, 20 ", SIZE).mask, ref.mask)
    rel = Region.box(0.25, 0.5, 0.75, 1, size=SIZE, relative=True)
    assert torch.allclose(parse_region("box:0.25,0.5,0.75,1", SIZE).mask, rel.mask)
    assert torch.allclose(parse_region("rbox:0.25,0.5,0.75,1", SIZE).mask, rel.mask)
    # All integers in [0, 1] are pixels: a 1x1 box.
    assert parse_region("box:0,0,1,1", SIZE).mask.sum().item() == 1.0
    assert torch.allclose(parse_region("rbox:0,0,1,1", SIZE).mask, Region.full(SIZE).mask)


def test_parse_poly_mask_label_full(tmp_path, brush_path) -> None:
    poly = parse_region("poly:0,0,48,0,0,32", SIZE)
    assert torch.equal(poly.mask, Region.polygon([(0, 0), (48, 0), (0, 32)], size=SIZE).mask)
    rpoly = parse_region("rpoly:0,0,1,0,0,1", SIZE)
    assert torch.equal(rpoly.mask, poly.mask)

    brush = parse_region(f"mask:{brush_path}", SIZE)
    assert brush.mask.sum().item() == 8 * 16
    # The mask is resized to the requested size.
    assert parse_region(f"mask:{brush_path}", (16, 24)).mask.shape == (1, 1, 16, 24)

    labels = np.zeros((32, 48), dtype=np.uint8)
    labels[0:4, :] = 3
    labels[30:, :] = 4
    Image.fromarray(labels).save(tmp_path / "seg-map.png")
    assert parse_region(f"label:{tmp_path / 'seg-map.png'}:3", SIZE).mask.sum().item() == 4 * 48
    assert parse_region(f"label:{tmp_path / 'seg-map.png'}:3,4", SIZE).mask.sum().item() == 6 * 48

    assert torch.equal(parse_region("full", SIZE).mask, Region.full(SIZE).mask)


def test_parse_combinations(brush_path) -> None:
    diff = parse_region("box:0,0,32,32-box:8,8,16,16", (32, 32))
    assert diff.mask.sum().item() == 32 * 32 - 64
    assert diff.mask[0, 0, 10, 10].item() == 0.0
    union = parse_region("box:0,0,8,8+box:40,24,48,32", SIZE)
    assert union.mask.sum().item() == 128
    # Left to right: (full - box) + box == full.
    assert parse_region("full-box:0,0,8,8+box:0,0,8,8", SIZE).covers_all().item()
    # A path with '-' and '+' inside a combination.
    combo = parse_region(f"mask:{brush_path}-box:4,4,12,12", SIZE)
    assert combo.mask.sum().item() == 8 * 16 - 8 * 8
    combo = parse_region(f"box:40,24,48,32 + mask:{brush_path}", SIZE)
    assert combo.mask.sum().item() == 8 * 8 + 8 * 16


def test_parse_part() -> None:
    labels = torch.zeros(64, 96, dtype=torch.long)  # part map at twice the image resolution
    labels[0:16, 0:32] = 5
    labels[32:48, :] = 7
    parts = {"mouth": 5, "nose": [7]}
    mouth = parse_region("part:mouth", SIZE, labels=labels, part_names=parts)
    assert mouth.size == SIZE and mouth.mask.sum().item() == pytest.approx(8 * 16)
    both = parse_region("part:mouth+part:nose", SIZE, labels=labels, part_names=parts)
    assert both.mask.sum().item() == pytest.approx(8 * 16 + 8 * 48)


def test_parse_errors(tmp_path) -> None:
    cases = [  # (spec, the RegionError message it must raise, as a regex), in this order
        ("circle:1,2,3", r"(?s)unknown region form 'circle:1,2,3'.*box:X0,Y0,X1,Y1.*part:NAME"),
        ("box:0,0,8,8+circle:1", r"cannot read '8\+circle:1'.*only when a known form follows"),
        ("-box:0,0,8,8", r"unknown region form '\(empty\)'"),
        ("  ", "non-empty string"),
        ("box:1,2,3", "needs 4 numbers"),
        ("box:1,2,3,x", "cannot read 'x'"),
        ("box:-4,0,8,8", "non-negative"),
        ("box:8,8,8,16", "box is empty"),
        ("poly:0,0,10,10", ">= 3 x,y points"),
        (f"mask:{tmp_path / 'nope.png'}", "not found"),
        ("label:seg.png", "label:PATH.png:IDS"),
        ("part:mouth", "part regions need a part parser"),
    ]
    for spec, message in cases:
        with pytest.raises(RegionError, match=message):
            parse_region(spec, SIZE)
    labels = torch.zeros(32, 48, dtype=torch.long)
    with pytest.raises(RegionError, match=r"unknown part name 'ear'.*available parts: \['mouth', 'nose'\]"):
        parse_region("part:ear", SIZE, labels=labels, part_names={"nose": 2, "mouth": 1})


def test_syntax_help_lists_every_form() -> None:
    for form in ("box:", "rbox:", "poly:", "rpoly:", "mask:", "label:", "part:", "full", "+", "-"):
        assert form in REGION_SYNTAX_HELP
