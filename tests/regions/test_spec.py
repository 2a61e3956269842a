"""Tests for regiongan.regions.spec: parse_region and REGION_SYNTAX_HELP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from regiongan.regions import REGION_SYNTAX_HELP, Region, RegionError, parse_region

from .conftest import SIZE


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
        ("circle:1,2,3", r"unknown region form .circle:1,2,3.* accepted forms: box:, rbox:, poly:.*see `regiongan regions`"),
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
