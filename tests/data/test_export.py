"""export_world and preview_grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from regiongan.data import LABEL_PALETTE, colorize_labels, export_world, get_world, preview_grid


def test_folder_export_layout(tmp_path):
    out = export_world("scenes", tmp_path / "out", count=4, size=24, seed=1)
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:06d}.png" for i in range(4)]
    images, labels, attributes, class_ids = get_world("scenes").sample_batch(1, 0, 4, 24)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "images" / "000002.png")), images[2])
    label_png = Image.open(out / "labels" / "000002.png")
    assert label_png.mode == "L"
    np.testing.assert_array_equal(np.asarray(label_png), labels[2])
    np.testing.assert_array_equal(np.load(out / "attributes.npy"), attributes)
    np.testing.assert_array_equal(np.load(out / "class_ids.npy"), class_ids)
    meta = json.loads((out / "world.json").read_text())
    assert meta["world"] == "scenes" and meta["count"] == 4 and meta["part_names"][0] == "sky"


def test_npz_export(tmp_path):
    out = export_world("faces", tmp_path, count=3, size=16, fmt="npz")
    data = np.load(out / "world.npz")
    assert data["images"].shape == (3, 16, 16, 3) and data["images"].dtype == np.uint8
    assert data["labels"].shape == (3, 16, 16)
    assert data["attributes"].shape == (3, len(get_world("faces").attribute_names))
    np.testing.assert_array_equal(data["class_ids"], 0)


def test_export_refuses_to_overwrite_a_non_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty.*overwrite=True"):
        export_world("faces", tmp_path, count=2, size=16)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "images").exists()


def test_overwrite_replaces_a_previous_export_but_keeps_other_files(tmp_path):
    export_world("faces", tmp_path, count=5, size=16)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        export_world("faces", tmp_path, count=2, size=16)
    export_world("faces", tmp_path, count=2, size=16, overwrite=True)
    assert len(list((tmp_path / "images").iterdir())) == 2  # no stale 000002..000004
    assert len(np.load(tmp_path / "attributes.npy")) == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("kwargs, match", [
    (dict(count=0), "count must be a positive"),
    (dict(count=2, size=-1), "size must be a positive"),
    (dict(count=2, fmt="zip"), "fmt must be"),
])
def test_export_argument_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_world("faces", tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_preview_grid_pairs_images_with_palette_labels():
    world = get_world("faces")
    grid = preview_grid(world, seed=0, count=3, size=16, columns=2)
    assert grid.size == (2 * (2 * 16 + 2 + 2) + 2, 2 * (16 + 2) + 2)  # 2-pixel gaps
    arr = np.asarray(grid)
    images, labels, _, _ = world.sample_batch(0, 0, 3, 16)
    np.testing.assert_array_equal(arr[2:18, 2:18], images[0])
    np.testing.assert_array_equal(arr[2:18, 20:36], LABEL_PALETTE[labels[0]])
    assert preview_grid(world, count=2, size=16, scale=3).size[0] == 3 * preview_grid(world, count=2, size=16).size[0]
    with pytest.raises(ValueError, match="count must be a positive"):
        preview_grid(world, count=0)


def test_palette_is_fixed_and_distinct():
    assert LABEL_PALETTE.shape == (256, 3) and LABEL_PALETTE.dtype == np.uint8
    assert tuple(LABEL_PALETTE[0]) == (0, 0, 0)
    assert len({tuple(c) for c in LABEL_PALETTE[:16]}) == 16
    assert not LABEL_PALETTE.flags.writeable
    with pytest.raises(ValueError, match="0..255"):
        colorize_labels(np.array([[300]]))
