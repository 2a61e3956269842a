"""StyleGAN2 -> SSN transfer: a spatially constant z reproduces the StyleGAN2 image (tiny model and the
official NVIDIA fixture); mismatched widths and non-transferable StyleGAN2s are one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from regiongan.checkpoints.native import model_from_state
from regiongan.checkpoints.nvidia import config_from_nvidia_kwargs
from regiongan.generators.ssn_transfer import (
    fresh_keys, ssn_config_from_stylegan2, ssn_from_stylegan2, transfer_state,
)  # fmt: skip
from regiongan.generators.stylegan2 import normalize_2nd_moment
from regiongan.ops.blocks import mix_block

from ..conftest import fixture_path, tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")


def _constant_grid(z: torch.Tensor, n: int) -> torch.Tensor:
    return z[:, :, None, None].expand(-1, -1, n, n)


@pytest.mark.parametrize("psi, noise_mode", [(1.0, "const"), (0.7, "none")])
def test_a_spatially_constant_z_reproduces_the_stylegan2_image(psi, noise_mode):
    sg2 = tiny_stylegan2()
    G = ssn_from_stylegan2(sg2, block_grid=4)
    z = torch.randn(3, sg2.z_dim, generator=torch.Generator().manual_seed(0))
    expected = sg2.synthesize(sg2.styles(sg2.map(z, None, psi)), noise_mode=noise_mode).image
    got = G.synthesize(G.styles(G.map(_constant_grid(z, 4), None, psi)), noise_mode=noise_mode).image
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    # and blocks are independent latents: resampling one of them changes the image
    z2 = _constant_grid(torch.randn(3, sg2.z_dim), 4)
    assert float((G(mix_block(_constant_grid(z, 4), z2, 5)) - got).abs().max()) > 1e-3


def test_the_official_nvidia_checkpoint_transfers_to_its_own_outputs():
    data = torch.load(fixture_path("stylegan2_nvidia_uncond64.pt"), weights_only=True)
    sg2 = model_from_state("stylegan2", config_from_nvidia_kwargs(json.loads(data["init_kwargs"])), data["state_dict"], "fixture")
    G = ssn_from_stylegan2(sg2, block_grid=8)
    case = next(c for c in data["cases"] if c["truncation_psi"] == 0.7 and c["noise_mode"] == "const")
    img = G.synthesize(G.styles(G.map(_constant_grid(data["z"], 8), None, 0.7)), noise_mode="const").image
    torch.testing.assert_close(img, case["img"], atol=1e-4, rtol=0)


def test_every_weight_but_the_spatial_encoder_is_copied():
    sg2 = tiny_stylegan2()
    G = ssn_from_stylegan2(sg2, block_grid=2)
    sg2_state, ssn_state = sg2.state_dict(), G.state_dict()
    fresh = fresh_keys(G.config)
    assert sorted(fresh) == ["mapping.encoder0.bias", "mapping.encoder0.resample_filter", "mapping.encoder0.weight",
                             "mapping.encoder_gain"]  # fmt: skip
    assert set(ssn_state) - set(sg2_state) == set(fresh)  # every other SSN tensor has a StyleGAN2 counterpart
    for key, value in sg2_state.items():
        if key == "mapping.w_avg":
            assert torch.equal(ssn_state[key], value[:, None, None].expand(-1, 2, 2))
        else:
            assert torch.equal(ssn_state[key], value), key
    assert torch.equal(G.mapping.encoder_gain, torch.zeros(1))  # a fresh encoder starts as the identity


def test_with_the_global_gate_the_transfer_is_the_stylegan2_of_the_pooled_z():
    """A fresh gate is 1, so the transferred SSN draws the StyleGAN2 image of the pooled z for *any* grid:
    the coherent, varied starting point that training then localises."""
    sg2 = tiny_stylegan2()
    G = ssn_from_stylegan2(sg2, block_grid=4, encoder_global=True)
    assert "mapping.encoder_global_gate" in fresh_keys(G.config)
    assert torch.equal(G.mapping.encoder_global_gate, torch.ones(G.w_channels))
    grid = torch.randn(2, sg2.z_dim, 4, 4, generator=torch.Generator().manual_seed(1))
    blocks = normalize_2nd_moment(grid.permute(0, 2, 3, 1).reshape(-1, sg2.z_dim)).reshape(2, 16, -1)
    pooled = normalize_2nd_moment(blocks.sum(dim=1))
    torch.testing.assert_close(G(grid, noise_mode="const"), sg2(pooled, noise_mode="const"), atol=1e-4, rtol=0)


def test_mismatched_widths_name_the_layer_and_both_shapes():
    sg2 = tiny_stylegan2()
    config = ssn_config_from_stylegan2(sg2.config, block_grid=4)
    with pytest.raises(ValueError, match=r"synthesis.b4.const is \(32, 4, 4\) in the StyleGAN2 but the SSN config "
                                         r"needs \(16, 4, 4\)"):  # fmt: skip
        transfer_state(sg2.state_dict(), dict(config, channel_max=16))
    with pytest.raises(ValueError, match=r"mapping.fc0.weight is \(16, 16\) in the StyleGAN2 but the SSN config needs \(16, 8\)"):
        ssn_from_stylegan2(sg2, z_channels=8)


def test_stylegan2s_without_an_ssn_analogue_are_refused():
    with pytest.raises(ValueError, match="needs an unconditional StyleGAN2, this one has c_dim 3"):
        ssn_from_stylegan2(tiny_stylegan2(c_dim=3))
    with pytest.raises(ValueError, match="needs a skip-architecture StyleGAN2"):
        ssn_from_stylegan2(tiny_stylegan2(architecture="resnet"))
    with pytest.raises(ValueError, match="block_grid must be a power of two"):
        ssn_from_stylegan2(tiny_stylegan2(), block_grid=64)
    state = dict(tiny_stylegan2().state_dict(), **{"mapping.embed.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"without an SSN counterpart, e.g. \['mapping.embed.weight'\]"):
        transfer_state(state, ssn_config_from_stylegan2(tiny_stylegan2().config))
