"""StyleGAN2 discriminator: shapes, parameter names, conditioning, resampling parity, bf16, R1-style gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.discriminators import StyleGAN2Discriminator, build_discriminator
from regiongan.discriminators.stylegan2 import MinibatchStdLayer
from regiongan.ops.filters import make_filter, upfirdn2d


def tiny_d(seed: int = 0, **overrides) -> StyleGAN2Discriminator:
    torch.manual_seed(seed)
    cfg = dict(img_resolution=16, channel_base=256, channel_max=32, mapping_layers=2)
    cfg.update(overrides)
    return StyleGAN2Discriminator(**cfg)


def _images(n: int, res: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, res, res, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("res", [8, 16, 32])
def test_logits_shape_and_dtype(res):
    D = tiny_d(img_resolution=res)
    out = D(_images(4, res))
    assert out.shape == (4, 1) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_parameter_names_follow_nvlabs():
    names = set(tiny_d().state_dict())
    for key in ["b16.fromrgb.weight", "b16.conv0.weight", "b16.conv1.bias", "b16.skip.weight", "b8.conv1.weight",
                "b4.conv.weight", "b4.fc.weight", "b4.out.weight"]:  # fmt: skip
        assert key in names, key
    assert "b8.fromrgb.weight" not in names  # resnet: only the first block reads the image
    assert "b16.skip.bias" not in names


def test_channels_follow_base_max_and_overrides():
    D = tiny_d(channels={16: 8, 4: 24})
    assert D.channels == {16: 8, 8: 32, 4: 24}
    assert D.b16.conv0.weight.shape == (8, 8, 3, 3) and D.b16.conv1.weight.shape == (32, 8, 3, 3)
    assert D.b4.fc.weight.shape == (24, 24 * 16)


def test_config_rebuilds_the_same_architecture():
    D = tiny_d(c_dim=3, channels={16: 8})
    D2 = build_discriminator(D.model_type, D.config)
    assert D.model_type == "stylegan2-d"
    assert {k: v.shape for k, v in D.state_dict().items()} == {k: v.shape for k, v in D2.state_dict().items()}
    import json

    json.dumps(D.config)  # JSON-serialisable


def test_batch_is_independent_across_mbstd_groups_but_not_within():
    D = tiny_d(mbstd_group_size=2)
    x = _images(4)
    out = D(x)
    # samples i and i + N/G share a group: changing sample 2 changes logit 0 (same group), not 1
    x2 = x.clone()
    x2[2] = -x2[2]
    out2 = D(x2)
    assert not torch.allclose(out[0], out2[0])
    torch.testing.assert_close(out[1], out2[1])


def test_minibatch_std_of_identical_samples_is_zero():
    x = torch.randn(1, 6, 4, 4).repeat(4, 1, 1, 1)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (4, 7, 4, 4)
    assert y[:, 6].abs().max() < 1e-3
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 6, 4, 4))


def test_conditioning_by_projection():
    D = tiny_d(c_dim=3)
    x = _images(4)
    c0 = F.one_hot(torch.zeros(4, dtype=torch.long), 3).float()
    c1 = F.one_hot(torch.ones(4, dtype=torch.long), 3).float()
    assert D.cmap_dim == 32
    assert not torch.allclose(D(x, c0), D(x, c1))
    with pytest.raises(ValueError, match="class-conditional"):
        D(x)
    with pytest.raises(ValueError, match=r"c must be \[4, 3\]"):
        D(x, c0[:, :2])


def test_bad_input_and_config_errors_are_explained():
    with pytest.raises(ValueError, match="must be \\[N, 3, 16, 16\\]"):
        tiny_d()(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Discriminator(img_resolution=48)
    with pytest.raises(ValueError, match="resnet"):
        StyleGAN2Discriminator(img_resolution=16, architecture="skip")


def test_bf16_autocast_is_close_to_fp32_and_differentiable_twice():
    D = tiny_d()
    x = _images(4).requires_grad_(True)
    ref = D(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = D(x)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() < 0.1 * ref.abs().max() + 0.05
    # R1 needs the gradient of the gradient
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    g.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for n, p in D.named_parameters() if "b4.out" not in n)
