"""Tests for regiongan.regions.sources: Region.from_image / Region.from_labels on PNGs, PIL images, arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from regiongan.regions import Region, RegionError


# ----------------------------------------------------------------------------------------------------------
# Region.from_image / from_labels


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
