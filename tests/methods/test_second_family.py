"""The method code is family-agnostic: ITAN and ReSeFa run, unchanged, on the test-only conditional-norm
family (gain/bias control points, no demodulation, no noise, no fast tangent pass)."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
from regiongan.metrics.locality import in_out_mse
from regiongan.regions import Region

from ..generators.cond_norm_family import tiny_cond_norm

pytestmark = pytest.mark.usefixtures("one_thread")

R = 32
BOX = Region.box(4, 4, 16, 16, (R, R))


@pytest.fixture(scope="module")
def G():
    return tiny_cond_norm(img_resolution=R, c_dim=3)


def _c(n=1, k=0):
    return torch.nn.functional.one_hot(torch.full([n], k), 3).float()


def test_itan_resample_is_local_on_a_conditional_norm_generator(G):
    out = rg.resample(G, 3, BOX, variations=6, c=_c())
    before = rg.generate(G, 3, c=0).images.expand(6, -1, -1, -1)
    in_mse, out_mse = in_out_mse(before, out.images, BOX)
    assert float(in_mse.mean()) > 5 * float(out_mse.mean())
    # blending only the last normalisation is exactly per pixel: nothing outside moves
    last = rg.resample(G, 3, BOX, variations=3, layers=[G.control_points()[-1].name], c=_c())
    outside = (1 - BOX.mask).bool().expand(3, 3, -1, -1)
    torch.testing.assert_close(last.images[outside], before[:3][outside], atol=1e-6, rtol=1e-6)
    assert (last.images - before[:3])[~outside].abs().mean() > 1e-3


def test_itan_transfer_and_class_regions_on_a_conditional_norm_generator(G):
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    same = rg.transfer(G, z, z, BOX, c=_c())
    assert torch.equal(same.images, rg.generate(G, z, c=0).images)
    # a region of another class: the same z, the class embedding swapped inside the box (w+ codes)
    ws_a, ws_b = G.map(z, _c(1, 0)), G.map(z, _c(1, 2))
    hybrid = rg.blend(G, [ws_a, ws_b], BOX, space="w+")
    in_mse, out_mse = in_out_mse(rg.generate(G, ws_a, space="w+").images, hybrid.images, BOX)
    assert float(in_mse) > 5 * float(out_mse)


def test_resefa_directions_on_a_conditional_norm_generator(G):
    """No fast tangent pass here: the generic forward-mode engine must agree with reverse mode, and the top
    direction must be more local than a random one (a random network has no strongly local channels, so we
    ask only for better, not for good)."""
    pytest.importorskip("regiongan.methods.resefa")
    dirs = rg.find_directions(G, BOX, samples=2, k=2, space="w", c=0)
    assert dirs.vectors.shape == (2, G.w_dim)
    reverse = rg.find_directions(G, BOX, samples=2, k=2, space="w", c=0, mode="reverse")
    torch.testing.assert_close(dirs.eigenvalues, reverse.eigenvalues, rtol=1e-3, atol=1e-6)
    edited = rg.edit(G, 5, dirs, index=0, strengths=[0.0, 3.0], c=0)
    before, after = edited.images[0:1], edited.images[1:2]
    in_mse, out_mse = in_out_mse(before, after, BOX)
    random = torch.nn.functional.normalize(torch.randn(G.w_dim, generator=torch.Generator().manual_seed(1)), dim=0)
    ws = G.map(rg.z_from_seeds([5], G.z_dim), _c())
    moved = rg.generate(G, ws + 3.0 * random, space="w+").images
    r_in, r_out = in_out_mse(before, moved, BOX)
    assert float(in_mse) / float(out_mse) > float(r_in) / float(r_out)


def test_class_hybridization_is_local_and_replays(G, tmp_path):
    """A region of class 2 inside an image of class 0: same z, the class swapped inside the box only."""
    out = rg.hybridize(G, 3, BOX, classes=[2], base_class=0)
    base = rg.generate(G, 3, c=0).images
    in_mse, out_mse = in_out_mse(base, out.images, BOX)
    assert float(in_mse) > 5 * float(out_mse)
    same = rg.hybridize(G, 3, BOX, classes=[0], base_class=0)
    assert torch.equal(same.images, base)  # the base class everywhere is the plain image
    separate = rg.hybridize(G, 3, BOX, classes=[2], base_class=0, region_codes=[9])
    assert not torch.equal(separate.images, out.images)
    G.model_name = None  # an unnamed model: replay it with G=
    from regiongan.api import replay

    assert torch.equal(replay(out.recipe.save(tmp_path / "h.json"), G=G).images, out.images)


def test_class_hybridization_errors(G):
    with pytest.raises(ValueError, match=r"one class per region: 1 region\(s\), got 2"):
        rg.hybridize(G, 3, BOX, classes=[1, 2], base_class=0)
    with pytest.raises(ValueError, match=r"int in 0\.\.2"):
        rg.hybridize(G, 3, BOX, classes=[7], base_class=0)
    from ..conftest import tiny_stylegan2

    with pytest.raises(ValueError, match="needs a class-conditional model"):
        rg.hybridize(tiny_stylegan2(), 3, Region.box(0, 0, 8, 8, (32, 32)), classes=[1], base_class=0)
