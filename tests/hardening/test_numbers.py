"""Numbers at the API boundary: every number finite and in range, every count capped, the same rule in every
operation (regiongan.validate, limits.check_count, latents.check_truncation_psi), and no silent wrong output.

Each case asserts the one-line message and that the call left nothing behind (it runs in an empty folder)."""

from __future__ import annotations

import math

import pytest
import torch

import regiongan as rg
from regiongan import validate
from regiongan.data import export_world, get_world
from regiongan.data.export import preview_grid
from regiongan.identity import model_record
from regiongan.limits import LimitError
from regiongan.methods.resefa import Directions
from regiongan.regions import Region, RegionError, RegionSet, parse_region

pytestmark = pytest.mark.usefixtures("one_thread")

BOX = "box:8,8,24,24"


@pytest.fixture(autouse=True)
def nothing_written(tmp_path, monkeypatch):
    """Every case runs in an empty working folder that must stay empty."""
    monkeypatch.chdir(tmp_path)
    yield
    assert not any(tmp_path.iterdir()), sorted(p.name for p in tmp_path.iterdir())


@pytest.fixture(scope="module")
def G(saved_tiny):
    return saved_tiny[0]


@pytest.fixture(scope="module")
def dirs(G) -> Directions:
    return Directions(vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,), model=model_record(G))


def refuse(call, error: type[Exception], message: str) -> str:
    """``call()`` must raise ``error`` with ``message`` in one line."""
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------------------------------
# Truncation ψ: one rule for every operation (generate used to write black images for nan / inf)

PSI = "must be a finite number > 0 and <= 100"


@pytest.mark.parametrize("psi", [math.nan, math.inf, -math.inf, 1e30, 0, -0.5, True, "0.7", None])
def test_generate_refuses_a_bad_truncation_psi(G, psi):
    refuse(lambda: rg.generate(G, [0], truncation_psi=psi), ValueError, f"truncation_psi {PSI}, got {psi!r}")


@pytest.mark.parametrize(
    "call",
    [
        lambda G, dirs: rg.resample(G, 0, BOX, variations=2, truncation_psi=math.nan),
        lambda G, dirs: rg.transfer(G, 0, 1, BOX, truncation_psi=math.inf),
        lambda G, dirs: rg.saliency(G, 0, BOX, 2.0, truncation_psi=1e9),
        lambda G, dirs: rg.edit(G, [0], dirs, truncation_psi=math.nan),
        lambda G, dirs: rg.find_directions(G, BOX, samples=2, truncation_psi=math.inf),
        lambda G, dirs: rg.build_catalog(G, samples=2, k=2, truncation_psi=math.nan, progress=False),
    ],
    ids=["resample", "transfer", "saliency", "edit", "find_directions", "build_catalog"],
)
def test_every_operation_refuses_a_bad_truncation_psi(G, dirs, call):
    refuse(lambda: call(G, dirs), ValueError, f"truncation_psi {PSI}")


def test_saliency_names_the_bad_psi(G):
    refuse(lambda: rg.saliency(G, 0, BOX, 1e30), ValueError, f"psi {PSI}, got 1e+30")
    refuse(lambda: rg.saliency(G, 0, BOX, 2.0, background_psi=math.nan), ValueError, f"background_psi {PSI}, got nan")
    refuse(lambda: rg.saliency(G, 0, BOX, [1.0, math.inf]), ValueError, f"psi[1] {PSI}, got inf")


# --------------------------------------------------------------------------------------------------
# Truncation cutoff, seeds, noise, classes


@pytest.mark.parametrize(
    ("cutoff", "message"),
    [
        (-1, "must be an int in 0..8, got -1"),
        (9, "must be an int in 0..8, got 9"),
        (2.5, "must be an int in 0..8, got 2.5"),
        (True, "must be an int in 0..8, got True"),
    ],
)
def test_generate_refuses_a_bad_truncation_cutoff(G, cutoff, message):
    refuse(lambda: rg.generate(G, [0], truncation_psi=0.5, truncation_cutoff=cutoff), ValueError, message)


def test_a_truncation_cutoff_is_refused_for_w_codes_instead_of_ignored(G):
    w = torch.zeros(1, G.w_dim)
    refuse(lambda: rg.generate(G, w, space="w", truncation_psi=0.5, truncation_cutoff=2), ValueError, "applies to z codes")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda G: rg.generate(G, [2**32]), "a seed (int in 0..4294967295)"),
        (lambda G: rg.generate(G, [0], noise="random", noise_seed=2**32), "noise_seed must be an int in 0..4294967295, got 4294967296"),
        (lambda G: rg.generate(G, [0], noise="random", noise_seed=-1), "noise_seed must be an int in 0..4294967295, got -1"),
        (lambda G: rg.resample(G, 0, BOX, variations=2, variation_seed=2**64), "variation_seed must be an int in 0..4294967295"),
        (lambda G: rg.transfer(G, 0, 1, BOX, noise="blend", noise_seed=1.5), "noise_seed must be an int in 0..4294967295, got 1.5"),
        (lambda G: rg.find_directions(G, BOX, samples=2, seed=2**32 - 1), "the samples' seeds 4294967295..4294967296 pass"),
        (lambda G: rg.z_from_seeds([2**32], 16), "seeds must be ints in 0..4294967295"),
    ],
    ids=["code", "noise_seed-big", "noise_seed-negative", "variation_seed", "noise_seed-float", "directions-seeds", "z_from_seeds"],
)
def test_seeds_are_ints_in_the_numpy_range(G, call, message):
    refuse(lambda: call(G), ValueError, message)


@pytest.mark.parametrize("space", ["z", "w"])
def test_code_tensors_are_finite_and_bounded(G, space):
    big = torch.full((1, 16), 1e30)
    refuse(lambda: rg.generate(G, big, space=space), ValueError, "code has entries up to 1e+30; codes must lie within ±10000")
    refuse(lambda: rg.generate(G, big * math.nan, space=space), ValueError, "code contains NaN or inf values")
    if space == "z":  # the cutoff path maps z itself: the same check
        refuse(lambda: rg.generate(G, big, truncation_psi=0.5, truncation_cutoff=2), ValueError, "codes must lie within ±10000")


def test_generate_refuses_an_unknown_noise_mode_and_a_class_on_an_unconditional_model(G):
    refuse(lambda: rg.generate(G, [0], noise="loud"), ValueError, "noise must be one of ('const', 'random', 'none'), got 'loud'")
    refuse(lambda: rg.generate(G, [0], c=3), ValueError, "this model is unconditional (no classes): leave the class (c) out")


# --------------------------------------------------------------------------------------------------
# Counts under their caps, checked before any work


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda G, dirs: rg.resample(G, 0, BOX, variations=10**9), "variations is 1000000000, above the limit of 256"),
        (lambda G, dirs: rg.find_directions(G, BOX, samples=10**9), "samples is 1000000000, above the limit of 100000"),
        (lambda G, dirs: rg.build_catalog(G, samples=10**9, progress=False), "samples is 1000000000, above the limit of 100000"),
        (lambda G, dirs: rg.edit(G, [0], dirs, strengths=[0.0] * 65), "the number of strengths is 65, above the limit of 64"),
        (lambda G, dirs: rg.generate(G, list(range(10_001))), "the number of seeds is 10001, above the limit of 10000"),
    ],
    ids=["variations", "resefa-samples", "catalog-samples", "strengths", "seeds"],
)
def test_counts_above_their_cap_are_refused_before_any_work(G, dirs, call, message):
    text = refuse(lambda: call(G, dirs), LimitError, message)
    assert "--limit" in text


def test_edit_counts_images_as_codes_times_strengths(G, dirs, monkeypatch):
    monkeypatch.setenv("REGIONGAN_MAX_IMAGES", "10")
    refuse(lambda: rg.edit(G, [0, 1, 2, 3], dirs, strengths=[-1, 0, 1]), LimitError, "the number of images (4 codes x 3 strengths) is 12, above the limit of 10")


# --------------------------------------------------------------------------------------------------
# ReSeFa strengths and index; τ


@pytest.mark.parametrize(
    ("strengths", "message"),
    [
        ([1e308], "strengths must be finite numbers in [-1000, 1000] (distances along the unit direction), got 1e+308"),
        ([0.0, -1001], "got -1001"),
        ([math.nan], "got nan"),
        ([], "strengths must contain at least one number"),
        ("3", "strengths must be a number or a list of numbers"),
        ([1, "2"], "got '2'"),
    ],
)
def test_edit_refuses_bad_strengths(G, dirs, strengths, message):
    refuse(lambda: rg.edit(G, [0], dirs, strengths=strengths), ValueError, message)


def test_edit_refuses_an_index_outside_the_directions(G, dirs):
    refuse(lambda: rg.edit(G, [0], dirs, index=2), ValueError, "index (which direction) must be an int in 0..1, got 2")
    refuse(lambda: rg.edit(G, [0], dirs, index=-1), ValueError, "must be an int in 0..1, got -1")


@pytest.mark.parametrize("tau", [1e308, math.nan, -1.0])
def test_find_directions_refuses_a_bad_tau(G, tau):
    refuse(lambda: rg.find_directions(G, BOX, samples=2, tau=tau), ValueError, "tau must be a finite number >= 0 and <= 1e+06")


# --------------------------------------------------------------------------------------------------
# Regions: feather sigma, coordinates, label ids


@pytest.mark.parametrize(
    ("sigma", "error", "message"),
    [
        (1e308, RegionError, "feather sigma 1e+308 is wider than 4x the 32x32 image"),
        (129, RegionError, "use at most 128 pixels"),
        (math.nan, RegionError, "feather sigma (pixels) must be a finite number >= 0, got nan"),
        (-1, RegionError, "feather sigma (pixels) must be a finite number >= 0, got -1"),
    ],
)
def test_itan_refuses_a_bad_feather(G, sigma, error, message):
    refuse(lambda: rg.transfer(G, 0, 1, BOX, feather=sigma), error, message)


def test_regions_and_regionsets_feather_by_the_same_rule():
    region = Region.box(8, 8, 24, 24, size=(32, 32))
    refuse(lambda: region.feather(math.inf), RegionError, "must be a finite number >= 0, got inf")
    refuse(lambda: RegionSet.foreground_background(region).feather(1e6), RegionError, "use at most 128 pixels")
    assert region.feather(128).size == (32, 32)  # the bound itself is accepted


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("poly:0,0,1e308,0,0,1e308", "polygon coordinates must be a finite number in [-1e+06, 1e+06], got 1e+308"),
        ("box:0,0,1e300,16", "box coordinates must be a finite number in [-1e+06, 1e+06], got 1e+300"),
        ("box:0,0,1e999,16", "coordinates must be finite and non-negative"),
    ],
)
def test_region_coordinates_are_bounded(spec, message):
    refuse(lambda: parse_region(spec, (32, 32)), RegionError, message)


def test_label_ids_beyond_int64_are_refused(tmp_path):
    labels = torch.zeros(32, 32, dtype=torch.long)
    refuse(lambda: Region.from_labels(labels, [10**20]), RegionError, "label class id 100000000000000000000 does not fit in int64")
    refuse(lambda: Region.from_labels(labels, [-(2**63) - 1]), RegionError, "does not fit in int64")
    refuse(lambda: Region.polygon([(0, 0), (9, 0), (0, 9)], (32, 32), supersample=10**6), RegionError, "supersample (samples per pixel side) must be an int in 1..16")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda G: Region.full((10**6, 10**6)), LimitError, "the pixel count of size 1000000x1000000 is 1000000000000, above the limit of 64000000"),
        (lambda G: Region.box(0, 0, 8, 8, (32, 32), batch=10**9), LimitError, "batch (the number of masks N) is 1000000000, above the limit of 10000"),
        (lambda G: Region.polygon([(0, 0), (9, 0), (0, 9)] * 4000, (32, 32)), RegionError, "a polygon has at most 10000 points"),
        (lambda G: rg.blend(G, [0] * 70, [BOX] * 69), RegionError, "regions has 69 regions; at most 64 are blended at once"),
    ],
    ids=["size", "batch", "polygon-points", "regions"],
)
def test_region_sizes_and_counts_are_capped(G, call, error, message):
    refuse(lambda: call(G), error, message)


# --------------------------------------------------------------------------------------------------
# Worlds, previews and exports: sizes and counts


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: preview_grid("faces", size=100_000), LimitError, "size (pixels per image side) is 100000, above the limit of 4096"),
        (lambda: preview_grid("faces", count=10**9), LimitError, "count (samples shown) is 1000000000, above the limit of 10000"),
        (lambda: preview_grid("faces", count=1000), LimitError, "1000 samples of 64x64 in 4 columns make a 530x16502 preview"),
        (lambda: preview_grid("faces", scale=100), LimitError, "scale 100 makes a 53000-pixel side from 530 pixels"),
        (lambda: preview_grid("faces", scale=0), ValueError, "scale must be an int >= 1, got 0"),
        (lambda: get_world("faces").sample(0, 0, size=100_000), LimitError, "size (pixels per image side) is 100000"),
        (lambda: export_world("faces", "export", count=10**9, size=8), LimitError, "count (samples to export) is 1000000000"),
        (lambda: export_world("faces", "export", count=2, size=100_000), LimitError, "size (pixels per image side) is 100000"),
    ],
    ids=["preview-size", "preview-count", "preview-geometry", "preview-scale", "preview-scale-0", "world-size", "export-count", "export-size"],
)
def test_world_sizes_and_counts_are_capped_before_rendering(call, error, message):
    refuse(call, error, message)


# --------------------------------------------------------------------------------------------------
# The validators themselves


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: validate.scale(0), ValueError, "scale must be an int >= 1, got 0"),
        (lambda: validate.scale(-3), ValueError, "scale must be an int >= 1, got -3"),
        (lambda: validate.scale(100_000), LimitError, "scale is 100000, above the limit of 4096"),
        (lambda: validate.scale(200, 32), LimitError, "scale 200 makes a 6400-pixel side from 32 pixels"),
        (lambda: validate.finite("1", "x"), ValueError, "x must be a finite number, got '1'"),
        (lambda: validate.finite(10**400, "x"), ValueError, "x must be a finite number, got 1000000000"),
        (lambda: validate.finite(2.0, "x", 0, 1, hi_open=True), ValueError, "x must be a finite number in [0, 1), got 2.0"),
        (lambda: validate.integer(1.0, "n", 1), ValueError, "n must be an int >= 1, got 1.0"),
        (lambda: validate.seed(2**32), ValueError, "seed must be an int in 0..4294967295, got 4294967296"),
        (lambda: validate.finite_tensor(torch.tensor([1.0, math.nan]), "t", ("n",)), ValueError, "t holds 1 NaN or inf value out of 2"),
        (lambda: validate.json_field({"a": math.inf}, "a", float, "f.json"), ValueError, "f.json: 'a' must be a number, got inf"),
    ],
)
def test_validators(call, error, message):
    refuse(call, error, message)
    assert validate.scale(1, 10**9) == 1  # scale 1 draws nothing larger than the images themselves
