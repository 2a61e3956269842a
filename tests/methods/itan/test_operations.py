"""ITAN's registered operations: one Result type, recipes that replay bit-for-bit, seeds as codes, and
``part:`` regions resolved by the model's companion parser."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
from regiongan.api import replay
from regiongan.latents import z_from_seeds
from regiongan.limits import LimitError
from regiongan.metrics.locality import in_out_mse
from regiongan.recipes import load_recipe
from regiongan.regions import Region, RegionError
from regiongan.registry import list_methods

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(saved_tiny):
    """The saved tiny model loaded back by path, as a user would: recipes then name it."""
    return rg.load_model(saved_tiny[1])


@pytest.fixture(scope="module")
def faces():
    return rg.load_model("faces-64")


def test_every_itan_operation_is_registered():
    assert {"itan.blend", "itan.resample", "itan.transfer", "itan.saliency", "generate"} <= set(list_methods())


@pytest.mark.parametrize(
    "op, args, kwargs",
    [
        ("resample", (3, "box:8,8,24,20"), {"variations": 3, "layers": (8, 32), "noise": "resample"}),
        ("transfer", (3, 11, "rbox:0.25,0.25,0.75,0.75"), {"layers": "fine", "feather": 1.5}),
        ("saliency", (3, "box:8,8,24,24"), {"psi": 1.5, "background_psi": 0.7}),
        ("blend", ([3, 11, 12], ["box:0,0,16,32", "box:16,0,32,16"]), {"noise": "blend", "noise_seed": 4}),
        ("generate", ([0, 5],), {"truncation_psi": 0.7, "noise": "random", "noise_seed": 2}),
    ],
)
def test_results_carry_a_recipe_that_replays_bit_for_bit(tiny, tmp_path, op, args, kwargs):
    out = getattr(rg, op)(tiny, *args, **kwargs)
    assert isinstance(out, rg.Result) and out.images.ndim == 4 and out.seconds > 0
    recipe = out.recipe
    assert recipe.model == tiny.model_name and recipe.model_fingerprint.startswith("sha256:")
    for key, value in kwargs.items():
        assert recipe.params[key] == value
    path = recipe.save(tmp_path / f"{op}.json")
    again = replay(path)
    assert torch.equal(again.images, out.images)
    assert load_recipe(path).method == out.method


def test_seeds_and_z_tensors_are_the_same_code(tiny):
    a = rg.resample(tiny, 3, "box:8,8,24,20", variations=2)
    b = rg.resample(tiny, z_from_seeds([3], tiny.z_dim), "box:8,8,24,20", variations=2)
    assert torch.equal(a.images, b.images)
    with pytest.raises(ValueError, match="seeds name z codes"):
        rg.resample(tiny, 3, "box:8,8,24,20", space="w")


def test_a_brush_mask_is_stored_in_the_recipe_so_replay_needs_no_file(tiny, tmp_path):
    brush = tmp_path / "brush.png"
    Region.box(4, 4, 20, 28, (32, 32)).save(brush)
    out = rg.saliency(tiny, 3, f"mask:{brush}", psi=0.5)
    assert isinstance(out.recipe.params["region"], Region)  # the mask, not the path
    path = out.recipe.save(tmp_path / "s.json")
    assert (tmp_path / "s.safetensors").is_file()
    brush.unlink()
    assert torch.equal(replay(path).images, out.images)


def test_variation_count_is_bounded_with_a_clear_error(tiny):
    with pytest.raises(LimitError, match=r"variations is 100000, above the limit of 256 .* REGIONGAN_MAX_VARIATIONS=100000"):
        rg.resample(tiny, 3, "box:8,8,24,20", variations=100000)
    with pytest.raises(ValueError, match="variations must be an int >= 1, got 0"):
        rg.resample(tiny, 3, "box:8,8,24,20", variations=0)
    with pytest.raises(ValueError, match="variations must be an int >= 1, got 2.5"):
        rg.resample(tiny, 3, "box:8,8,24,20", variations=2.5)


@pytest.mark.parametrize("op", ["resample", "transfer", "saliency"])
def test_part_regions_work_in_every_operation_on_faces_64(faces, tmp_path, op):
    args = {"resample": (5, "part:mouth"), "transfer": (5, 11, "part:mouth"), "saliency": (5, "part:mouth")}[op]
    kwargs = {"resample": {"variations": 2, "layers": "fine"}, "transfer": {"layers": "fine"}, "saliency": {"psi": 1.8}}[op]
    out = getattr(rg, op)(faces, *args, **kwargs)
    mask = out.extras["masks"][:, 1:]  # [N, 1, R, R] the mouth as the parser found it on seed 5's image
    area = float(mask.mean())
    assert 0.003 < area < 0.2, area
    before = rg.generate(faces, 5).images.expand_as(out.images)
    region = Region(mask[:1].expand(1, 1, -1, -1))
    in_mse, out_mse = in_out_mse(before, out.images, region)
    assert float(in_mse.mean()) > 3 * float(out_mse.mean())  # the edit lives in the mouth
    # the recipe holds the mask, so replay needs no parser
    assert isinstance(out.recipe.params["region"], Region) and out.recipe.params["parser"] is None
    assert torch.equal(replay(out.recipe.save(tmp_path / "p.json"), G=faces).images, out.images)


def test_part_regions_need_a_parser(tiny):
    with pytest.raises(RegionError, match="declares none"):
        rg.resample(tiny, 3, "part:mouth")
    with pytest.raises(RegionError, match="cannot load the part parser 'no-such-parser'"):
        rg.resample(tiny, 3, "part:mouth", parser="no-such-parser")
