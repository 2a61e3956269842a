"""Shared equalised layers: resampling convolutions against generic references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.equalized import Conv2dLayer, FullyConnectedLayer, resample_conv2d
from regiongan.ops.activations import DEFAULT_GAINS, bias_act
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


@pytest.mark.parametrize("activation", ["linear", "lrelu"])
@pytest.mark.parametrize("up, down, k", [(1, 1, 3), (1, 2, 3), (1, 2, 1), (2, 1, 3), (2, 1, 1)])
def test_conv2d_layer_equals_unfused_bias_act(activation, up, down, k):
    """Gain and bias folded into the convolution == NVlabs' order: conv, then bias_act (bias, act, gain, clamp)."""
    torch.manual_seed(3)
    layer = Conv2dLayer(5, 7, k, activation=activation, up=up, down=down, conv_clamp=0.5)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(2, 5, 8, 8)
    gain = 0.7
    conv = resample_conv2d(x, layer.weight * layer.weight_gain, layer.resample_filter, up=up, down=down)
    ref = bias_act(conv, layer.bias, activation, gain=DEFAULT_GAINS[activation] * gain, clamp=0.5 * gain)
    out = layer(x, gain=gain)
    assert (ref.abs() == 0.5 * gain).any() and (ref.abs() < 0.5 * gain).any()  # the clamp is exercised both ways
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="gain must be > 0"):
        layer(x, gain=0.0)


@pytest.mark.parametrize("activation", ["linear", "lrelu"])
@pytest.mark.parametrize("bias", [True, False])
def test_fully_connected_layer_equals_unfused_bias_act(activation, bias):
    torch.manual_seed(4)
    layer = FullyConnectedLayer(6, 5, bias=bias, activation=activation, lr_multiplier=0.1, bias_init=0.3)
    x = torch.randn(4, 6)
    b = layer.bias * layer.bias_gain if bias else None
    ref = bias_act(x @ (layer.weight * layer.weight_gain).t(), b, activation)
    torch.testing.assert_close(layer(x), ref, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        FullyConnectedLayer(6, 5, activation="relu")
