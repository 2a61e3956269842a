"""SPADE's multi-scale PatchGAN: NVlabs' parameter names and outputs (against a reference built from
``torch.nn.utils.spectral_norm`` modules, in eval and training mode), per-scale feature lists, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from regiongan.discriminators.spade import SPADEDiscriminator

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_patchgan(in_nc: int, ndf: int, n_layers: int) -> nn.Module:
    """NVlabs' NLayerDiscriminator with norm_D 'spectralinstance', written with torch's own modules."""
    stages = [[nn.Conv2d(in_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2)]]
    nf = ndf
    for n in range(1, n_layers):
        nf_prev, nf = nf, min(nf * 2, 512)
        conv = nn.utils.spectral_norm(nn.Conv2d(nf_prev, nf, 4, stride=1 if n == n_layers - 1 else 2, padding=2, bias=False))
        stages.append([nn.Sequential(conv, nn.InstanceNorm2d(nf, affine=False)), nn.LeakyReLU(0.2)])
    stages.append([nn.Conv2d(nf, 1, 4, stride=1, padding=2)])
    module = nn.Module()
    for i, s in enumerate(stages):
        module.add_module(f"model{i}", nn.Sequential(*s))
    return module


def reference_forward(ref: nn.Module, x: torch.Tensor) -> list[list[torch.Tensor]]:
    out = []
    for i, d in enumerate(ref.children()):
        if i:
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=[1, 1], count_include_pad=False)
        feats = []
        h = x
        for stage in d.children():
            h = stage(h)
            feats.append(h)
        out.append(feats)
    return out


def _inputs(n=2, label_nc=5, size=32):
    g = torch.Generator().manual_seed(0)
    labels = F.one_hot(torch.randint(0, label_nc, (n, size, size), generator=g), label_nc).permute(0, 3, 1, 2).float()
    return labels, torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_matches_a_torch_spectral_norm_reference_in_eval_and_training():
    torch.manual_seed(0)
    D = SPADEDiscriminator(label_nc=5, ndf=4, n_layers_D=4, num_D=2)
    ref = nn.Module()
    for i in range(2):
        ref.add_module(f"discriminator_{i}", reference_patchgan(8, 4, 4))
    ref.load_state_dict(D.state_dict())  # strict: NVlabs' names and shapes
    labels, image = _inputs()
    x = torch.cat([labels, image], dim=1)
    for mode in (False, True):
        D.train(mode), ref.train(mode)
        ours, theirs = D(labels, image), reference_forward(ref, x)
        assert len(ours) == 2 and all(len(s) == 5 for s in ours)
        for a, b in zip(ours, theirs):
            for fa, fb in zip(a, b):
                torch.testing.assert_close(fa, fb, atol=1e-5, rtol=1e-4)
    assert [tuple(s[-1].shape) for s in ours] == [(2, 1, 7, 7), (2, 1, 5, 5)]


def test_features_carry_gradients_to_the_image():
    D = SPADEDiscriminator(label_nc=5, ndf=4, num_D=3, n_layers_D=3, norm_D="spectralbatch")
    assert D.config["num_D"] == 3 and len(list(D.children())) == 3
    labels, image = _inputs()
    image.requires_grad_(True)
    out = D(labels, image)
    sum(s[-1].mean() + sum(f.abs().mean() for f in s[:-1]) for s in out).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_bad_inputs_and_configs_are_one_line_errors():
    D = SPADEDiscriminator(label_nc=5, ndf=4)
    labels, image = _inputs()
    with pytest.raises(ValueError, match="labels must be one-hot \\[N, 5, H, W\\]"):
        D(labels[:, :3], image)
    with pytest.raises(ValueError, match="image must be \\[N, 3, H, W\\] with the labels' N, H, W"):
        D(labels, image[:, :, :16])
    with pytest.raises(ValueError, match="num_D must be an int >= 1"):
        SPADEDiscriminator(label_nc=5, num_D=0)
    with pytest.raises(ValueError, match="norm_D must be"):
        SPADEDiscriminator(label_nc=5, norm_D="spectralgroup")
