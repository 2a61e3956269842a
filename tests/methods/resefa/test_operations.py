"""ReSeFa's registered edit (regiongan.methods.resefa.edit): a Result in sample-major order, strength 0
is the plain image, truncation as in every method, re-targeted layers, and a recipe that replays
bit-for-bit with the directions file deleted."""

from __future__ import annotations

import json

import pytest
import torch

import regiongan.methods.resefa  # noqa: F401  (registers resefa.edit before the API replays it)
from regiongan.api import replay
from regiongan.identity import ModelMismatchError
from regiongan.latents import codes_to_ws, z_from_seeds
from regiongan.methods.resefa import LayerSpillWarning, edit, edited_ws, find_directions
from regiongan.methods.sampling import render
from regiongan.results import Result

from ...conftest import tiny_stylegan2
from .conftest import BOX

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small(G):
    """Cheap directions in W+ (fine rows) and Z, found with ψ = 0.7."""
    with pytest.warns(LayerSpillWarning):
        fine = find_directions(G, BOX, samples=1, space="w+", layers="fine", k=2, downsample=16, truncation_psi=0.7)
    return fine, find_directions(G, BOX, samples=1, space="z", k=2, downsample=16, truncation_psi=0.7)


def test_edit_returns_a_sample_major_result(G, dirs):
    out = edit(G, [3, 4], dirs, index=1, strengths=[-2.0, 0.0, 2.0])
    assert isinstance(out, Result) and out.method == "resefa.edit" and out.images.shape == (6, 3, 32, 32)
    assert out.extras["grid_shape"] == (2, 3) and out.extras["strengths"] == [-2.0, 0.0, 2.0]
    assert torch.equal(out.extras["direction"], dirs.vector(1)) and out.extras["eigenvalue"] == float(dirs.eigenvalues[1])
    ws = codes_to_ws(G, z_from_seeds([3, 4], G.z_dim))
    plain = render(G, ws)
    torch.testing.assert_close(out.images[[1, 4]], plain, rtol=0, atol=1e-5)  # strength 0 of code 0, code 1
    expected = render(G, edited_ws(G, ws, dirs.vector(1), "w", dirs.rows, [-2.0, 0.0, 2.0]))
    assert torch.equal(out.images, expected)
    assert (out.images[0] - plain[0]).abs().max() > 1e-3


def test_wplus_and_z_directions_and_their_truncation(G, small):
    fine, zdirs = small
    z = z_from_seeds([3, 4], G.z_dim)
    for d in (fine, zdirs):  # None: the ψ the directions were found with (0.7), for z codes
        out = edit(G, z, d, 0, [0.0, 1.0])
        plain = render(G, codes_to_ws(G, z, "z", None, 0.7))
        torch.testing.assert_close(out.images[[0, 2]], plain, rtol=0, atol=1e-5)
        assert (out.images[[1, 3]] - plain).abs().max() > 1e-3
    # w / w+ codes given as tensors are truncated exactly as in every method (codes_to_ws), here ψ = 0.5
    w = G.map(z)[:, 0]
    out = edit(G, w, fine, 0, [0.0], truncation_psi=0.5, space="w")
    torch.testing.assert_close(out.images, render(G, codes_to_ws(G, w, "w", None, 0.5)), rtol=0, atol=1e-5)
    out = edit(G, w, fine, 0, [0.0], space="w")  # None for a w code: used as given
    torch.testing.assert_close(out.images, render(G, codes_to_ws(G, w, "w")), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="a z-space direction moves z codes"):
        edit(G, w, zdirs, space="w")


def test_layers_retarget_w_directions_and_warn_when_they_spill(G, dirs, small):
    with pytest.warns(LayerSpillWarning, match=r"also moves b8\.torgb"):
        out = edit(G, 3, dirs, 0, [2.0], layers="fine")
    ws = codes_to_ws(G, z_from_seeds([3], G.z_dim))
    rows = sorted({p.w_index for p in G.control_points() if p.resolution >= 16})
    moved = ws.clone()
    moved[:, rows] += 2.0 * dirs.vector(0)
    assert out.extras["rows"] == tuple(rows)
    torch.testing.assert_close(out.images, render(G, moved))
    with pytest.raises(ValueError, match="re-targets W-space directions only"):
        edit(G, 3, small[0], layers="fine")


def test_the_recipe_replays_bit_for_bit_without_the_directions_file(G, dirs, tmp_path):
    path = dirs.save(tmp_path / "dirs.safetensors")
    out = edit(G, [0, 5], str(path), index=2, strengths=[-2.0, 0.0, 2.0], truncation_psi=0.8)
    out.recipe.save(tmp_path / "edit.json")
    path.unlink()
    text = (tmp_path / "edit.json").read_text()
    assert "dirs.safetensors" not in text and json.loads(text)["params"]["index"] == 0  # the one stored direction
    again = replay(tmp_path / "edit.json", G=G)
    assert again.method == "resefa.edit" and torch.equal(again.images, out.images)
    assert again.extras["eigenvalue"] == float(dirs.eigenvalues[2])


def test_directions_of_another_architecture_are_refused(dirs):
    other = tiny_stylegan2(w_dim=8)
    with pytest.raises(ModelMismatchError, match="w_dim=16.*w_dim=8"):
        edit(other, 0, dirs)
