"""Malformed recipes: a value form that is not one regiongan writes, NaN / Infinity, a wrong JSON type, values
nested without end — each a one-line RecipeError from load_recipe; a parameter out of range (a count above
its cap, a bad ψ, strengths, a broken directions record) is refused by the operation's own validator when the
recipe is replayed, exactly as in a direct call. Nothing is written and no file is changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import regiongan as rg
from regiongan.cli import main
from regiongan.identity import model_record
from regiongan.limits import LimitError
from regiongan.methods.resefa import Directions
from regiongan.recipes import RecipeError, load_recipe
from regiongan.regions import RegionError

from .helpers import refuse, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")

BOX = "box:8,8,24,24"


@pytest.fixture(scope="module")
def model(model_dir):
    return rg.load_model(model_dir)


@pytest.fixture(scope="module")
def made(model, tmp_path_factory) -> Path:
    """Three valid recipes: plain.json (seeds only), tensor.json (+ sidecar: a z code) and edit.json (+ sidecar:
    the direction)."""
    folder = tmp_path_factory.mktemp("recipes")
    rg.resample(model, 3, BOX, variations=2).recipe.save(folder / "plain.json")
    rg.resample(model, torch.randn(1, 16, generator=torch.Generator().manual_seed(0)), BOX, variations=2).recipe.save(folder / "tensor.json")
    dirs = Directions(vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,), model=model_record(model))
    rg.edit(model, [0], dirs, strengths=[1.0]).recipe.save(folder / "edit.json")
    return folder


@pytest.fixture
def recipes(made, tmp_path) -> Path:
    for p in made.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    return tmp_path


def edit_json(path: Path, change: Callable[[dict], Any]) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))  # json.dumps writes NaN / Infinity as a careless tool would
    return path


def edit_sidecar(path: Path, change: Callable[[dict], Any]) -> Path:
    """Change the recipe's tensors and record the new file's digest, so only the contents are wrong."""
    side = path.with_suffix(".safetensors")
    tensors = load_file(side)
    change(tensors)
    save_file(tensors, side, metadata={"format": "regiongan-recipe"})
    return edit_json(path, lambda d: d.update(tensors_sha256=hashlib.sha256(side.read_bytes()).hexdigest()))


def set_param(key: str, value: Any) -> Callable[[dict], Any]:
    return lambda d: d["params"].__setitem__(key, value)


# --------------------------------------------------------------------------------------------------
# Decoding: one-line RecipeErrors from load_recipe


DECODE = [
    ("plain.json", set_param("truncation_psi", float("nan")), "params.truncation_psi: nan is not a number a recipe may hold"),
    ("plain.json", set_param("variations", float("inf")), "params.variations: inf is not a number a recipe may hold"),
    ("plain.json", set_param("layers", {"$tuple": 5}), "params.layers: {'$tuple': …} must hold a list, got 5"),
    ("plain.json", set_param("code", {"$bogus": 1}), "params.code: unknown value form '$bogus'"),
    ("tensor.json", set_param("code", {"$tensor": ["a"]}), "params.code: {'$tensor': …} must name a tensor of the sidecar file, got ['a']"),
    ("tensor.json", set_param("code", {"$tensor": "params.code", "x": 1}), "params.code: a {'$tensor': …} value has unexpected key(s) ['x']"),
    ("tensor.json", set_param("code", {"$tensor": "nope"}), "params.code: tensor 'nope' is missing from the recipe's sidecar"),
    ("tensor.json", set_param("region", {"$region": "params.code"}), "params.region: Region mask"),
    ("tensor.json", set_param("region", {"$regionset": "params.code", "names": 5}), "params.region: 'names' must be a list of region names or null, got 5"),
    ("tensor.json", set_param("region", {"$generator": "params.code"}), "params.region: a generator state is a 1-D uint8 tensor, got torch.float32 [1, 16]"),
    ("plain.json", set_param("layers", json.loads("[" * 40 + "]" * 40)), "nested deeper than 32 levels"),
    ("plain.json", lambda d: d.update(outputs="plain_00.png"), "field 'outputs' must be a list of file names, got 'plain_00.png'"),
    ("plain.json", lambda d: d.update(model_fingerprint=5), "field 'model_fingerprint' must be a string, got 5"),
    ("plain.json", lambda d: d.update(regiongan_version=[]), "field 'regiongan_version' must be a string, got []"),
]


@pytest.mark.parametrize(("name", "change", "message"), DECODE, ids=[m.split(":")[0] + "-" + m.split()[-1][:20] for _, _, m in DECODE])
def test_malformed_values_are_one_line_recipe_errors(recipes, name, change, message):
    path = edit_json(recipes / name, change)
    refuse(lambda: load_recipe(path), RecipeError, message, recipes)


def test_json_nested_past_the_stack_is_a_recipe_error(recipes):
    path = recipes / "deep.json"
    path.write_text('{"recipe_version": 2, "method": "itan.resample", "model": "m", "params": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    refuse(lambda: load_recipe(path), RecipeError, "deep.json: not valid JSON (nested too deeply)", recipes)


# --------------------------------------------------------------------------------------------------
# Replay: the operation's own validators, as in a direct call


REPLAY = [
    ("plain.json", set_param("variations", 100_000), LimitError, "variations is 100000, above the limit of 256"),
    ("plain.json", set_param("variations", "8"), ValueError, "variations must be an int >= 1, got '8'"),
    ("plain.json", set_param("variations", 2.5), ValueError, "variations must be an int >= 1, got 2.5"),
    ("plain.json", set_param("truncation_psi", 1e30), ValueError, "truncation_psi must be a finite number > 0 and <= 100, got 1e+30"),
    ("plain.json", set_param("feather", 1e308), RegionError, "feather sigma 1e+308 is wider than 4x the 32x32 image"),
    ("plain.json", set_param("code", {"seed": 2**32}), ValueError, "code must be a seed (int in 0..4294967295)"),
    ("plain.json", set_param("variation_seed", 2**40), ValueError, "variation_seed must be an int in 0..4294967295"),
    ("plain.json", set_param("region", "box:0,0,1e300,16"), RegionError, "box coordinates must be a finite number in [-1e+06, 1e+06]"),
    ("edit.json", set_param("strengths", [1e308]), ValueError, "strengths must be finite numbers in [-1000, 1000]"),
    ("edit.json", set_param("strengths", [1.0] * 65), LimitError, "the number of strengths is 65, above the limit of 64"),
    ("edit.json", set_param("index", 3), ValueError, "index (which direction) must be an int in 0..0, got 3"),
    ("edit.json", lambda d: d["params"]["directions"].update(rows=["a"]), ValueError, "Directions: each of rows (a W+ row index) must be an int >= 0, got 'a'"),
    ("edit.json", lambda d: d["params"]["directions"].update(space=5), ValueError, "Directions: unknown space 5"),
    ("edit.json", lambda d: d["params"]["directions"].pop("vectors"), ValueError, "a directions record needs ['vectors']"),
    ("edit.json", lambda d: d["params"]["directions"]["meta"].update(truncation_psi=-1), ValueError, "meta['truncation_psi'] must be a finite number > 0"),
]


@pytest.mark.parametrize(("name", "change", "error", "message"), REPLAY, ids=[m[:40] for *_, m in REPLAY])
def test_out_of_range_parameters_are_refused_on_replay(recipes, model, name, change, error, message):
    path = edit_json(recipes / name, change)
    refuse(lambda: rg.replay(path, G=model), error, message, recipes)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("params.directions.vectors", torch.tensor([[float("nan")] + [0.0] * 15]), "Directions: vectors holds 1 NaN or inf value out of 16"),
        ("params.directions.vectors", torch.full((1, 16), 1e30), "Directions: vectors must be unit rows"),
        ("params.directions.eigenvalues", torch.tensor([float("inf")], dtype=torch.float64), "Directions: eigenvalues holds 1 NaN or inf value"),
        ("params.directions.vectors", torch.ones(1, 16, dtype=torch.int64), "Directions: vectors must be a float tensor [k, d], got dtype torch.int64"),
    ],
)
def test_a_broken_direction_inside_an_edit_recipe_is_refused(recipes, model, key, value, message):
    path = edit_sidecar(recipes / "edit.json", lambda t: t.__setitem__(key, value))
    refuse(lambda: rg.replay(path, G=model), ValueError, message, recipes)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.full((1, 16), 1e30), "code has entries up to 1e+30; codes must lie within ±10000"),
        (torch.full((1, 16), float("nan")), "code contains NaN or inf values"),
    ],
)
def test_a_code_tensor_out_of_range_is_refused_on_replay(recipes, model, value, message):
    path = edit_sidecar(recipes / "tensor.json", lambda t: t.__setitem__("params.code", value))
    refuse(lambda: rg.replay(path, G=model), ValueError, message, recipes)


# --------------------------------------------------------------------------------------------------
# The same on the command line: exit 2, one line, nothing written


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (set_param("variations", 100_000), "variations is 100000, above the limit of 256"),
        (set_param("truncation_psi", float("nan")), "params.truncation_psi: nan is not a number a recipe may hold"),
        (set_param("layers", {"$tuple": "fine"}), "params.layers: {'$tuple': …} must hold a list"),
    ],
)
def test_regiongan_replay_reports_a_bad_recipe_in_one_line(recipes, model_dir, change, message):
    path = edit_json(recipes / "plain.json", change)
    before = snapshot(recipes)
    result = CliRunner().invoke(main, ["replay", str(path), "-m", model_dir, "-o", str(recipes / "again.png")])
    assert result.exit_code == 2, result.output
    line = result.output.splitlines()[-1]
    assert line.startswith("error: ") and message in line and "Traceback" not in result.output, result.output
    assert snapshot(recipes) == before
