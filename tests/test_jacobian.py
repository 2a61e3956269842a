"""The Jacobian engine (regiongan.jacobian): forward == reverse mode, Gram accumulation == the explicit
formula, downsampling, and clear errors for NaN outputs and empty / full regions."""

from __future__ import annotations

import pytest
import torch

from regiongan.jacobian import (
    EmptyRegionError,
    GramAccumulator,
    NonFiniteOutputError,
    area_downsample,
    forward_jacobian,
    jacobian,
    reverse_jacobian,
    sample_grams,
)
from regiongan.methods.resefa import image_function, latent_rows

from .conftest import tiny_stylegan2


pytestmark = pytest.mark.usefixtures("one_thread")


def _toy(d: int = 6, h: int = 5, w: int = 4, seed: int = 0):
    """A small nonlinear 'generator' latent [d] -> image [3, h, w] with an analytic Jacobian."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(3 * h * w, d, generator=g, dtype=torch.float64)

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(W @ x).reshape(3, h, w)

    def exact(x: torch.Tensor) -> torch.Tensor:
        return (1 - torch.tanh(W @ x) ** 2)[:, None] * W

    return f, exact, torch.randn(d, generator=g, dtype=torch.float64)


def test_forward_and_reverse_match_the_analytic_jacobian():
    f, exact, x = _toy()
    J = exact(x)
    for chunk in (1, 4, 64):
        torch.testing.assert_close(forward_jacobian(f, x, chunk=chunk), J)
    torch.testing.assert_close(reverse_jacobian(f, x), J)
    torch.testing.assert_close(reverse_jacobian(f, x, chunk=7), J)  # vmapped backward over 7 rows
    rows = torch.tensor([0, 5, 17, 59])
    torch.testing.assert_close(jacobian(f, x, "forward", rows=rows), J[rows])
    torch.testing.assert_close(jacobian(f, x, "reverse", rows=slice(3, 9)), J[3:9])


def test_forward_equals_reverse_on_a_tiny_generator():
    G = tiny_stylegan2()
    ws = G.map(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)))
    f, x0 = image_function(G, "w", ws, None, latent_rows(G, "w"), 1.0)
    rows = slice(5, None, 37)  # 83 of the 3072 rows: reverse mode is one backward per row
    J_fwd = forward_jacobian(f, x0, chunk=8)
    J_rev = reverse_jacobian(f, x0, rows=rows)
    assert J_fwd.shape == (3 * 32 * 32, G.w_dim)
    scale = J_rev.abs().max()
    torch.testing.assert_close(J_fwd[rows] / scale, J_rev / scale, rtol=0, atol=2e-5)


def _explicit_grams(Js, masks):
    A = sum(J.T @ (m[:, None] * J) / m.sum() for J, m in zip(Js, masks)) / len(Js)
    B = sum(J.T @ ((1 - m)[:, None] * J) / (1 - m).sum() for J, m in zip(Js, masks)) / len(Js)
    return A, B


def test_gram_accumulation_equals_the_explicit_formula_for_soft_masks_and_row_blocks():
    fs = [_toy(seed=s) for s in range(3)]
    g = torch.Generator().manual_seed(5)
    masks = [torch.rand(1, 5, 4, generator=g, dtype=torch.float64) for _ in fs]  # soft, shared by the 3 channels
    masks[1][0, :2] = 1.0  # some rows fully inside
    masks[2][0, 3:] = 0.0  # some fully outside
    acc = GramAccumulator(6)
    for (f, _, x), m in zip(fs, masks):
        # 8 bytes per row and dim: blocks of 2 rows, so every sample is accumulated in 30 row blocks
        sample_grams(f, x, m, acc, mode="forward", chunk=4, max_jacobian_bytes=2 * 6 * 4)
    res = acc.result()
    Js = [exact(x) for f, exact, x in fs]
    rows = [m.expand(3, -1, -1).reshape(-1) for m in masks]
    A, B = _explicit_grams(Js, rows)
    torch.testing.assert_close(res.A, A)
    torch.testing.assert_close(res.B, B)
    assert res.samples == 3
    assert res.fg_fraction == pytest.approx(sum(float(m.mean()) for m in masks) / 3)
    # the reverse-mode path accumulates the same Grams
    acc_rev = GramAccumulator(6)
    for (f, _, x), m in zip(fs, masks):
        sample_grams(f, x, m, acc_rev, mode="reverse")
    torch.testing.assert_close(acc_rev.result().A, A)


def test_hard_mask_grams_are_the_row_split():
    f, exact, x = _toy()
    J = exact(x)
    m = torch.zeros(3, 5, 4, dtype=torch.float64)
    m[:, 1:3, 1:3] = 1
    m = m.reshape(-1)
    acc = GramAccumulator(6)
    acc.add(J, m)
    acc.finish_sample()
    res = acc.result()
    Jf, Jb = J[m == 1], J[m == 0]
    torch.testing.assert_close(res.A, Jf.T @ Jf / len(Jf))
    torch.testing.assert_close(res.B, Jb.T @ Jb / len(Jb))


def test_area_downsample_averages_pixels_and_its_jacobian():
    f, exact, x = _toy(h=4, w=4)
    g = area_downsample(f, 2)
    img = f(x)
    torch.testing.assert_close(g(x), img.reshape(3, 2, 2, 2, 2).mean(dim=(2, 4)))
    J = exact(x).reshape(3, 2, 2, 2, 2, -1).mean(dim=(2, 4)).reshape(12, -1)
    torch.testing.assert_close(forward_jacobian(g, x), J)
    assert area_downsample(f, None) is f
    with pytest.raises(ValueError, match="larger than the image"):
        area_downsample(f, 8)(x)


def test_nan_outputs_and_empty_or_full_regions_raise_clear_errors():
    f, _, x = _toy()

    def bad(z: torch.Tensor) -> torch.Tensor:
        return f(z) * torch.tensor(float("nan"), dtype=z.dtype)

    with pytest.raises(NonFiniteOutputError, match="NaN"):
        sample_grams(bad, x, torch.ones(1, 5, 4))
    with pytest.raises(EmptyRegionError, match="covers no pixel"):
        sample_grams(f, x, torch.zeros(1, 5, 4))
    with pytest.raises(EmptyRegionError, match="whole image"):
        sample_grams(f, x, torch.ones(1, 5, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        sample_grams(f, x, torch.ones(2, 7, 4))
    with pytest.raises(ValueError, match="one vector"):
        forward_jacobian(f, x[None])
    with pytest.raises(EmptyRegionError, match="no sample"):
        GramAccumulator(3).result()
