"""Edit recipes (regiongan.recipes): write -> replay is bit-identical, the schema is validated with clear
errors, values of every kind survive the sidecar, and a changed model warns."""

from __future__ import annotations

import json

import pytest
import torch

import regiongan as rg
from regiongan.api import replay
from regiongan.checkpoints import save_pretrained
from regiongan.recipes import Recipe, RecipeError, RecipeWarning, load_recipe, save_recipe
from regiongan.regions import Region, RegionSet

from .conftest import tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(saved_tiny):
    return rg.load_model(saved_tiny[1])


def test_tensor_parameters_go_to_the_sidecar_and_replay_bit_for_bit(tiny, tmp_path):
    target, reference = torch.randn(2, 16), torch.randn(1, 16)
    soft = Region(torch.rand(1, 1, 32, 32) * 0.9)
    out = rg.transfer(tiny, target, reference, soft, layers=["b32.conv1", 3], noise="blend", noise_seed=3)
    path = out.recipe.save(tmp_path / "t.json")
    assert (tmp_path / "t.safetensors").is_file()
    assert torch.equal(replay(path).images, out.images)

    regions = RegionSet.from_regions([Region.box(0, 0, 16, 32, (32, 32)), Region.box(8, 8, 24, 24, (32, 32))])
    ws = tiny.map(torch.randn(1, 16))
    out = rg.saliency(tiny, ws, regions, [0.5, 1.0, 1.7], space="w+")
    assert torch.equal(replay(out.recipe.save(tmp_path / "s.json")).images, out.images)


def test_recipe_round_trip_keeps_values(tiny, tmp_path):
    out = rg.resample(tiny, torch.ones(1, 16), "box:0,0,8,8", layers=(16, 32), variations=2)
    path = out.recipe.save(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["recipe_version"] == 2 and data["method"] == "itan.resample"
    assert data["params"]["layers"] == {"$tuple": [16, 32]} and data["params"]["region"] == "box:0,0,8,8"
    rec = load_recipe(path)
    assert rec.model == tiny.model_name and rec.model_fingerprint == out.model_fingerprint
    assert torch.equal(rec.params["code"], torch.ones(1, 16)) and rec.params["layers"] == (16, 32)


def _write(tmp_path, data, name="bad.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_schema_errors_are_clear(tmp_path):
    good = {"recipe_version": 2, "method": "itan.resample", "model": "m", "params": {}}
    with pytest.raises(RecipeError, match=r"unknown method 'itan.nope'; known methods: \[.*itan.resample"):
        Recipe("itan.nope", "m", {}).check()
    with pytest.raises(RecipeError, match=r"missing field\(s\) \['model', 'params'\]"):
        load_recipe(_write(tmp_path, {"recipe_version": 2, "method": "itan.saliency"}))
    with pytest.raises(RecipeError, match="newer than this regiongan supports"):
        load_recipe(_write(tmp_path, {**good, "recipe_version": 3}))
    with pytest.raises(RecipeError, match="recipe_version 1 was written by regiongan 0.1.0"):
        load_recipe(_write(tmp_path, {**good, "recipe_version": 1, "regiongan_version": "0.1.0"}))
    with pytest.raises(RecipeError, match=r"unknown field\(s\) \['parms'\]"):
        load_recipe(_write(tmp_path, {**good, "parms": {}}))
    with pytest.raises(RecipeError, match="'params' must be a dict"):
        load_recipe(_write(tmp_path, {**good, "params": [1]}))
    with pytest.raises(RecipeError, match="tensors file .* is missing"):
        load_recipe(_write(tmp_path, {**good, "tensors": "gone.safetensors"}))
    with pytest.raises(RecipeError, match="must be a file name next to the recipe"):
        load_recipe(_write(tmp_path, {**good, "tensors": "../elsewhere/x.safetensors"}))
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        load_recipe(tmp_path / "junk.json")
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.json")


def test_parameter_errors_are_clear(tiny, tmp_path):
    with pytest.raises(RecipeError, match=r"missing parameter\(s\) \['region'\]"):
        Recipe("itan.resample", "m", {"code": 1}).run(tiny)
    with pytest.raises(RecipeError, match=r"unknown parameter\(s\) \['sed'\]"):
        Recipe("itan.resample", "m", {"code": 1, "region": "box:0,0,8,8", "sed": 3}).run(tiny)
    with pytest.raises(ValueError, match=r"code must be a seed \(int in 0\.\.4294967295\)"):
        Recipe("itan.resample", "m", {"code": -1, "region": "box:0,0,8,8"}).run(tiny)
    with pytest.raises(RecipeError, match="cannot be stored in a recipe"):
        save_recipe(Recipe("itan.resample", "m", {"code": object(), "region": "full"}), tmp_path / "x.json")
    with pytest.raises(RecipeError, match=r"missing parameter\(s\) \['region'\]"):
        save_recipe(Recipe("itan.resample", "m", {"code": 1}), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_save_refuses_to_overwrite(tiny, tmp_path):
    recipe = rg.resample(tiny, 1, "box:0,0,8,8", variations=1).recipe
    recipe.save(tmp_path / "r.json")
    before = (tmp_path / "r.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        recipe.save(tmp_path / "r.json")
    assert (tmp_path / "r.json").read_bytes() == before
    recipe.save(tmp_path / "r.json", overwrite=True)


def test_changed_model_warns(tiny, tmp_path):
    path = rg.resample(tiny, 1, "box:0,0,8,8", variations=1).recipe.save(tmp_path / "r.json")
    other = str(save_pretrained(tiny_stylegan2(seed=1), tmp_path / "other"))
    with pytest.warns(RecipeWarning, match="differs from the one this recipe was made with"):
        result = replay(path, model=other)
    assert result.images.shape == (1, 3, 32, 32)
