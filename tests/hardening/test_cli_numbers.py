"""Numbers on the command line: a bad flag is a usage error (exit 2) with one line carrying the API's own
message, found before any work (the option types call the API's validators), and nothing is written.

Flags whose range depends on the model (a feather wider than the image, a cutoff above num_ws, a class on an
unconditional model) are refused by the API after the model is loaded: still exit 2, still nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from regiongan.cli import main
from regiongan.identity import model_record
from regiongan.methods.resefa import Directions

from .helpers import one_line_error, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")

BOX = "box:8,8,24,24"
PSI = "must be a finite number > 0 and <= 100"


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def no_work(monkeypatch):
    """Loading a model, planning image outputs or drawing a preview fails the test: a bad flag must be refused
    before any of them (``resample --variations 1000000000`` used to build 10^9 output names first)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command started its work before checking its flags")

    monkeypatch.setenv("REGIONGAN_MAX_VARIATIONS", "256")  # restored after `regiongan --limit variations=4 …`

    for module in ("generate", "itan", "resefa", "editing_in_style"):
        monkeypatch.setattr(f"regiongan.cli.{module}.load_generator", refuse)
        monkeypatch.setattr(f"regiongan.cli.{module}.ImageOutputs", refuse)
    monkeypatch.setattr("regiongan.cli.resefa.rg.load_directions", refuse)
    monkeypatch.setattr("regiongan.cli.data.preview_grid", refuse)
    monkeypatch.setattr("regiongan.cli.data.export_world", refuse)
    monkeypatch.setattr("regiongan.cli.parser.train_parser", refuse)
    monkeypatch.setattr("regiongan.cli.parser.load_parser", refuse)


# --------------------------------------------------------------------------------------------------
# Refused while parsing the command line: exit 2 before any work


PARSE_ERRORS = [
    (["generate", "-t", "nan"], f"truncation_psi {PSI}, got nan"),
    (["generate", "-t", "inf"], f"truncation_psi {PSI}, got inf"),
    (["generate", "-t", "1e30"], f"truncation_psi {PSI}, got 1e+30"),
    (["generate", "-t", "-1"], f"truncation_psi {PSI}, got -1.0"),
    (["generate", "-t", "x"], "'x' is not a number"),
    (["generate", "--truncation-cutoff", "-1"], "truncation_cutoff (the number of ws truncated) must be an int >= 0, got -1"),
    (["generate", "--seeds", "4294967296"], "use seeds in 0..4294967295"),
    (["generate", "--seeds", "0-20000000"], "the number of seeds in '0-20000000' is 20000001, above the limit of 10000"),
    (["generate", "--noise-seed", "18446744073709551616"], "seed must be an int in 0..4294967295, got 18446744073709551616"),
    (["generate", "--scale", "0"], "scale must be an int >= 1, got 0"),
    (["generate", "--scale", "-3"], "scale must be an int >= 1, got -3"),
    (["generate", "--scale", "100000"], "scale is 100000, above the limit of 4096"),
    (["transfer", "--target", "4294967296", "--reference", "1", "-r", BOX, "-t", "1"], "seed must be an int in 0..4294967295"),
    (["transfer", "--target", "0", "--reference", "1", "-r", BOX, "--feather", "nan"], "feather sigma (pixels) must be a finite number >= 0, got nan"),
    (["transfer", "--target", "0", "--reference", "1", "-r", BOX, "--feather", "1e999"], "must be a finite number >= 0, got inf"),
    (["saliency", "-r", BOX, "--psi", "nan"], f"psi {PSI}, got nan"),
    (["saliency", "-r", BOX, "--psi", "2", "--background-psi", "inf"], f"background_psi {PSI}, got inf"),
    (["resample", "-r", BOX, "--variations", "1000000000"], "variations is 1000000000, above the limit of 256"),
    (["resample", "-r", BOX, "--variation-seed", "99999999999999999999999"], "seed must be an int in 0..4294967295"),
    (["part-transfer", "--target", "0", "--reference", "1", "--part", "3", "-t", "inf"], f"truncation_psi {PSI}, got inf"),
    (["directions", "-r", BOX, "--samples", "1000000000"], "samples is 1000000000, above the limit of 100000"),
    (["directions", "-r", BOX, "--tau", "1e308"], "tau must be a finite number >= 0 and <= 1e+06"),
    (["directions", "-r", BOX, "--seed", "4294967296"], "seed must be an int in 0..4294967295"),
    (["catalog", "--samples", "1000000000"], "samples is 1000000000, above the limit of 100000"),
    (["catalog", "--min-part-iou", "nan"], "min_part_iou must be a finite number in [0, 1], got nan"),
    (["edit", "-d", "{dirs}", "--strengths=1e308"], "strengths must be finite numbers in [-1000, 1000] (distances along the unit direction), got 1e+308"),
    (["edit", "-d", "{dirs}", "--strengths=nan,1"], "got nan"),
    (["edit", "-d", "{dirs}", "--strengths=" + ",".join(["1"] * 65)], "the number of strengths is 65, above the limit of 64"),
    (["edit", "-d", "{dirs}", "--seeds", "0-20000000"], "the number of seeds in '0-20000000' is 20000001"),
    (["data", "preview", "--size", "100000"], "size (pixels per image side) is 100000, above the limit of 4096"),
    (["data", "preview", "--count", "100000000"], "--count is 100000000, above the limit of 10000"),
    (["data", "preview", "--scale", "100000"], "scale is 100000, above the limit of 4096"),
    (["data", "export", "--count", "100000000", "{tmp}/export"], "--count is 100000000, above the limit of 10000"),
    (["data", "export", "--size", "100000", "{tmp}/export"], "size (pixels per image side) is 100000"),
    (["parser", "train", "--lr", "nan"], "--lr (learning rate) must be a finite number > 0, got nan"),
    (["parser", "eval", "--count", "1000000000"], "--count is 1000000000, above the limit of 100000"),
    (["--limit", "variations=4", "resample", "-r", BOX, "--variations", "5"], "variations is 5, above the limit of 4"),
]


@pytest.mark.parametrize(("args", "message"), PARSE_ERRORS, ids=[" ".join(a[:3]) for a, _ in PARSE_ERRORS])
def test_bad_flags_are_usage_errors_before_any_work(args, message, tmp_path, no_work):
    dirs = tmp_path / "dirs.safetensors"
    args = [a.format(dirs=dirs, tmp=tmp_path) for a in args]
    if "export" not in args and "eval" not in args:
        args += ["-o", tmp_path / "out" / "x.png"]  # every other command here has -o
    line = one_line_error(invoke(*args))
    assert message in line and "Invalid value for" in line, line
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------
# Refused by the API once the model is known: still exit 2, still nothing written


@pytest.fixture
def label_map(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "seg.png"
    Image.fromarray((torch.arange(32 * 32).reshape(32, 32) % 4).to(torch.uint8).numpy()).save(path)
    return path


MODEL_ERRORS = [
    (["generate", "-s", "0", "-t", "0.5", "--truncation-cutoff", "1000"], "truncation_cutoff (the number of ws truncated) must be an int in 0..8, got 1000"),
    (["generate", "-s", "0", "--class", "3"], "this model is unconditional (no classes): leave the class (c) out"),
    (["generate", "-s", "0", "--scale", "200"], "--scale 200 makes a 6400-pixel side from 32 pixels, above the limit of 4096 (preview_size)"),
    (["transfer", "--target", "0", "--reference", "1", "-r", BOX, "--feather", "1e308"], "feather sigma 1e+308 is wider than 4x the 32x32 image"),
    (["resample", "-s", "0", "-r", "label:{labels}:99999999999999999999", "--variations", "2"], "label class id 99999999999999999999 does not fit in int64"),
    (["resample", "-s", "0", "-r", "poly:0,0,1e308,0,0,1e308", "--variations", "2"], "polygon coordinates must be a finite number in [-1e+06, 1e+06], got 1e+308"),
    (["directions", "-r", BOX, "--samples", "2", "--seed", "4294967295", "-k", "2"], "the samples' seeds 4294967295..4294967296 pass 4294967295"),
]


@pytest.mark.parametrize(("args", "message"), MODEL_ERRORS, ids=[" ".join(a[:3]) for a, _ in MODEL_ERRORS])
def test_model_dependent_ranges_are_usage_errors(args, message, model_dir, label_map, tmp_path):
    out = tmp_path / ("d.safetensors" if args[0] == "directions" else "x.png")
    line = one_line_error(invoke(*[a.format(labels=label_map) for a in args], "-m", model_dir, "-o", out))
    assert message in line, line
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------
# edit: images = seeds x strengths, and the index, checked before the outputs are planned


@pytest.fixture
def dirs_file(saved_tiny, tmp_path) -> Path:
    G, model = saved_tiny
    path = tmp_path / "dirs.safetensors"
    Directions(
        vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,), model={**model_record(G), "name": model}
    ).save(path)
    return path


def test_edit_counts_seeds_times_strengths_before_planning(dirs_file, tmp_path, monkeypatch):
    before = snapshot(tmp_path)
    monkeypatch.setattr("regiongan.cli.resefa.ImageOutputs", lambda *a, **k: pytest.fail("planned 50000 outputs"))
    line = one_line_error(invoke("edit", "-d", dirs_file, "--seeds", "0-9999", "--strengths=-2,-1,0,1,2", "-o", tmp_path / "e.png"))
    assert "the number of images (10000 seeds x 5 strengths) is 50000, above the limit of 10000" in line
    assert snapshot(tmp_path) == before


def test_edit_refuses_an_index_outside_the_file(dirs_file, tmp_path):
    before = snapshot(tmp_path)
    line = one_line_error(invoke("edit", "-d", dirs_file, "--index", "2", "-o", tmp_path / "e.png"))
    assert "index (which direction) must be an int in 0..1, got 2: the file holds 2 directions" in line
    assert snapshot(tmp_path) == before


def test_data_preview_geometry_and_scale_are_checked_before_drawing(tmp_path, monkeypatch):
    monkeypatch.setattr("regiongan.data.worlds.base.World.sample_indices", lambda *a, **k: pytest.fail("drew samples"))
    line = one_line_error(invoke("data", "preview", "--count", "1000", "-o", tmp_path / "p.png"))
    assert "1000 samples of 64x64 in 4 columns make a 530x16502 preview, above the limit of 4096" in line
    line = one_line_error(invoke("data", "preview", "--scale", "10", "-o", tmp_path / "p.png"))
    assert "scale 10 makes a 5300-pixel side from 530 pixels, above the limit of 4096 (preview_size); use scale 7 or less" in line
    assert not any(tmp_path.iterdir())


def test_replay_refuses_a_bad_scale(tmp_path):
    line = one_line_error(invoke("replay", tmp_path / "r.json", "--scale", "0", "-o", tmp_path / "again.png"))
    assert "scale must be an int >= 1, got 0" in line
    assert not any(tmp_path.iterdir())


def test_an_output_name_without_an_image_extension_is_refused(model_dir, tmp_path, no_work):
    line = one_line_error(invoke("generate", "-m", model_dir, "-s", "0", "-o", tmp_path / "grid"))
    assert "an image file name is needed, ending in .png, .jpg, .jpeg, .webp" in line
    assert not any(tmp_path.iterdir())
