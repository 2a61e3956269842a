"""ReSeFa (regiongan.methods.resefa): both solvers against scipy, rank-deficient backgrounds, locality on
a tiny model, per-sample part masks, save/load, recipe replay, the directions / edit commands and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner
from PIL import Image

from regiongan.cli import main
from regiongan.images import z_from_seeds
from regiongan.methods.resefa import (
    Directions,
    EmptyRegionError,
    NonFiniteOutputError,
    apply_direction,
    edit,
    latent_rows,
    load_directions,
    region_directions,
    solve,
    solve_cholesky,
    solve_woodbury,
    woodbury_inverse,
)
from regiongan.metrics.locality import in_out_mse
from regiongan.recipes import Recipe, replay, save_recipe
from regiongan.regions import Region, RegionError

from ..conftest import save_tiny, tiny_stylegan2

BOX = "box:8,8,20,20"


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_in_gamut(seed: int = 0):
    """tiny_stylegan2 with its ToRGB layers scaled by 0.15, so that ~98% of its pixels lie in [-1, 1]: the
    CIELAB locality metric clamps to the displayable range, and the raw tiny model saturates 60% of them."""
    G = tiny_stylegan2(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if ".torgb." in name and "affine" not in name:
                p.mul_(0.15)
    return G


@pytest.fixture(scope="module")
def G():
    return tiny_in_gamut()


@pytest.fixture(scope="module")
def dirs(G):
    return region_directions(G, BOX, samples=8, k=4)


# ---------------------------------------------------------------------------------------------- solvers


def _problem(d: int, p_f: int, p_b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    Jf = torch.randn(p_f, d, generator=g, dtype=torch.float64)
    Jb = torch.randn(p_b, d, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3, d, dtype=torch.float64)
    return Jf.T @ Jf, Jb.T @ Jb, Jb


def _scipy_top(A, B, tau, k):
    alpha = tau * float(torch.trace(B))
    lam, vec = scipy.linalg.eigh(A.numpy(), B.numpy() + alpha * np.eye(A.shape[0]))
    return lam[::-1][:k], vec[:, ::-1][:, :k].T


def _assert_matches(sol, lam_ref, vec_ref):
    np.testing.assert_allclose(sol.eigenvalues.numpy(), lam_ref, rtol=1e-4)
    for got, ref in zip(sol.vectors.numpy(), vec_ref):
        cos = abs(got @ ref) / (np.linalg.norm(got) * np.linalg.norm(ref))
        assert cos > 0.999, cos
    torch.testing.assert_close(sol.vectors.norm(dim=1), torch.ones(len(sol.vectors), dtype=torch.float64))


@pytest.mark.parametrize("tau", [1e-3, 0.05])
def test_both_solvers_match_scipy_generalized_eigh(tau):
    A, B, Jb = _problem(d=24, p_f=30, p_b=200)
    lam_ref, vec_ref = _scipy_top(A, B, tau, k=6)
    for sol in (
        solve_cholesky(A, B, k=6, tau=tau),
        solve_woodbury(A, B, k=6, tau=tau),
        solve_woodbury(A, Jb=Jb, k=6, tau=tau),  # truncated SVD of J_b, B never formed
        solve(A, B, k=6, tau=tau, solver="woodbury"),
    ):
        _assert_matches(sol, lam_ref, vec_ref)
    assert (solve_cholesky(A, B, tau=tau).eigenvalues.diff() <= 0).all()  # descending


def test_rank_deficient_background_is_what_alpha_is_for():
    # 5 background rows for a 16-d latent: B has rank 5, 11 directions leave the background untouched.
    A, B, Jb = _problem(d=16, p_f=40, p_b=5, seed=1)
    assert int(torch.linalg.matrix_rank(B)) == 5
    with pytest.raises(ValueError, match="not positive definite.*tau > 0"):
        solve_cholesky(A, B, tau=0.0)
    lam_ref, vec_ref = _scipy_top(A, B, 1e-3, k=4)
    _assert_matches(solve_cholesky(A, B, k=4), lam_ref, vec_ref)
    _assert_matches(solve_woodbury(A, B, k=4), lam_ref, vec_ref)
    _assert_matches(solve_woodbury(A, Jb=Jb, k=4, rank=5), lam_ref, vec_ref)  # rank(B) singular values: exact
    # Eq. 12 itself: the Woodbury inverse of B + αI from B's 5 nonzero singular values
    _, s, Vh = torch.linalg.svd(Jb, full_matrices=False)
    alpha = 1e-3 * float(torch.trace(B))
    torch.testing.assert_close(woodbury_inverse(Vh.T, s**2, alpha) @ (B + alpha * torch.eye(16, dtype=B.dtype)), torch.eye(16, dtype=B.dtype))


def test_solver_input_errors():
    A, B, _ = _problem(d=8, p_f=10, p_b=20)
    with pytest.raises(ValueError, match="k=9 directions asked for, but the latent has only d=8"):
        solve_cholesky(A, B, k=9)
    with pytest.raises(ValueError, match="tau must be a finite number >= 0"):
        solve_cholesky(A, B, tau=-1)
    with pytest.raises(ValueError, match="needs α = τ·tr\\(B\\) > 0"):
        solve_woodbury(A, B, tau=0.0)
    with pytest.raises(ValueError, match="exactly one of B"):
        solve_woodbury(A)
    with pytest.raises(ValueError, match="square"):
        solve_cholesky(A[:3], B)
    with pytest.raises(ValueError, match="solver must be one of"):
        solve(A, B, solver="qr")


# ---------------------------------------------------------------------------------------------- directions


def _out_in_ratios(G, directions, z, region, t=0.05):
    """Aggregate Out-MSE / In-MSE (CIELAB) of a small W edit along each of ``directions [n, w_dim]`` (all W+
    rows). t = 0.05 along a unit direction keeps the change in the linear regime the eigenproblem
    describes (In-MSE ≈ 1)."""
    ws = G.map(z)
    base = G.synthesize(G.styles(ws)).image
    edited = G.synthesize(G.styles((ws[None] + t * directions[:, None, None, :]).flatten(0, 1))).image
    in_mse, out_mse = in_out_mse(base.repeat(len(directions), 1, 1, 1), edited, region)
    return (out_mse.reshape(len(directions), -1).mean(1) / in_mse.reshape(len(directions), -1).mean(1)).tolist()


def test_top_direction_is_more_local_than_random_directions(G, dirs):
    assert dirs.vectors.shape == (4, G.w_dim) and dirs.space == "w" and dirs.rows == tuple(range(G.num_ws))
    assert (dirs.eigenvalues.diff() <= 0).all() and dirs.eigenvalues[0] > 1
    region = Region(dirs.region)
    g = torch.Generator().manual_seed(0)
    randoms = torch.randn(8, G.w_dim, generator=g)
    candidates = torch.cat([dirs.vectors[:1], randoms / randoms.norm(dim=1, keepdim=True)])
    # On the 8 samples the Grams were averaged over, the top direction is the most local: measured Out/In
    # 0.20 against 0.57 for the 8 random directions on average (0.39 for the best of them); on 16 held-out
    # samples 0.33 against 0.54 (best 0.39). A random tiny model varies a lot from sample to sample, so
    # directions from 8 samples generalise only in part. Asserted with margin: below 0.6x the random mean
    # on the Gram samples, and below the random mean on held-out samples.
    for z, factor in ((z_from_seeds(range(8), G.z_dim), 0.6), (z_from_seeds(range(100, 116), G.z_dim), 1.0)):
        top, *rand = _out_in_ratios(G, candidates, z, region)
        assert top < factor * (sum(rand) / len(rand)), (top, rand)


def test_solvers_agree_inside_region_directions(G, dirs):
    wood = region_directions(G, BOX, samples=8, k=4, solver="woodbury")
    torch.testing.assert_close(wood.eigenvalues, dirs.eigenvalues, rtol=1e-4, atol=0)
    assert ((wood.vectors * dirs.vectors).sum(dim=1).abs() > 0.999).all()


def test_wplus_and_z_spaces_and_layer_selection(G):
    fine = region_directions(G, BOX, samples=1, space="w+", layers="fine", k=3)
    assert fine.rows == latent_rows(G, "w+", "fine") and len(fine.rows) < G.num_ws
    assert fine.vectors.shape == (3, len(fine.rows) * G.w_dim)
    assert fine.meta["layers"] == [p.name for p in G.control_points() if p.w_index in fine.rows]
    zdirs = region_directions(G, BOX, samples=1, space="z", k=2, downsample=16)
    assert zdirs.vectors.shape == (2, G.z_dim) and zdirs.rows == () and zdirs.meta["downsample"] == 16
    z = z_from_seeds([3, 4], G.z_dim)
    plain = G(z)
    for d in (fine, zdirs):  # strength 0 is the unedited image, exactly
        images = edit(G, z, d, 0, [0.0, 1.0])
        assert images.shape == (2, 2, 3, 32, 32)
        torch.testing.assert_close(images[:, 0], plain, rtol=0, atol=1e-5)
        assert (images[:, 1] - plain).abs().max() > 1e-3
    # a W+ edit of the fine rows leaves the coarse-only 4x4 features alone: the edited image's change
    # comes from the selected rows only (moving an unselected row changes nothing else)
    ws = G.map(z)
    moved = apply_direction(G, ws, fine.vectors[0], "w+", fine.rows, [1.0])[:, 0]
    manual = ws.clone()
    manual[:, list(fine.rows)] += fine.vectors[0].reshape(len(fine.rows), G.w_dim)
    torch.testing.assert_close(moved, G.synthesize(G.styles(manual)).image)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_model_tangent_pass_gives_the_same_grams_as_functorch(G, space):
    """region_directions uses StyleGAN2.synthesize_jvp in W / W+; it must equal the generic vmap(jvp)."""
    from regiongan.jacobian import GramAccumulator, sample_grams
    from regiongan.methods.resefa import image_function, tangent_function

    rows = latent_rows(G, space, "fine" if space == "w+" else None)
    z = z_from_seeds([5], G.z_dim)
    ws = G.map(z)
    f, x0 = image_function(G, space, ws, z, rows)
    columns = tangent_function(G, space, ws, rows)
    assert columns is not None and tangent_function(G, "z", ws, rows) is None
    mask = Region.box(8, 8, 20, 20, size=(32, 32)).mask[0]
    fast = sample_grams(f, x0, mask, GramAccumulator(x0.shape[0]), chunk=7, columns=columns).result()
    slow = sample_grams(f, x0, mask, GramAccumulator(x0.shape[0]), chunk=7).result()
    torch.testing.assert_close(fast.A, slow.A, rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(fast.B, slow.B, rtol=1e-4, atol=1e-9)


class _FakeParser:
    """Labels a 6x6 'mouth' (id 2) whose position depends on the image, absent when the image is dark."""

    part_names = ("background", "skin", "mouth")

    def parse(self, images: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros(images.shape[0], images.shape[2], images.shape[3], dtype=torch.long)
        for i, img in enumerate(images):
            mean = float(img.mean())
            if i == 2:  # the third sample has no mouth
                continue
            y = 8 + int(abs(mean) * 50) % 12
            labels[i, y : y + 6, 10:16] = 2
        return labels


def test_part_regions_use_each_samples_mask_and_skip_samples_without_the_part(G):
    with pytest.warns(UserWarning, match="skipping seed 2"):
        d = region_directions(G, "part:mouth", samples=4, k=2, parser=_FakeParser())
    assert d.region.shape == (4, 1, 32, 32) and d.meta["skipped_seeds"] == [2] and d.meta["samples"] == 3
    assert float(d.region[2].sum()) == 0 and float(d.region[0].sum()) == 36
    with pytest.raises(RegionError, match="unknown part name 'nose'"):
        region_directions(G, "part:nose", samples=1, parser=_FakeParser())
    with pytest.raises(RegionError, match="need a part parser.*cannot be loaded"):
        region_directions(G, "part:mouth", samples=1, parser="/nonexistent/parser")


def test_bad_inputs_raise_clear_errors(G):
    with pytest.raises(ValueError, match="unknown latent space 'q'"):
        region_directions(G, BOX, space="q")
    with pytest.raises(ValueError, match="k=17 directions asked for, but the latent has only d=16"):
        region_directions(G, BOX, k=17)
    with pytest.raises(EmptyRegionError, match="has no pixel inside"):
        region_directions(G, torch.zeros(1, 1, 32, 32))
    with pytest.raises(EmptyRegionError, match="covers the whole image"):
        region_directions(G, "full")
    with pytest.raises(RegionError, match="resize it first"):
        region_directions(G, Region.box(0, 0, 4, 4, (16, 16)))
    with pytest.raises(ValueError, match="layers= cannot be used with space='z'"):
        region_directions(G, BOX, space="z", layers="fine")
    no_z = tiny_in_gamut()
    no_z.z_dim = 0
    with pytest.raises(ValueError, match="no z latent space"):
        region_directions(no_z, BOX, space="z")
    broken = tiny_in_gamut()
    with torch.no_grad():
        broken.synthesis.b32.torgb.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteOutputError, match="NaN"):
        region_directions(broken, BOX, samples=1)


# ---------------------------------------------------------------------------------------------- files


def test_save_load_round_trip(dirs, tmp_path):
    path = dirs.save(tmp_path / "d.safetensors")
    back = load_directions(path)
    assert isinstance(back, Directions)
    torch.testing.assert_close(back.vectors, dirs.vectors, rtol=0, atol=0)
    torch.testing.assert_close(back.eigenvalues, dirs.eigenvalues, rtol=0, atol=0)
    torch.testing.assert_close(back.region, dirs.region, rtol=0, atol=0)
    assert (back.space, back.rows, back.model, back.meta) == (dirs.space, dirs.rows, dirs.model, dirs.meta)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, no pickle
    with pytest.raises(FileExistsError, match="overwrite"):
        dirs.save(path)
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_directions(tmp_path / "bad.safetensors")


def test_recipe_replay_is_bit_identical(G, dirs, tmp_path):
    params = {
        "code": {"seeds": [0, 5]}, "direction": dirs.vectors[1].clone(), "space": "w", "rows": list(dirs.rows),
        "strengths": [-2.0, 0.0, 2.0], "truncation_psi": 0.8,
    }  # fmt: skip
    recipe = Recipe(method="resefa.edit", model="tiny", params=params)
    from regiongan.recipes import run

    first = run("resefa.edit", G, dict(params))
    save_recipe(recipe, tmp_path / "r.json")
    again = replay(tmp_path / "r.json", G=G)
    assert first.shape == (6, 3, 32, 32) and torch.equal(first, again)
    expected = edit(G, z_from_seeds([0, 5], G.z_dim), dirs, 1, [-2.0, 0.0, 2.0], truncation_psi=0.8)
    assert torch.equal(first, expected.reshape(6, 3, 32, 32))


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def model_dir(G, tmp_path_factory):
    """Overrides the conftest one: this module's CLI tests use its in-gamut model."""
    return save_tiny(tmp_path_factory.mktemp("m"), G)


def test_cli_directions_then_edit_then_replay(model_dir, tmp_path):
    out = tmp_path / "dirs.safetensors"
    args = ["directions", "-m", model_dir, "-r", BOX, "--samples", "2", "--k", "3", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    d = load_directions(out)
    assert d.k == 3 and d.model["name"] == model_dir and d.meta["region_spec"] == BOX
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "--overwrite" in r.output

    strip = tmp_path / "o" / "strip.png"
    eargs = ["edit", "--directions", str(out), "--index", "1", "--strengths", "-3,-1.5,0,1.5,3", "--seeds", "0-2", "--out", str(strip)]
    r = CliRunner().invoke(main, eargs)
    assert r.exit_code == 0, r.output
    assert Image.open(strip).size == (2 + 5 * 34, 2 + 3 * 34)  # 3 seeds x 5 strengths
    recipe = json.loads((tmp_path / "o" / "strip.json").read_text())
    assert recipe["method"] == "resefa.edit" and recipe["params"]["code"] == {"seeds": [0, 1, 2]}
    assert (tmp_path / "o" / "strip_region.png").is_file() and (tmp_path / "o" / "strip.safetensors").is_file()
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "o" / "strip.json"), "--out", str(tmp_path / "again.png")])
    assert r.exit_code == 0, r.output
    assert len(list(tmp_path.glob("again_*.png"))) == 15
    before = strip.read_bytes()
    r = CliRunner().invoke(main, eargs)
    assert r.exit_code == 2 and "--overwrite" in r.output and strip.read_bytes() == before


def test_cli_errors_are_clear(model_dir, tmp_path):
    base = ["directions", "-m", model_dir, "--samples", "1", "-o", str(tmp_path / "d.safetensors")]
    r = CliRunner().invoke(main, base + ["-r", "full"])
    assert r.exit_code == 2 and "covers the whole image" in r.output
    r = CliRunner().invoke(main, base + ["-r", BOX, "--k", "99"])
    assert r.exit_code == 2 and "k=99 directions asked for" in r.output
    r = CliRunner().invoke(main, base + ["-r", "part:mouth", "--parser", str(tmp_path / "no-parser")])
    assert r.exit_code == 2 and "need a part parser" in r.output
    r = CliRunner().invoke(main, ["edit", "-d", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "e.png")])
    assert r.exit_code == 2 and "not found" in r.output
    assert not any(tmp_path.iterdir())
