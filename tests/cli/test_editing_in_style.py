"""``regiongan catalog | name-clusters | part-transfer``: build, name, transfer, replay; clear errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import regiongan as rg
from regiongan.checkpoints import save_pretrained

from ..conftest import tiny_stylegan2
from .conftest import files, invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


def test_catalog_name_transfer_replay(model_dir, tmp_path):
    cat_dir = tmp_path / "cat"
    base = ["catalog", "-m", model_dir, "--samples", "6", "--k", "4", "--fit-samples", "6", "--no-progress"]
    r = ok(*base, "--name", "face=0,1", "--out", cat_dir)
    assert "K=4" in r.output and "face=[0, 1]" in r.output
    assert files(cat_dir) == {"catalog.json", "catalog.safetensors", "clusters.png"}
    r = invoke(*base, "--out", cat_dir)
    assert r.exit_code == 2 and "--overwrite" in r.output

    ok("name-clusters", cat_dir, "eyes=2,3")
    assert rg.load_catalog(cat_dir).names == {"face": [0, 1], "eyes": [2, 3]}

    out = tmp_path / "o" / "pt.png"
    args = ["part-transfer", "-m", model_dir, "-c", cat_dir, "--target", "3", "--reference", "11", "--part", "eyes", "-o", out]
    ok(*args)
    assert Image.open(out).size == (3 * 32 + 4 * 2, 32 + 2 * 2)  # target | reference | result
    assert files(tmp_path / "o") == {"pt.png", "pt_00.png", "pt_region.png", "pt.json", "pt.safetensors"}
    recipe = json.loads((tmp_path / "o" / "pt.json").read_text())
    assert recipe["method"] == "editing_in_style.transfer_part" and recipe["params"]["part"] == "eyes"
    r = invoke(*args)
    assert r.exit_code == 2 and "exist; pass --overwrite" in r.output
    ok("replay", tmp_path / "o" / "pt.json", "--out", tmp_path / "again.png")  # the catalog travels in the recipe
    assert (tmp_path / "again_00.png").read_bytes() == (tmp_path / "o" / "pt_00.png").read_bytes()
    ok(*args[:-2], "--part", "1,2", "--method", "simultaneous", "--lam", "2", "-o", tmp_path / "c.png")


def test_errors_are_clear(model_dir, tmp_path):
    base = ["catalog", "-m", model_dir, "--samples", "2", "--no-progress", "--out", tmp_path / "c"]
    r = invoke(*base, "--layer", "b99.conv0")
    assert r.exit_code == 2 and "unknown catalog layer 'b99.conv0'; the layers of this model are" in r.output
    r = invoke(*base, "--layer", "b4.conv1", "--k", "40")
    assert r.exit_code == 2 and "K=40 clusters but only 32 vectors" in r.output
    r = invoke(*base, "--name", "eyes")
    assert r.exit_code == 2 and "use NAME=ID[,ID...]" in r.output
    pt = ["part-transfer", "-m", model_dir, "--target", "1", "--reference", "2", "-o", tmp_path / "x.png"]
    r = invoke(*pt, "-c", tmp_path / "none", "--part", "eyes")
    assert r.exit_code == 2 and "no catalog at" in r.output
    r = invoke(*pt, "--part", "eyes")  # a saved tiny model declares no companion catalog
    assert r.exit_code == 2 and "declares no companion catalog" in r.output
    other = tiny_stylegan2(seed=3)
    rg.build_catalog(other, samples=2, k=2, progress=False).save(tmp_path / "oc")
    pt += ["-c", tmp_path / "oc"]
    r = invoke(*pt, "--part", "0")
    assert r.exit_code == 2 and "other weights" in r.output
    pt[2] = str(save_pretrained(other, tmp_path / "other"))
    r = invoke(*pt, "--part", "eyes")
    assert r.exit_code == 2 and "unknown part 'eyes'" in r.output
    r = invoke(*pt, "--part", "0", "--eps", "-1")
    assert r.exit_code == 2 and "eps" in r.output
    r = invoke(*pt, "--part", "0", "--rho", "0")
    assert r.exit_code == 2 and "rho is the paper's ρ" in r.output
    assert files(tmp_path) == {"oc", "oc/catalog.json", "oc/catalog.safetensors", "other", "other/config.json", "other/model.safetensors"}
