"""Editing in Style: queries (Eq. 4, 5), part transfer (Eq. 3), recipes and the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from regiongan.checkpoints import save_pretrained
from regiongan.cli import main
from regiongan.methods.catalog import Catalog, CatalogError, build_catalog
from regiongan.methods.editing_in_style import (
    DEFAULT_RHO,
    part_queries,
    sequential_query,
    simultaneous_query,
    transfer_part,
)
from regiongan.recipes import Recipe, load_recipe, replay, save_recipe
from tests.conftest import tiny_stylegan2


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def G():
    return tiny_stylegan2()


@pytest.fixture(scope="module")
def catalog(G):
    cat = build_catalog(G, samples=8, k=4, progress=False)
    return cat.name_clusters({"eyes": [1, 2], "rest": [0, 3]})


def plain(G, z):
    with torch.no_grad():
        return G.synthesize(G.styles(G.map(z))).image


# --------------------------------------------------------------------------------------------------
# Queries


def test_simultaneous_query_clips_at_one():
    m = torch.tensor([0.05, 0.3, 0.6, 0.0])
    assert torch.allclose(simultaneous_query(m, 2.0), torch.tensor([0.1, 0.6, 1.0, 0.0]))
    assert torch.equal(simultaneous_query(m, 0.0), torch.zeros(4))
    assert torch.equal(simultaneous_query(m, 1e6), torch.tensor([1.0, 1.0, 1.0, 0.0]))


def test_sequential_query_budget_and_threshold():
    m = torch.tensor([0.5, 0.05, 0.9, 0.3, 0.2])
    # sorted: 0.9 (cost 0.1, total 0.1), 0.5 (0.5 -> 0.6), 0.3 (0.7 -> 1.3 > 1): stop
    assert torch.equal(sequential_query(m, eps=1.0), torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0]))
    assert torch.equal(sequential_query(m, eps=1.35), torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]))
    # a budget met exactly is within it (dyadic values: no rounding): costs 0.25 + 0.5 = 0.75
    assert torch.equal(sequential_query(torch.tensor([0.5, 0.75, 0.25]), eps=0.75), torch.tensor([1.0, 1.0, 0.0]))
    # a large budget takes every channel above ρ/(1+ρ) = 0.1, never the 0.05 one
    assert torch.equal(sequential_query(m, eps=100.0), torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0]))
    # ρ = 1: threshold 0.5, strict: 0.5 itself is out
    assert torch.equal(sequential_query(m, eps=100.0, rho=1.0), torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))
    # ε = 0: only channels that cost nothing (M = 1)
    assert torch.equal(sequential_query(torch.tensor([1.0, 0.9]), eps=0.0), torch.tensor([1.0, 0.0]))
    assert torch.equal(sequential_query(m, eps=0.05), torch.zeros(5))
    # ties: lower index first
    assert torch.equal(sequential_query(torch.tensor([0.4, 0.4, 0.4]), eps=1.2), torch.tensor([1.0, 1.0, 0.0]))
    assert DEFAULT_RHO / (1 + DEFAULT_RHO) == pytest.approx(0.1)


@pytest.mark.parametrize("rho", [0.0, -1.0, math.inf, math.nan])
def test_bad_rho(rho):
    with pytest.raises(ValueError, match=r"rho is the paper's ρ \(Eq. 5\).*finite number > 0 .*lies in \(0, 1\)"):
        sequential_query(torch.tensor([0.5]), eps=1.0, rho=rho)


def test_bad_query_input(catalog):
    with pytest.raises(ValueError, match=r"eps \(ε, Eq. 5\) must be a finite number >= 0"):
        sequential_query(torch.tensor([0.5]), eps=-0.1)
    with pytest.raises(ValueError, match=r"eps \(ε, Eq. 5\) must be a finite number >= 0"):
        sequential_query(torch.tensor([0.5]), eps=math.nan)
    with pytest.raises(ValueError, match=r"lam \(λ, Eq. 4\) must be a finite number >= 0"):
        simultaneous_query(torch.tensor([0.5]), lam=-1)
    with pytest.raises(ValueError, match="must be a number"):
        sequential_query(torch.tensor([0.5]), eps="10")
    with pytest.raises(ValueError, match=r"method must be one of \('sequential', 'simultaneous'\)"):
        part_queries(catalog, "eyes", method="greedy")
    with pytest.raises(CatalogError, match=r"unknown part 'nose'; this catalog's parts: eyes=\[1, 2\], rest=\[0, 3\]"):
        part_queries(catalog, "nose")


def test_part_queries_use_the_merged_row(catalog):
    q = part_queries(catalog, "eyes", method="simultaneous", lam=2.0)
    m = catalog.contributions["b16.conv1"][[1, 2]].sum(dim=0)
    assert torch.allclose(q["b16.conv1"], (2 * m).clamp(max=1))
    assert torch.equal(q["b4.conv1"], torch.zeros_like(q["b4.conv1"]))  # the constant's layer is never edited
    assert set(q) == {p.name for p in tiny_stylegan2().control_points()}


# --------------------------------------------------------------------------------------------------
# Transfer


def test_zero_query_gives_the_target_exactly(G, catalog):
    zt, zr = torch.randn(2, G.z_dim), torch.randn(2, G.z_dim)
    target = plain(G, zt)
    with torch.no_grad():
        assert torch.equal(transfer_part(G, zt, zr, "eyes", catalog, method="simultaneous", lam=0.0).image, target)
        assert torch.equal(transfer_part(G, zt, zr, "eyes", catalog, eps=0.0).image, target)
        edited = transfer_part(G, zt, zr, "eyes", catalog, eps=50.0).image
    assert not torch.equal(edited, target)


def test_reference_equal_to_target_gives_the_target(G, catalog):
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        for method in ("sequential", "simultaneous"):
            out = transfer_part(G, z, z, "eyes", catalog, method=method, lam=100.0, eps=100.0)
            assert torch.equal(out.image, plain(G, z))


def test_transfer_moves_styles_by_the_query(G, catalog):
    zt, zr = torch.randn(1, G.z_dim), torch.randn(4, G.z_dim)
    with torch.no_grad():
        out = transfer_part(G, zt, zr, 2, catalog, method="simultaneous", lam=3.0)
    assert out.image.shape == (4, 3, 32, 32)  # target batch 1 broadcasts
    for p, s, st, sr in zip(G.control_points(), out.styles, out.target_styles, out.reference_styles):
        q = out.queries[p.name]
        assert torch.allclose(s, st + q * (sr - st), atol=1e-6)


def test_catalog_of_another_model_is_refused(G, catalog):
    other = tiny_stylegan2(seed=5)
    z = torch.randn(1, G.z_dim)
    with pytest.raises(CatalogError, match=rf"{catalog.fingerprint}.*given model has fingerprint sha256:"):
        transfer_part(other, z, z, "eyes", catalog)


def test_recipe_replay_is_bit_identical(G, catalog, tmp_path):
    params = {
        "target": {"seed": 3}, "reference": {"seed": 11}, "part": "eyes", "catalog": catalog.to_dict(),
        "method": "sequential", "eps": 20.0, "rho": 0.2,
    }  # fmt: skip
    path = save_recipe(Recipe(method="editing_in_style.transfer_part", model="tiny", params=params), tmp_path / "r.json")
    assert (tmp_path / "r.safetensors").is_file()  # the catalog's tensors travel with the recipe
    first = load_recipe(path).run(G)
    again = replay(path, G=G)
    assert torch.equal(first, again)
    from regiongan.images import z_from_seeds

    with torch.no_grad():
        direct = transfer_part(G, z_from_seeds([3], 16), z_from_seeds([11], 16), "eyes", catalog, eps=20.0, rho=0.2)
    assert torch.equal(direct.image, first)


# --------------------------------------------------------------------------------------------------
# CLI


def test_cli_catalog_name_transfer_replay(model_dir, tmp_path):
    cat_dir = tmp_path / "cat"
    base = ["catalog", "-m", model_dir, "--samples", "6", "--k", "4", "--fit-samples", "6", "--no-progress"]
    r = CliRunner().invoke(main, base + ["--name", "face=0,1", "--out", str(cat_dir)])
    assert r.exit_code == 0, r.output
    assert "K=4" in r.output and "face=[0, 1]" in r.output
    assert {p.name for p in cat_dir.iterdir()} == {"catalog.json", "catalog.safetensors", "clusters.png"}
    r = CliRunner().invoke(main, base + ["--out", str(cat_dir)])
    assert r.exit_code == 2 and "--overwrite" in r.output

    r = CliRunner().invoke(main, ["name-clusters", str(cat_dir), "eyes=2,3"])
    assert r.exit_code == 0, r.output
    assert Catalog.load(cat_dir).names == {"face": [0, 1], "eyes": [2, 3]}

    out = tmp_path / "o" / "pt.png"
    args = ["part-transfer", "-m", model_dir, "-c", str(cat_dir), "--target", "3", "--reference", "11", "--part", "eyes", "-o", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    grid = Image.open(out)
    assert grid.size == (3 * 32 + 4 * 2, 32 + 2 * 2)  # target | reference | result
    recipe = json.loads((tmp_path / "o" / "pt.json").read_text())
    assert recipe["method"] == "editing_in_style.transfer_part" and recipe["params"]["part"] == "eyes"
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "exist(s); pass --overwrite" in r.output
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "o" / "pt.json"), "--out", str(tmp_path / "again.png")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "again_00.png").tobytes() == Image.open(tmp_path / "o" / "pt_00.png").tobytes()
    r = CliRunner().invoke(main, args[:-2] + ["--part", "1", "--method", "simultaneous", "--lam", "2", "-o", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output


def test_cli_errors_are_clear(model_dir, tmp_path):
    base = ["catalog", "-m", model_dir, "--samples", "2", "--no-progress", "--out", str(tmp_path / "c")]
    r = CliRunner().invoke(main, base + ["--layer", "b99.conv0"])
    assert r.exit_code == 2 and "unknown catalog layer 'b99.conv0'; the layers of this model are" in r.output
    r = CliRunner().invoke(main, base + ["--layer", "b4.conv1", "--k", "40"])
    assert r.exit_code == 2 and "K=40 clusters but only 32 vectors" in r.output
    r = CliRunner().invoke(main, base + ["--name", "eyes"])
    assert r.exit_code == 2 and "use NAME=ID[,ID...]" in r.output
    r = CliRunner().invoke(main, ["part-transfer", "-m", model_dir, "-c", str(tmp_path / "none"), "--target", "1", "--reference", "2", "--part", "eyes", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "no catalog at" in r.output
    other = str(save_pretrained(tiny_stylegan2(seed=3), tmp_path / "other"))
    build_catalog(tiny_stylegan2(seed=3), samples=2, k=2, progress=False).save(tmp_path / "oc")
    pt = ["part-transfer", "-m", model_dir, "-c", str(tmp_path / "oc"), "--target", "1", "--reference", "2", "-o", str(tmp_path / "x.png")]
    r = CliRunner().invoke(main, pt + ["--part", "0"])
    assert r.exit_code == 2 and "fingerprint" in r.output
    pt[2] = other
    r = CliRunner().invoke(main, pt + ["--part", "eyes"])
    assert r.exit_code == 2 and "unknown part 'eyes'" in r.output
    r = CliRunner().invoke(main, pt + ["--part", "0", "--eps", "-1"])
    assert r.exit_code == 2 and "eps (ε, Eq. 5) must be a finite number >= 0" in r.output
    r = CliRunner().invoke(main, pt + ["--part", "0", "--rho", "0"])
    assert r.exit_code == 2 and "rho is the paper's ρ" in r.output
