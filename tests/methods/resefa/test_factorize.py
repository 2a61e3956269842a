"""ReSeFa's pipeline (regiongan.methods.resefa.find_directions): locality on a tiny model, the solvers
agreeing inside the pipeline, W+ and Z, every region form (spec, mask, part: per sample — also through the
shipped faces-64's companion parser —, a function), the spill warning, and clear errors."""

from __future__ import annotations

import pytest
import torch

from regiongan.checkpoints import load_model
from regiongan.latents import z_from_seeds
from regiongan.methods.resefa import (
    EmptyRegionError,
    LayerSpillWarning,
    NonFiniteOutputError,
    find_directions,
    latent_rows,
)
from regiongan.metrics.locality import in_out_mse
from regiongan.regions import Region, RegionError

from .conftest import BOX, tiny_in_gamut

pytestmark = pytest.mark.usefixtures("one_thread")


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
    assert dirs.meta["seeds"] == list(range(8)) and dirs.meta["region_spec"] == BOX and dirs.region.shape == (1, 1, 32, 32)
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


def test_solvers_agree_inside_find_directions(G, dirs):
    wood = find_directions(G, BOX, samples=8, k=4, solver="woodbury")
    torch.testing.assert_close(wood.eigenvalues, dirs.eigenvalues, rtol=1e-4, atol=0)
    assert ((wood.vectors * dirs.vectors).sum(dim=1).abs() > 0.999).all()


def test_wplus_and_z_spaces_and_the_spill_warning(G):
    with pytest.warns(LayerSpillWarning, match=r"also moves b8\.torgb"):
        fine = find_directions(G, BOX, samples=1, space="w+", layers="fine", k=3)
    assert fine.rows == latent_rows(G, "w+", "fine") and len(fine.rows) < G.num_ws
    assert fine.vectors.shape == (3, len(fine.rows) * G.w_dim)
    assert fine.layers == tuple(p.name for p in G.control_points() if p.w_index in fine.rows)
    assert "b8.torgb" in fine.layers  # the spilled control point is recorded as moved
    zdirs = find_directions(G, BOX, samples=1, space="z", k=2, downsample=16)
    assert zdirs.vectors.shape == (2, G.z_dim) and zdirs.rows == () and zdirs.meta["downsample"] == 16
    assert zdirs.layers == ()


class _FakeParser:
    """Labels a 6x6 'mouth' (id 2) whose position depends on the image, absent in the third image."""

    part_names = ("background", "skin", "mouth")

    def parse(self, images: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros(images.shape[0], images.shape[2], images.shape[3], dtype=torch.long)
        for i, img in enumerate(images):
            if i == 2:  # the third sample has no mouth
                continue
            y = 8 + int(abs(float(img.mean())) * 50) % 12
            labels[i, y : y + 6, 10:16] = 2
        return labels


def test_part_regions_use_each_samples_mask_and_skip_samples_without_the_part(G):
    with pytest.warns(UserWarning, match="skipping seed 2"):
        d = find_directions(G, "part:mouth", samples=4, k=2, parser=_FakeParser())
    assert d.region.shape == (4, 1, 32, 32) and d.meta["skipped_seeds"] == [2] and d.meta["samples"] == 3
    assert float(d.region[2].sum()) == 0 and float(d.region[0].sum()) == 36
    with pytest.raises(RegionError, match="unknown part name 'nose'"):
        find_directions(G, "part:nose", samples=1, parser=_FakeParser())
    with pytest.raises(RegionError, match="cannot load the part parser"):
        find_directions(G, "part:mouth", samples=1, parser="/nonexistent/parser")
    with pytest.raises(RegionError, match="declares none"):  # the tiny model has no companion parser
        find_directions(G, "part:mouth", samples=1)


def test_per_sample_masks_and_region_functions_are_the_same_thing(G):
    masks = torch.zeros(2, 1, 32, 32)
    masks[0, :, 4:12, 4:12] = 1
    masks[1, :, 16:30, 10:20] = 1
    from_tensor = find_directions(G, masks, samples=2, k=2, downsample=16)
    from_fn = find_directions(G, lambda images: masks[: len(images)], samples=2, k=2, downsample=16)
    assert torch.equal(from_tensor.region, masks) and from_tensor.meta["region_spec"] is None
    torch.testing.assert_close(from_fn.eigenvalues, from_tensor.eigenvalues, rtol=1e-6, atol=0)
    with pytest.raises(RegionError, match="give 1 \\(shared\\) or samples=3"):
        find_directions(G, masks, samples=3)


def test_part_mouth_through_the_companion_parser_of_faces_64():
    """The shipped faces-64 declares parser-faces-64, so "part:mouth" needs no parser argument."""
    G = load_model("faces-64")
    d = find_directions(G, "part:mouth", samples=2, k=2, downsample=16)
    assert d.vectors.shape == (2, G.w_dim) and d.region.shape == (2, 1, 64, 64) and d.meta["samples"] == 2
    area = d.region.sum(dim=(1, 2, 3))
    assert ((area > 10) & (area < 0.1 * 64 * 64)).all(), area  # a mouth on each sample, a small one
    assert not torch.equal(d.region[0], d.region[1])  # each sample's own mask
    assert d.eigenvalues[0] > 1 and d.model["name"] == "faces-64"


def test_bad_inputs_raise_clear_errors(G):
    with pytest.raises(ValueError, match="unknown latent space 'q'"):
        find_directions(G, BOX, space="q")
    with pytest.raises(ValueError, match="k=17 directions asked for, but the latent has only d=16"):
        find_directions(G, BOX, k=17)
    with pytest.raises(EmptyRegionError, match="has no pixel inside"):
        find_directions(G, torch.zeros(1, 1, 32, 32))
    with pytest.raises(EmptyRegionError, match="covers the whole image"):
        find_directions(G, "full")
    with pytest.raises(RegionError, match="build it at that size"):
        find_directions(G, Region.box(0, 0, 4, 4, (16, 16)))
    with pytest.raises(ValueError, match="layers= cannot be used with space='z'"):
        find_directions(G, BOX, space="z", layers="fine")
    with pytest.raises(ValueError, match="truncation_psi must be a finite number > 0"):
        find_directions(G, BOX, truncation_psi=0)
    with pytest.raises(ValueError, match="downsample=64 is larger"):
        find_directions(G, BOX, downsample=64)
    broken = tiny_in_gamut()
    with torch.no_grad():
        broken.synthesis.b32.torgb.bias.fill_(float("nan"))  # test setup only: break the model's output
    with pytest.raises(NonFiniteOutputError, match="NaN"):
        find_directions(broken, BOX, samples=1)
