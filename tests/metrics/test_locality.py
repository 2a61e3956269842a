"""Locality metrics (regiongan.metrics.locality): CIELAB conversion against known values and an independent
scalar implementation, In/Out-MSE weighting, ΔE heatmaps."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from regiongan.metrics.locality import change_heatmap, heatmap_image, in_out_mse, rgb_to_lab, save_heatmap
from regiongan.regions import Region, RegionError


def _img(rgb01):
    """[(r, g, b) in [0, 1], ...] -> [N, 3, 1, 1] in [-1, 1]."""
    return (torch.tensor(rgb01, dtype=torch.float32) * 2 - 1)[:, :, None, None]


def _lab_scalar(r, g, b):
    """Textbook sRGB (D65) -> CIELAB for one colour, written independently with Python floats."""

    def expand(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = expand(r), expand(g), expand(b)
    x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047
    y = (0.212671 * r + 0.715160 * g + 0.072169 * b) / 1.0
    z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


@pytest.mark.parametrize(
    "rgb, lab",
    [
        ((1, 1, 1), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((1, 0, 0), (53.24, 80.09, 67.20)),
        ((0, 1, 0), (87.73, -86.18, 83.18)),
        ((0, 0, 1), (32.30, 79.19, -107.86)),
        ((0.5, 0.5, 0.5), (53.39, 0.0, 0.0)),
    ],
)
def test_rgb_to_lab_known_values(rgb, lab):
    out = rgb_to_lab(_img([rgb]))[0, :, 0, 0]
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor(lab), atol=0.01, rtol=0)


def test_rgb_to_lab_matches_an_independent_scalar_implementation():
    colours = torch.rand(200, 3, generator=torch.Generator().manual_seed(0))
    colours[:10] *= 0.03  # exercise the linear segments near black
    out = rgb_to_lab(_img(colours.tolist()))[:, :, 0, 0].double()
    # the reference sees the same float32 [-1, 1] encoding of each colour
    enc = (colours * 2 - 1).double().tolist()
    ref = torch.tensor([_lab_scalar(*[(v + 1) / 2 for v in c]) for c in enc], dtype=torch.float64)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


def test_rgb_to_lab_clamps_and_checks_shape():
    torch.testing.assert_close(rgb_to_lab(_img([[1.5, 1.2, 2.0]])), rgb_to_lab(_img([[1, 1, 1]])), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        rgb_to_lab(torch.zeros(1, 1, 4, 4))


def test_in_out_mse_weights_inside_and_outside():
    a = torch.zeros(2, 3, 8, 8)
    b = a.clone()
    b[:, :, :4] = 1.0  # change the top half only: mid grey -> white
    mask = Region.box(0, 0, 8, 4, (8, 8))  # exactly the top half
    in_mse, out_mse = in_out_mse(a, b, mask)
    d2 = float((rgb_to_lab(b[:1, :, :1, :1]) - rgb_to_lab(a[:1, :, :1, :1])).square().sum())
    torch.testing.assert_close(in_mse, torch.full((2,), d2), rtol=1e-5, atol=0)
    assert torch.equal(out_mse, torch.zeros(2))
    # a soft mask of 0.5 everywhere: both sides see the mean error over all pixels
    half = torch.full((1, 1, 8, 8), 0.5)
    in_mse, out_mse = in_out_mse(a, b, half)
    torch.testing.assert_close(in_mse, torch.full((2,), d2 / 2), rtol=1e-5, atol=0)
    torch.testing.assert_close(out_mse, in_mse)
    # an empty mask has no inside: NaN, documented
    in_mse, out_mse = in_out_mse(a, b, torch.zeros(1, 1, 8, 8))
    assert bool(torch.isnan(in_mse).all()) and torch.isfinite(out_mse).all()


def test_in_out_mse_errors():
    a = torch.zeros(2, 3, 8, 8)
    with pytest.raises(RegionError, match="mask is 4x4 but the images are 8x8"):
        in_out_mse(a, a, torch.ones(1, 1, 4, 4))
    with pytest.raises(RegionError, match="batch 3"):
        in_out_mse(a, a, torch.ones(3, 1, 8, 8))
    with pytest.raises(RegionError, match="NaN"):
        in_out_mse(a, a, torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="same shape"):
        in_out_mse(a, a[:1], torch.ones(1, 1, 8, 8))


def test_change_heatmap_and_png(tmp_path):
    a = torch.zeros(1, 3, 4, 4)
    b = a.clone()
    b[0, :, 1, 2] = 1.0
    heat = change_heatmap(a, b)
    assert heat.shape == (1, 1, 4, 4) and float(heat.sum()) == pytest.approx(float(heat[0, 0, 1, 2]))
    assert float(heat[0, 0, 1, 2]) == pytest.approx(100.0 - 53.39, abs=0.01)  # grey -> white: ΔE = ΔL
    img = heatmap_image(heat, scale=2)
    assert img.size == (8, 8) and img.mode == "RGB"
    assert img.getpixel((0, 0)) == (0, 0, 4) and img.getpixel((4, 2)) == (252, 255, 164)
    path = save_heatmap(heat, tmp_path / "h" / "heat.png", vmax=2 * float(heat.max()))
    assert Image.open(path).getpixel((2, 1)) != (252, 255, 164)  # vmax above the max: not saturated
    assert math.isfinite(float(heat.max()))
