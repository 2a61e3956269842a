"""Every generator family against the Protocol: the same checks for StyleGAN2, BigGAN-deep and the test-only
conditional-normalisation family (built differently: gain/bias control points, no demodulation, no noise)."""

from __future__ import annotations

from functools import partial

import pytest
import torch

import regiongan as rg
from regiongan.checkpoints import save_pretrained
from regiongan.generators import BlendedStyle, Generator, check_generator, list_families, tangent_pass

from ..conftest import tiny_stylegan2
from .cond_norm_family import tiny_cond_norm
from .test_biggan import tiny_biggan
from .test_ssn import tiny_ssn

pytestmark = pytest.mark.usefixtures("one_thread")

FAMILIES = {
    "stylegan2": tiny_stylegan2,
    "test-cond-norm": tiny_cond_norm,
    "biggan-deep": partial(tiny_biggan, num_classes=0),
    "ssn": partial(tiny_ssn, img_resolution=8),
    "ssn-global-encoder": partial(tiny_ssn, img_resolution=8, encoder_global=True),
}


@pytest.fixture(params=sorted(FAMILIES))
def G(request):
    return FAMILIES[request.param]()


def _z(G, n=2, seed=0):
    return torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))


def test_both_families_are_registered_and_implement_the_protocol(G):
    assert G.model_type in list_families()
    assert isinstance(G, Generator) and check_generator(G) is G
    points = G.control_points()
    ws = G.map(_z(G))
    assert ws.shape == (2, G.num_ws, G.w_dim)
    styles = G.styles(ws)
    assert len(styles) == len(points)
    assert all(s.shape == (2, p.channels) for s, p in zip(styles, points))
    assert G.synthesize(styles).image.shape == (2, 3, G.img_resolution, G.img_resolution)


def test_not_a_generator_is_refused_with_what_is_missing():
    with pytest.raises(TypeError, match=r"expected a regiongan generator .* without \['model_type'"):
        check_generator(torch.nn.Linear(2, 2))


def test_spatially_constant_styles_equal_vectors(G):
    """A map with the same vector everywhere, or a blend with one region covering the image, is the plain
    style: the contract every region method relies on."""
    ws = G.map(_z(G))
    styles = G.styles(ws)
    plain = G.synthesize(styles).image
    maps = [s[:, :, None, None].expand(-1, -1, p.resolution, p.resolution) for s, p in zip(styles, G.control_points())]
    torch.testing.assert_close(G.synthesize(maps).image, plain, atol=1e-5, rtol=1e-5)
    one = [BlendedStyle(s[:, None], torch.ones(2, 1, 8, 8)) for s in styles]
    torch.testing.assert_close(G.synthesize(one).image, plain, atol=1e-5, rtol=1e-5)


def test_truncation_pulls_towards_the_latent_mean(G):
    ws = G.map(_z(G))
    w_bar = G.latent_mean()
    assert w_bar.shape == (G.w_dim,)
    torch.testing.assert_close(G.truncate(ws, 0.5), w_bar + 0.5 * (ws - w_bar))
    torch.testing.assert_close(G.map(_z(G), None, 0.5), G.truncate(ws, 0.5), atol=1e-5, rtol=1e-5)


def test_batch_equals_single_and_seeded_determinism(G):
    z = _z(G, 3)
    full = G.synthesize(G.styles(G.map(z))).image
    for i in range(3):
        one = G.synthesize(G.styles(G.map(z[i : i + 1]))).image
        torch.testing.assert_close(one, full[i : i + 1], atol=1e-5, rtol=1e-5)
    assert torch.equal(G.synthesize(G.styles(G.map(z))).image, full)


def test_save_load_round_trip_through_the_family_registry(G, tmp_path):
    path = save_pretrained(G, tmp_path / "m")
    loaded = rg.load_model(path)
    assert type(loaded) is type(G) and loaded.config == G.config
    z = _z(G)
    assert torch.equal(loaded.synthesize(loaded.styles(loaded.map(z))).image, G.synthesize(G.styles(G.map(z))).image)


def test_only_stylegan2_has_a_fast_tangent_pass(G):
    assert (tangent_pass(G) is not None) == (G.model_type == "stylegan2")


def test_config_cost_counts_exactly_what_is_built(G):
    """Every family declares its size from the config alone; the registry checks it before building."""
    cost = type(G).config_cost(G.config)
    assert cost.parameters == sum(t.numel() for t in G.state_dict().values())


def test_a_family_without_a_cost_cannot_register():
    from regiongan.generators.registry import register_family

    with pytest.raises(TypeError, match="must define a static config_cost"):

        @register_family("test-no-cost")
        class NoCost(torch.nn.Module):
            pass
