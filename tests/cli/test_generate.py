"""``regiongan generate``: grid, per-seed images, latents and recipe; determinism; no silent overwrite."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from safetensors.torch import load_file

from ..conftest import save_tiny, tiny_stylegan2
from .conftest import invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


def test_generate_writes_grid_per_seed_images_latents_and_a_replayable_recipe(model_dir, tmp_path):
    ok("generate", "--model", model_dir, "--seeds", "0-2,7", "--truncation", "0.7", "--out", tmp_path / "o/g.png")
    assert Image.open(tmp_path / "o/g.png").size == (2 + 2 * 34, 2 + 2 * 34)
    assert (tmp_path / "o/g_seed0007.png").is_file()
    lat = load_file(str(tmp_path / "o/g_latents.safetensors"))
    assert lat["seeds"].tolist() == [0, 1, 2, 7] and lat["ws"].shape == (4, tiny_stylegan2().num_ws, 16)
    recipe = json.loads((tmp_path / "o/g.json").read_text())
    assert recipe["method"] == "generate" and recipe["params"]["truncation_psi"] == 0.7
    assert recipe["outputs"] == [f"g_seed{s:04d}.png" for s in (0, 1, 2, 7)]
    ok("replay", tmp_path / "o/g.json", "--out", tmp_path / "again.png")
    assert (tmp_path / "again_03.png").read_bytes() == (tmp_path / "o/g_seed0007.png").read_bytes()


def test_generate_is_bit_for_bit_deterministic(model_dir, tmp_path):
    for name in ("a", "b"):
        ok("generate", "-m", model_dir, "-s", "3-5", "--noise", "random", "--noise-seed", "4", "-o", tmp_path / f"{name}.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_generate_no_longer_overwrites_by_default_and_plans_its_latents(model_dir, tmp_path):
    args = ["generate", "-m", model_dir, "-s", "0-1", "-o", tmp_path / "g.png"]
    ok(*args)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = invoke(*args[:-2], "-s", "5", "-o", tmp_path / "g.png")
    assert r.exit_code == 2 and "g.png" in r.output and "--overwrite" in r.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # the latents file alone is a conflict too
    (tmp_path / "h_latents.safetensors").write_text("mine")
    r = invoke("generate", "-m", model_dir, "-s", "0", "-o", tmp_path / "h.png")
    assert r.exit_code == 2 and "h_latents.safetensors exists" in r.output
    assert not (tmp_path / "h.png").exists() and (tmp_path / "h_latents.safetensors").read_text() == "mine"
    ok(*args, "--overwrite")


def test_class_conditional_models_take_class_in_generate_only(tmp_path):
    model = save_tiny(tmp_path / "m", tiny_stylegan2(c_dim=3))
    ok("generate", "-m", model, "-s", "0-1", "--class", "2", "-o", tmp_path / "g.png")
    assert json.loads((tmp_path / "g.json").read_text())["params"]["c"] == 2
    r = invoke("generate", "-m", model, "-s", "0", "-o", tmp_path / "h.png")
    assert r.exit_code == 2 and "class-conditional with 3 classes" in r.output
    r = invoke("resample", "-m", model, "-r", "box:0,0,8,8", "-o", tmp_path / "r.png")
    assert r.exit_code == 2 and "regiongan.resample(G, …, c=…)" in r.output


def test_generate_precision_auto_records_the_resolved_precision(model_dir, tmp_path):
    from regiongan.hardware import resolve_precision

    ok("generate", "-m", model_dir, "-s", "0", "--precision", "auto", "-o", tmp_path / "a.png")
    recipe = json.loads((tmp_path / "a.json").read_text())
    assert recipe["params"]["precision"] == resolve_precision("auto", "cpu") != "auto"
    r = invoke("generate", "-m", model_dir, "-s", "0", "--precision", "fp16", "-o", tmp_path / "b.png")
    assert r.exit_code != 0 and "auto" in r.output
