"""``regiongan directions | edit``: find, edit, replay; clear errors; the directions file is protected."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import regiongan as rg

from .conftest import files, invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")

BOX = "box:8,8,24,24"


def test_directions_then_edit_then_replay(model_dir, tmp_path):
    out = tmp_path / "dirs.safetensors"
    args = ["directions", "-m", model_dir, "-r", BOX, "--samples", "2", "--k", "3", "--out", out]
    r = ok(*args)
    assert '"k": 3' in r.output
    d = rg.load_directions(out)
    assert d.k == 3 and d.model["name"] == model_dir and d.meta["region_spec"] == BOX
    r = invoke(*args)
    assert r.exit_code == 2 and "--overwrite" in r.output

    strip = tmp_path / "o" / "strip.png"
    eargs = ["edit", "--directions", out, "--index", "1", "--strengths=-3,-1.5,0,1.5,3", "--seeds", "0-2", "--out", strip]
    ok(*eargs)
    assert Image.open(strip).size == (2 + 5 * 34, 2 + 3 * 34)  # 3 seeds x 5 strengths
    assert len(files(tmp_path / "o")) == 1 + 15 + 3  # grid, 15 images, region, recipe + sidecar
    assert {"strip_region.png", "strip.json", "strip.safetensors", "strip_14.png"} <= files(tmp_path / "o")
    recipe = json.loads((tmp_path / "o" / "strip.json").read_text())
    assert recipe["method"] == "resefa.edit" and recipe["params"]["code"] == [0, 1, 2]
    ok("replay", tmp_path / "o" / "strip.json", "--out", tmp_path / "again.png")
    assert (tmp_path / "again_07.png").read_bytes() == (tmp_path / "o" / "strip_07.png").read_bytes()
    before = strip.read_bytes()
    r = invoke(*eargs)
    assert r.exit_code == 2 and "--overwrite" in r.output and strip.read_bytes() == before
    # the recipe's sidecar would be the directions file itself: refused even with --overwrite
    r = invoke("edit", "-d", out, "-o", tmp_path / "dirs.png", "--overwrite")
    assert r.exit_code == 2 and "is also an input" in r.output and rg.load_directions(out).k == 3


def test_errors_are_clear(model_dir, tmp_path):
    base = ["directions", "-m", model_dir, "--samples", "1", "-o", tmp_path / "d.safetensors"]
    r = invoke(*base, "-r", "full")
    assert r.exit_code == 2 and "covers the whole image" in r.output
    r = invoke(*base, "-r", BOX, "--k", "99")
    assert r.exit_code == 2 and "k=99 directions asked for" in r.output
    r = invoke(*base, "-r", "part:mouth", "--parser", tmp_path / "no-parser")
    assert r.exit_code == 2 and "part parser" in r.output
    r = invoke("directions", "-m", model_dir, "-r", BOX, "-o", tmp_path / "d.pt")
    assert r.exit_code == 2 and ".safetensors" in r.output
    r = invoke("edit", "-d", tmp_path / "missing.safetensors", "-o", tmp_path / "e.png")
    assert r.exit_code == 2 and "not found" in r.output
    assert not any(tmp_path.iterdir())


def test_biggan_directions_in_the_class_space_then_edit_with_the_directions_class(tmp_path):
    """BigGAN-deep: --space class with --class; edit defaults to that class; replay; --space w is refused."""
    from regiongan.checkpoints import save_pretrained

    from ..generators.test_biggan import tiny_biggan

    model = tmp_path / "biggan"
    save_pretrained(tiny_biggan(seed=1), model)
    out = tmp_path / "class.safetensors"
    r = ok("directions", "-m", model, "-r", "box:8,8,20,20", "--space", "class", "--class", "2", "--samples", "1", "--k", "2", "-o", out)
    assert '"space": "class"' in r.output and '"class": 2' in r.output and "in class, d=8" in r.output
    d = rg.load_directions(out)
    assert d.space == "class" and d.rows == () and d.meta["class"] == 2
    strip = tmp_path / "o" / "strip.png"
    ok("edit", "-d", out, "--strengths=-2,0,2", "--seeds", "0", "-o", strip)
    recipe = json.loads((tmp_path / "o" / "strip.json").read_text())
    assert recipe["params"]["c"] == 2 and recipe["params"]["directions"]["space"] == "class"
    ok("replay", tmp_path / "o" / "strip.json", "--out", tmp_path / "again.png")
    assert (tmp_path / "again_02.png").read_bytes() == (tmp_path / "o" / "strip_02.png").read_bytes()
    r = invoke("directions", "-m", model, "-r", "box:8,8,20,20", "--class", "2", "-o", tmp_path / "w.safetensors")
    assert r.exit_code == 2 and "space 'w' is not available for this model" in r.output and "'class' (d=8" in r.output
    r = invoke("directions", "-m", model, "-r", "box:8,8,20,20", "--space", "class", "--k", "2", "-o", tmp_path / "c.safetensors")
    assert r.exit_code == 2 and "class-conditional with 3 classes: give a class" in r.output
