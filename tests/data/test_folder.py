"""ImageFolderDataset: reading folders, and clear errors that never touch the user's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regiongan.data import ImageFolderDataset, WorldDataset, export_world


def write_png(path: Path, size: int | tuple[int, int], value: int = 128) -> None:
    w, h = (size, size) if isinstance(size, int) else size
    rgb = np.full((h, w, 3), value, np.uint8)
    rgb[0, 0] = (255, 0, 0)
    Image.fromarray(rgb).save(path)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_reads_a_folder_of_square_images(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"img{i}.png", 16, value=40 * i)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "photo.jpg")
    ds = ImageFolderDataset(tmp_path)
    assert len(ds) == 4 and ds.resolution == 16
    item = ds[0]
    assert set(item) == {"image"}  # no labels in a plain folder
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert item["image"][0, 0, 0].item() == pytest.approx(1.0)  # red pixel -> +1
    assert item["image"][1, 0, 0].item() == pytest.approx(-1.0)


def test_missing_or_empty_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="no image files found"):
        ImageFolderDataset(tmp_path)
    (tmp_path / ".hidden").write_text("x")  # hidden files do not count as images
    with pytest.raises(ValueError, match="no image files found"):
        ImageFolderDataset(tmp_path)


def test_non_image_files_are_listed_and_nothing_is_deleted(tmp_path):
    write_png(tmp_path / "ok.png", 16)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"not really a png")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError) as err:
        ImageFolderDataset(tmp_path)
    msg = str(err.value)
    assert "notes.txt" in msg and "broken.png" in msg and "ok.png" not in msg
    assert "nothing was deleted" in msg
    assert snapshot(tmp_path) == before


def test_many_bad_files_are_summarised(tmp_path):
    write_png(tmp_path / "ok.png", 16)
    for i in range(9):
        (tmp_path / f"junk{i}.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"9 of 10 files .*junk0\.csv.*\(4 more\)"):
        ImageFolderDataset(tmp_path)


def test_mixed_sizes_are_reported_and_fixed_by_size(tmp_path):
    for i in range(2):
        write_png(tmp_path / f"small{i}.png", 16)
    write_png(tmp_path / "big.png", 32)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError) as err:
        ImageFolderDataset(tmp_path)
    msg = str(err.value)
    assert "16x16 (2 files" in msg and "32x32 (1 files" in msg and "size=" in msg
    ds = ImageFolderDataset(tmp_path, size=24)
    assert {tuple(ds[i]["image"].shape) for i in range(len(ds))} == {(3, 24, 24)}
    assert snapshot(tmp_path) == before


def test_non_square_images_and_bad_size_are_rejected(tmp_path):
    write_png(tmp_path / "wide.png", (32, 16))
    with pytest.raises(ValueError, match="square.*32x16: wide.png"):
        ImageFolderDataset(tmp_path, size=16)
    with pytest.raises(ValueError, match="size must be a positive"):
        ImageFolderDataset(tmp_path, size=0)


def test_exported_world_reads_back_identically(tmp_path):
    out = export_world("faces", tmp_path / "faces", count=5, size=32, seed=3)
    ds = ImageFolderDataset(out)
    ref = WorldDataset("faces", size=32, seed=3, length=5)
    assert len(ds) == 5
    for i in (0, 4):
        a, b = ds[i], ref[i]
        assert set(a) == {"image", "labels", "attributes", "class_id"}
        for key in a:
            assert torch.equal(a[key], b[key]), key


def test_missing_label_files_are_reported(tmp_path):
    out = export_world("scenes", tmp_path / "s", count=3, size=16)
    (out / "labels" / "000001.png").unlink()
    with pytest.raises(ValueError, match="no label PNG for 1 images: 000001.png"):
        ImageFolderDataset(out)
