"""StyleGAN2's linearized synthesis (generators/stylegan2_jvp.py): one primal pass shared by every chunk of
tangents, and bf16 tangents within a stated error of float32's."""

from __future__ import annotations

import pytest
import torch

from regiongan.hardware import resolve_precision

from ..conftest import tiny_stylegan2


def _point(G, seed: int = 1) -> torch.Tensor:
    return G.map(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("overrides", [{}, {"architecture": "resnet"}, {"conv_clamp": 0.5}], ids=["skip", "resnet", "clamped"])
def test_one_linearization_gives_every_chunk_what_synthesize_jvp_gives(overrides):
    G = tiny_stylegan2(3, **overrides)
    ws = _point(G)
    dws = torch.randn(7, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        lin = G.linearize(ws)
        chunks = torch.cat([lin(dws[:3]), lin(dws[3:])])  # the same primal state, used twice
        img, dimg = G.synthesize_jvp(ws, dws)
    torch.testing.assert_close(lin.image, img, rtol=0, atol=0)
    # chunks of 3 and 4 tangents against one batch of 7: float32 kernels may sum in another order per batch
    # size (seen: 2.3e-7 of the largest value on an AMD EPYC with AVX-512), so the bound is 1e-6 of it
    torch.testing.assert_close(chunks, dimg, rtol=0, atol=1e-6 * float(dimg.abs().max()))


@pytest.mark.parametrize("overrides", [{}, {"architecture": "resnet"}, {"conv_clamp": 0.5}], ids=["skip", "resnet", "clamped"])
def test_bf16_tangents_are_within_two_percent_of_float32(overrides):
    """bf16 rounds the tangents (8-bit mantissa, 2^-9 relative) once or twice per layer and the kernels they
    meet once: measured 0.5–0.8 % (relative Frobenius error) on these models, 0.6 % on faces-64, 0.9 % at 256²
    config-f; the bound is 2 %. The image itself is the float32 primal, unchanged."""
    G = tiny_stylegan2(3, **overrides)
    ws = _point(G)
    dws = torch.randn(6, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        img32, d32 = G.synthesize_jvp(ws, dws, precision="fp32")
        img16, d16 = G.synthesize_jvp(ws, dws, precision="bf16")
    assert d16.dtype == torch.float32 and d16.shape == d32.shape
    torch.testing.assert_close(img16, img32, rtol=0, atol=0)
    rel = float((d16 - d32).norm() / d32.norm())
    assert 0 < rel < 0.02, rel  # > 0: bf16 really ran


def test_precision_auto_and_bad_precision():
    G = tiny_stylegan2(3)
    ws = _point(G)
    assert G.linearize(ws, precision="auto").precision == resolve_precision("auto")
    with pytest.raises(ValueError, match="precision must be 'auto', 'fp32' or 'bf16'"):
        G.linearize(ws, precision="fp16")
    lin = G.linearize(ws)
    with pytest.raises(ValueError, match=r"dws must be \[T, "):
        lin(torch.zeros(2, G.w_dim))
