"""SSN block resampling (regiongan.methods.ssn) on a tiny random SSN: which blocks change and which stay
exactly, region -> blocks, donor seeds, one-line errors, and recipes that replay bit-for-bit."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
from regiongan.api import replay
from regiongan.checkpoints import save_pretrained
from regiongan.latents import z_from_seeds
from regiongan.methods.ssn import block_partition, resample_block_grid, resample_blocks
from regiongan.regions import Region
from regiongan.registry import list_methods

from ..conftest import tiny_stylegan2
from ..generators.test_ssn import tiny_ssn

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def G(tmp_path_factory):
    """A tiny SSN (16², 4×4 blocks of 4×4 pixels, z_c = 4), saved and loaded back so recipes name it."""
    path = save_pretrained(tiny_ssn(), tmp_path_factory.mktemp("m") / "ssn")
    return rg.load_model(str(path))


def _grid(G, seed: int) -> torch.Tensor:
    return G.z_grid(z_from_seeds([seed], G.z_dim))


def test_resampled_blocks_change_and_every_other_block_of_z_is_kept_exactly(G):
    out = rg.resample_blocks(G, 3, blocks=[(1, 2), (3, 0)], variations=3, variation_seed=10)
    assert "ssn.resample_blocks" in list_methods() and out.images.shape == (3, 3, 16, 16)
    z, zs = _grid(G, 3), out.extras["z"]  # [1, 4, 4, 4], [3, 4, 4, 4]
    keep = torch.ones(4, 4, dtype=torch.bool)
    keep[1, 2] = keep[3, 0] = False
    assert torch.equal(zs[:, :, keep], z[:, :, keep].expand(3, -1, -1))  # bit-exact, not merely close
    for k in range(3):  # variation k's new blocks are seed 10 + k's blocks
        donor = _grid(G, 10 + k)[0]
        assert torch.equal(zs[k][:, ~keep], donor[:, ~keep]) and not torch.equal(zs[k][:, ~keep], z[0][:, ~keep])
    assert out.extras["blocks"] == [(1, 2), (3, 0)] and out.extras["donor_seeds"] == [10, 11, 12]
    masks = out.extras["masks"]  # [1, 2, 16, 16]: kept, resampled — the image blocks (rows 4..7 × cols 8..11, …)
    assert masks.shape == (1, 2, 16, 16) and torch.equal(masks.sum(1), torch.ones(1, 16, 16))
    assert masks[0, 1].sum() == 32 and masks[0, 1, 4:8, 8:12].all() and masks[0, 1, 12:, :4].all()
    # the images change, most inside the resampled image blocks
    original = rg.generate(G, 3).images
    change = (out.images - original).abs().mean(dim=1)  # [3, 16, 16]
    inside, outside = change[:, masks[0, 1] > 0].mean(), change[:, masks[0, 0] > 0].mean()
    assert inside > 0 and inside > outside


def test_resampling_every_block_gives_the_donor_seeds_image_and_none_would_keep_the_original(G):
    every = [(i, j) for i in range(4) for j in range(4)]
    out = rg.resample_blocks(G, 3, blocks=every, variations=2, variation_seed=7, truncation_psi=0.7)
    assert torch.equal(out.images, rg.generate(G, [7, 8], truncation_psi=0.7).images)
    # the core with the image's own z as donor is the plain image
    z = _grid(G, 3)
    same = resample_block_grid(G, z, [(0, 0)], z)
    assert torch.equal(same.images, rg.generate(G, 3).images)


def test_a_variation_does_not_depend_on_how_many_are_drawn(G):
    a = rg.resample_blocks(G, 3, blocks=[(2, 2)], variations=3, variation_seed=5).images
    b = rg.resample_blocks(G, 3, blocks=[(2, 2)], variations=1, variation_seed=6).images
    torch.testing.assert_close(a[1:2], b, atol=1e-5, rtol=0)  # equal up to the rounding of a batch of 3 vs 1


def test_seeds_flat_z_and_grids_are_the_same_code(G):
    z = z_from_seeds([3], G.z_dim)
    ref = rg.resample_blocks(G, 3, blocks=[(0, 1)], variations=2).images
    assert torch.equal(rg.resample_blocks(G, z, blocks=[(0, 1)], variations=2).images, ref)
    assert torch.equal(rg.resample_blocks(G, G.z_grid(z), blocks=[[0, 1]], variations=2).images, ref)


@pytest.mark.parametrize(
    "region, min_coverage, expected",
    [
        ("box:0,0,6,6", 0.0, [(0, 0), (0, 1), (1, 0), (1, 1)]),  # touches four blocks
        ("box:0,0,6,6", 0.5, [(0, 0)]),  # covers only block (0, 0) by more than half
        ("box:8,4,12,8", 0.0, [(1, 2)]),  # exactly one image block
        ("rbox:0.5,0.75,1,1", 0.0, [(3, 2), (3, 3)]),  # the bottom-right half row
    ],
)
def test_a_region_selects_the_blocks_it_covers(G, region, min_coverage, expected):
    out = rg.resample_blocks(G, 3, region=region, min_coverage=min_coverage, variations=1)
    assert out.extras["blocks"] == expected
    assert torch.equal(out.extras["masks"], block_partition(G, expected))
    assert out.extras["region"].shape == (1, 1, 16, 16)


def test_region_tensors_and_regions_select_like_specs(G):
    spec = rg.resample_blocks(G, 3, region="box:8,4,12,8", variations=1)
    mask = Region.box(8, 4, 12, 8, (16, 16)).mask
    assert torch.equal(rg.resample_blocks(G, 3, region=mask, variations=1).images, spec.images)
    assert torch.equal(rg.resample_blocks(G, 3, region=Region(mask), variations=1).images, spec.images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"blocks": [(4, 0)]}, r"block \(4, 0\) is outside the 4x4 latent grid"),
        ({"blocks": [(0, -1)]}, r"block \(0, -1\) is outside the 4x4 latent grid"),
        ({"blocks": [(1, 2, 3)]}, r"a block must be a \(row, column\) pair of ints"),
        ({"blocks": []}, r"blocks must be a non-empty list"),
        ({}, r"give either region .* or blocks .*got neither"),
        ({"blocks": [(0, 0)], "region": "box:0,0,4,4"}, r"not both"),
        ({"region": "box:4,4,4,8"}, r"empty"),
        ({"region": "box:0,0,2,2", "min_coverage": 0.5}, r"covers no block .* min_coverage=0.5"),
        ({"blocks": [(0, 0)], "variations": 0}, r"variations"),
        ({"blocks": [(0, 0)], "variation_seed": 2**32 - 2, "variations": 4}, r"past the largest seed"),
        ({"region": Region.box(0, 0, 8, 8, (32, 32))}, r"32x32 but this model generates 16x16"),
    ],
)
def test_bad_blocks_and_arguments_are_one_line_errors(G, kwargs, message):
    kwargs = {"variations": 1, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        rg.resample_blocks(G, 3, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "code, message",
    [
        (torch.zeros(1, 63), r"z must be \[N, 64\] \(flat\) or a latent grid \[N, 4, 4, 4\], got \(1, 63\)"),
        (torch.zeros(1, 4, 2, 2), r"z must be a latent grid \[N, 4, 4, 4\], got \(1, 4, 2, 2\)"),
        (torch.zeros(1, 3, 4, 4), r"z must be a latent grid \[N, 4, 4, 4\], got \(1, 3, 4, 4\)"),
        (torch.zeros(4, 4, 4), r"got \(4, 4, 4\)"),
        (torch.zeros(2, 64), r"give batch 1, got 2"),
        (torch.full((1, 64), float("nan")), r"NaN"),
    ],
)
def test_bad_z_shapes_are_one_line_errors(G, code, message):
    with pytest.raises(ValueError, match=message) as info:
        rg.resample_blocks(G, code, blocks=[(0, 0)], variations=1)
    assert "\n" not in str(info.value) and str(info.value).startswith("code")


def test_a_model_without_a_latent_grid_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"needs a model with a spatial latent grid .* 'stylegan2' model: use ITAN"):
        resample_blocks(tiny_stylegan2(), 3, blocks=[(0, 0)])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"blocks": [(1, 2), (3, 0)], "variations": 3, "variation_seed": 4},
        {"region": "rbox:0.25,0.25,0.75,0.5", "min_coverage": 0.2, "variations": 2, "truncation_psi": 0.8},
        {"region": Region.box(2, 2, 9, 9, (16, 16)), "variations": 2},  # stored in the sidecar
    ],
    ids=["blocks", "spec", "region-tensor"],
)
def test_recipes_replay_bit_for_bit(G, tmp_path, kwargs):
    code = z_from_seeds([5], G.z_dim) if "region" in kwargs and not isinstance(kwargs["region"], str) else 5
    out = rg.resample_blocks(G, code, **kwargs)
    recipe = out.recipe
    assert recipe.method == "ssn.resample_blocks" and recipe.model == G.model_name
    path = recipe.save(tmp_path / "r.json")
    again = replay(path)
    assert torch.equal(again.images, out.images) and again.extras["blocks"] == out.extras["blocks"]
    assert torch.equal(again.extras["z"], out.extras["z"])
