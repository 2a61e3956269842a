"""upfirdn2d against its definition: zero insertion, pad/crop, true convolution, decimation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.ops.filters import make_filter, upfirdn2d, upsample2d


def definition(x: torch.Tensor, f: torch.Tensor, up: int, down: int, pad: tuple[int, int, int, int], gain: float) -> torch.Tensor:
    """The textbook composition, one step at a time (slow, obviously right)."""
    n, c, h, w = x.shape
    u = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    u[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    u = F.pad(u, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    u = u[:, :, max(-py0, 0) : u.shape[2] - max(-py1, 0), max(-px0, 0) : u.shape[3] - max(-px1, 0)]
    k = (f * gain).flip([0, 1])
    y = F.conv2d(u, k[None, None].expand(c, 1, *k.shape).contiguous(), groups=c)
    return y[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [
    (1, 1, (1, 1, 1, 1)), (1, 1, (2, 1, 2, 1)), (1, 1, (0, 0, 0, 0)), (1, 1, (-1, 2, 1, -1)),
    (2, 1, (2, 1, 2, 1)), (2, 1, (1, 1, 1, 1)), (2, 1, (3, 0, 3, 0)), (2, 1, (2, 2, 1, 1)), (2, 1, (0, -1, 0, -1)),
    (1, 2, (1, 1, 1, 1)), (1, 2, (2, 1, 2, 1)),
])  # fmt: skip
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_the_definition(up, down, pad, channels_last):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 9, 8, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    f = make_filter((1, 3, 3, 1)) if pad[0] != 0 else torch.rand(3, 4, generator=g)  # also a non-separable, non-square one
    got = upfirdn2d(x, f, up=up, down=down, padding=pad, gain=up * up)
    want = definition(x.contiguous(), f, up, down, pad, up * up)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_upsample2d_keeps_a_constant_and_doubles_the_size():
    x = torch.full((1, 2, 6, 6), 3.0)
    y = upsample2d(x, make_filter())
    assert y.shape == (1, 2, 12, 12)
    torch.testing.assert_close(y[:, :, 2:-2, 2:-2], torch.full_like(y[:, :, 2:-2, 2:-2], 3.0))


def test_an_input_smaller_than_the_filter_is_a_clear_error():
    with pytest.raises(ValueError, match=r"upfirdn2d: the padded input \(\(2, 2\)\) is smaller than the filter \(4x4\)"):
        upfirdn2d(torch.zeros(1, 1, 2, 2), make_filter())
