"""Edit recipes (regiongan.recipes): write -> replay is bit-identical, the schema is validated with clear
errors, and the registry refuses clashes."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from regiongan.checkpoints import save_pretrained
from regiongan.cli import main
from regiongan.images import z_from_seeds
from regiongan.methods.itan import blend_generate, local_resample, saliency, transfer_region
from regiongan.recipes import (
    Recipe,
    RecipeError,
    RecipeWarning,
    list_methods,
    load_recipe,
    model_digest,
    register_method,
    replay,
    run,
    save_recipe,
)
from regiongan.regions import Region, RegionSet, parse_region

from .conftest import tiny_stylegan2


pytestmark = pytest.mark.usefixtures("one_thread")


def _save(tmp_path, method, model, params, G, name="r.json"):
    recipe = Recipe(method=method, model=model, params=params, model_digest=model_digest(G))
    return save_recipe(recipe, tmp_path / name)


def test_itan_methods_are_registered():
    assert {"itan.local_resample", "itan.transfer_region", "itan.saliency", "itan.blend_generate"} <= set(list_methods())


def test_seed_and_spec_recipe_replays_bit_for_bit(saved_tiny, tmp_path):
    G, model = saved_tiny
    params = {"code": {"seed": 3}, "region": {"spec": "box:8,8,24,20"}, "n": 3, "layers": (16, 32), "seed": 7,
              "noise": "resample", "feather": 1.5, "truncation_psi": 0.8}  # fmt: skip
    direct = local_resample(
        G, z_from_seeds([3], 16), parse_region("box:8,8,24,20", (32, 32)), n=3, layers=(16, 32), seed=7,
        noise="resample", feather=1.5, truncation_psi=0.8,
    ).images  # fmt: skip
    path = _save(tmp_path, "itan.local_resample", model, params, G)
    assert not (tmp_path / "r.safetensors").exists()  # nothing needed a sidecar
    assert json.loads(path.read_text())["params"]["layers"] == {"$tuple": [16, 32]}
    assert torch.equal(replay(path), direct)


def test_tensor_parameters_go_to_the_sidecar_and_replay_bit_for_bit(saved_tiny, tmp_path):
    G, model = saved_tiny
    target, reference = torch.randn(2, 16), torch.randn(1, 16)
    soft = Region(torch.rand(1, 1, 32, 32) * 0.9)
    gen = torch.Generator().manual_seed(11)
    params = {"target": target, "reference": reference, "region": soft, "layers": ["b32.conv1", 3],
              "noise": "blend", "generator": gen}  # fmt: skip
    path = _save(tmp_path, "itan.transfer_region", model, params, G)  # snapshots the generator state
    direct = transfer_region(G, target, reference, soft, layers=["b32.conv1", 3], noise="blend", generator=gen).image
    assert (tmp_path / "r.safetensors").is_file()
    assert torch.equal(replay(path), direct)

    regions = RegionSet.from_regions([Region.box(0, 0, 16, 32, (32, 32)), Region.box(8, 8, 24, 24, (32, 32))])
    ws = G.map(torch.randn(1, 16))
    path = _save(tmp_path, "itan.saliency", model, {"code": ws, "space": "w+", "regions": regions, "psi": [0.5, 1.0, 1.7]}, G, "s.json")
    assert torch.equal(replay(path), saliency(G, ws, regions, [0.5, 1.0, 1.7], space="w+").image)

    codes = [{"seed": 1}, torch.randn(1, 16)]
    path = _save(tmp_path, "itan.blend_generate", model, {"codes": codes, "regions": {"specs": ["rbox:0,0,0.5,1"]}, "layers": "fine"}, G, "b.json")
    direct = blend_generate(G, [z_from_seeds([1], 16), codes[1]], RegionSet.from_regions([parse_region("rbox:0,0,0.5,1", (32, 32))]), layers="fine").image
    assert torch.equal(replay(path), direct)


def test_recipe_round_trip_keeps_values(saved_tiny, tmp_path):
    G, model = saved_tiny
    path = _save(tmp_path, "itan.local_resample", model, {"code": torch.ones(1, 16), "region": {"spec": "box:0,0,8,8"}, "layers": "fine"}, G)
    rec = load_recipe(path)
    assert rec.method == "itan.local_resample" and rec.recipe_version == 1 and rec.model == model
    assert torch.equal(rec.params["code"], torch.ones(1, 16)) and rec.params["layers"] == "fine"


def _write(tmp_path, data, name="bad.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_schema_errors_are_clear(tmp_path):
    good = {"recipe_version": 1, "method": "itan.local_resample", "model": "m", "params": {}}
    with pytest.raises(RecipeError, match=r"unknown recipe method 'itan.nope'; known methods: \[.*itan.local_resample"):
        load_recipe(_write(tmp_path, {**good, "method": "itan.nope"}))
    with pytest.raises(RecipeError, match=r"missing field\(s\) \['model', 'params'\]"):
        load_recipe(_write(tmp_path, {"recipe_version": 1, "method": "itan.saliency"}))
    with pytest.raises(RecipeError, match="newer than this regiongan supports"):
        load_recipe(_write(tmp_path, {**good, "recipe_version": 2}))
    with pytest.raises(RecipeError, match=r"unknown field\(s\) \['parms'\]"):
        load_recipe(_write(tmp_path, {**good, "parms": {}}))
    with pytest.raises(RecipeError, match="'params' must be a dict"):
        load_recipe(_write(tmp_path, {**good, "params": [1]}))
    with pytest.raises(RecipeError, match="tensors file .* is missing"):
        load_recipe(_write(tmp_path, {**good, "tensors": "gone.safetensors"}))
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(RecipeError, match="not valid JSON"):
        load_recipe(tmp_path / "junk.json")
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.json")


def test_parameter_errors_are_clear(saved_tiny, tmp_path):
    G, model = saved_tiny
    with pytest.raises(RecipeError, match=r"needs parameter\(s\) \['region'\]"):
        run("itan.local_resample", G, {"code": {"seed": 1}})
    with pytest.raises(RecipeError, match=r"unknown parameter\(s\) \['sed'\]"):
        run("itan.local_resample", G, {"code": {"seed": 1}, "region": {"spec": "box:0,0,8,8"}, "sed": 3})
    with pytest.raises(RecipeError, match=r"code must be a tensor, \{\"seed\": S\}"):
        run("itan.local_resample", G, {"code": {"seed": -1}, "region": {"spec": "box:0,0,8,8"}})
    with pytest.raises(RecipeError, match="cannot be stored in a recipe"):
        save_recipe(Recipe("itan.local_resample", model, {"code": object(), "region": {"spec": "full"}}), tmp_path / "x.json")
    with pytest.raises(RecipeError, match=r"missing parameters \['region'\]"):
        save_recipe(Recipe("itan.local_resample", model, {"code": {"seed": 1}}), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_save_refuses_to_overwrite(saved_tiny, tmp_path):
    G, model = saved_tiny
    params = {"code": {"seed": 1}, "region": {"spec": "box:0,0,8,8"}}
    _save(tmp_path, "itan.local_resample", model, params, G)
    with pytest.raises(FileExistsError, match="overwrite"):
        _save(tmp_path, "itan.local_resample", model, params, G)
    save_recipe(Recipe("itan.local_resample", model, params), tmp_path / "r.json", overwrite=True)


def test_registry_refuses_a_second_function_under_the_same_name():
    with pytest.raises(RecipeError, match="already registered"):

        @register_method("itan.local_resample")
        def other(G, params):  # pragma: no cover - never registered
            return torch.zeros(1, 3, 4, 4)


def test_changed_model_warns(saved_tiny, tmp_path):
    G, model = saved_tiny
    path = _save(tmp_path, "itan.local_resample", model, {"code": {"seed": 1}, "region": {"spec": "box:0,0,8,8"}, "n": 1}, G)
    other = str(save_pretrained(tiny_stylegan2(seed=1), tmp_path / "other"))
    with pytest.warns(RecipeWarning, match="differs from the one this recipe was made with"):
        images = replay(path, model=other)
    assert images.shape == (1, 3, 32, 32)


def test_cli_replay(saved_tiny, tmp_path):
    G, model = saved_tiny
    path = _save(tmp_path, "itan.saliency", model, {"code": {"seed": 2}, "regions": {"specs": ["box:8,8,24,24"]}, "psi": [0.7, 1.5]}, G)
    r = CliRunner().invoke(main, ["replay", str(path), "--out", str(tmp_path / "o.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o_00.png").is_file()
    r = CliRunner().invoke(main, ["replay", str(path), "--out", str(tmp_path / "o.png")])
    assert r.exit_code == 2 and "--overwrite" in r.output
    bad = _write(tmp_path, {"recipe_version": 1, "method": "nope", "model": model, "params": {}})
    r = CliRunner().invoke(main, ["replay", str(bad), "--out", str(tmp_path / "n.png")])
    assert r.exit_code == 2 and "unknown recipe method 'nope'" in r.output
