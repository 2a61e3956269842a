"""The demodulation helpers and their frozen-weight cache."""

from __future__ import annotations

import torch

from regiongan.generators.modulation import conv_weight, demodulation, squared_weight_sums
from tests.conftest import tiny_stylegan2


def _layer():
    return tiny_stylegan2().eval().synthesis.b8.conv1


def test_squared_sums_and_demodulation_match_the_definition():
    layer = _layer()
    s = torch.randn(3, layer.in_channels)
    w = layer.weight
    want = ((w[None] * s[:, None, :, None, None]).square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    with torch.no_grad():
        torch.testing.assert_close(demodulation(squared_weight_sums(layer), s), want)


def test_the_cache_follows_in_place_changes_and_reloads():
    layer = _layer()
    with torch.no_grad():
        first = squared_weight_sums(layer)
        assert squared_weight_sums(layer) is first  # kept while frozen
        layer.weight.mul_(2)  # an in-place edit moves the version counter
        torch.testing.assert_close(squared_weight_sums(layer), first * 4)
        layer.load_state_dict({k: v * 0 + 1 for k, v in layer.state_dict().items()})
        torch.testing.assert_close(squared_weight_sums(layer), torch.full_like(first, 9.0))


def test_no_cache_in_training_mode_or_under_autograd():
    layer = _layer()
    layer.train()
    with torch.no_grad():
        a = squared_weight_sums(layer)
        assert squared_weight_sums(layer) is not a  # training mode: fused optimisers may not bump versions
    layer.eval().requires_grad_(True)
    wsq = squared_weight_sums(layer)  # gradient recorded for the weight
    assert wsq.requires_grad
    wsq.sum().backward()
    assert layer.weight.grad is not None


def test_conv_weight_converts_once_while_frozen():
    layer = _layer()
    with torch.no_grad():
        a = conv_weight(layer, torch.bfloat16, channels_last=True)
        assert a.dtype == torch.bfloat16 and a.is_contiguous(memory_format=torch.channels_last)
        assert conv_weight(layer, torch.bfloat16, channels_last=True) is a
        assert conv_weight(layer, torch.float32, channels_last=False) is layer.weight  # nothing to convert
