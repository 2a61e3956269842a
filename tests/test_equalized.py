"""Shared equalised layers: resampling convolutions against generic references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.equalized import Conv2dLayer, resample_conv2d
from regiongan.ops.filters import make_filter, upfirdn2d


@pytest.mark.parametrize("k", [1, 3])
def test_downsampling_equals_convolve_then_filter(k):
    """Fast path (blur, strided conv) against the generic one (pad, conv, blur + decimate)."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 5, 12, 12, generator=g), torch.randn(7, 5, k, k, generator=g)
    f = make_filter([1, 3, 3, 1])
    p = k // 2 + 1
    ref = upfirdn2d(F.conv2d(F.pad(x, [p, p, p, p]), w), f, down=2)
    out = resample_conv2d(x, w, f, down=2)
    assert out.shape == (2, 7, 6, 6)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("k", [1, 3])
def test_upsampling_equals_zero_insert_filter_then_convolve(k):
    """Transposed conv + blur against the generic form: zero-insert ×2, the *full* linear convolution with the
    blur (gain 4) and with the kernel (a transposed conv is a true convolution), cropped to 2H at the offset
    NVlabs' padding implies (1 + k // 2 for a 4-tap filter)."""
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(2, 5, 6, 6, generator=g), torch.randn(7, 5, k, k, generator=g)
    f = make_filter([1, 3, 3, 1])
    full = upfirdn2d(x, f, up=2, padding=(3, 3, 3, 3), gain=4)
    full = F.conv2d(F.pad(full, [k - 1] * 4), w.flip([2, 3]))
    o = 1 + k // 2
    ref = full[..., o : o + 12, o : o + 12]
    out = resample_conv2d(x, w, f, up=2)
    assert out.shape == (2, 7, 12, 12)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_grouped_upsampling_equals_per_group():
    g = torch.Generator().manual_seed(2)
    x, w = torch.randn(1, 6, 5, 5, generator=g), torch.randn(8, 3, 3, 3, generator=g)
    f = make_filter([1, 3, 3, 1])
    out = resample_conv2d(x, w, f, up=2, groups=2)
    parts = [resample_conv2d(x[:, 3 * i : 3 * i + 3], w[4 * i : 4 * i + 4], f, up=2) for i in range(2)]
    torch.testing.assert_close(out, torch.cat(parts, 1), atol=1e-5, rtol=1e-5)


def test_conv2d_layer_shapes_and_errors():
    assert Conv2dLayer(4, 6, 3, down=2)(torch.randn(1, 4, 8, 8)).shape == (1, 6, 4, 4)
    assert Conv2dLayer(4, 6, 1, up=2, bias=False)(torch.randn(1, 4, 8, 8)).shape == (1, 6, 16, 16)
    with pytest.raises(ValueError, match="up and down together"):
        resample_conv2d(torch.randn(1, 1, 4, 4), torch.randn(1, 1, 3, 3), make_filter(), up=2, down=2)
