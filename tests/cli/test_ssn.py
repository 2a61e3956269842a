"""``regiongan blocks``: the output layout (a folder or a grid path), replay, --show-grid, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from regiongan.checkpoints import save_pretrained
from regiongan.cli.ssn import draw_block_grid, parse_blocks

from ..conftest import save_tiny, tiny_stylegan2
from ..generators.test_ssn import tiny_ssn
from .conftest import files, invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ssn_dir(tmp_path_factory) -> str:
    """A tiny SSN (16², 4×4 latent blocks) saved as a model directory."""
    return str(save_pretrained(tiny_ssn(), tmp_path_factory.mktemp("m") / "ssn"))


def test_blocks_writes_n_images_and_a_recipe_that_replay_reproduces(ssn_dir, tmp_path):
    out = tmp_path / "o"
    r = ok("blocks", "--model", ssn_dir, "--seed", "3", "--blocks", "1,2;3,0", "--variations", "3", "--out", out)
    assert "blocks 1,2;3,0 of the 4x4 grid" in r.output
    assert files(out) == {"blocks.png", "blocks_00.png", "blocks_01.png", "blocks_02.png", "blocks_region.png", "blocks.json"}
    assert Image.open(out / "blocks.png").size == (2 + 2 * 18, 2 + 2 * 18)  # original + 3 variations, 2×2
    region = Image.open(out / "blocks_region.png")  # the resampled image blocks: rows 4..7 × cols 8..11, …
    assert region.mode == "L" and region.getpixel((9, 5)) == 255 and region.getpixel((1, 13)) == 255
    assert region.getpixel((5, 5)) == 0
    recipe = json.loads((out / "blocks.json").read_text())
    assert recipe["method"] == "ssn.resample_blocks" and recipe["params"]["blocks"] == [[1, 2], [3, 0]]
    assert recipe["params"]["code"] == 3 and recipe["params"]["variations"] == 3
    assert recipe["outputs"] == ["blocks_00.png", "blocks_01.png", "blocks_02.png"]
    ok("replay", out / "blocks.json", "--out", tmp_path / "again.png")
    for i in range(3):
        assert (tmp_path / f"again_{i:02d}.png").read_bytes() == (out / f"blocks_{i:02d}.png").read_bytes()
    # the variations differ from each other (new blocks from seeds 0, 1, 2)
    assert (out / "blocks_00.png").read_bytes() != (out / "blocks_01.png").read_bytes()


def test_a_region_and_a_grid_image_path(ssn_dir, tmp_path):
    args = ["blocks", "-m", ssn_dir, "-s", "3", "-r", "box:0,0,6,6", "--min-coverage", "0.5", "--variations", "2"]
    r = ok(*args, "--variation-seed", "9", "-o", tmp_path / "b.png")
    assert "blocks 0,0 of the 4x4 grid" in r.output
    assert files(tmp_path) == {"b.png", "b_00.png", "b_01.png", "b_region.png", "b.json"}
    params = json.loads((tmp_path / "b.json").read_text())["params"]
    assert params["region"] == "box:0,0,6,6" and params["min_coverage"] == 0.5 and params["variation_seed"] == 9
    ok("replay", tmp_path / "b.json", "-o", tmp_path / "again.png")
    assert (tmp_path / "again_01.png").read_bytes() == (tmp_path / "b_01.png").read_bytes()
    # an existing output needs --overwrite; then only the grid differs with --show-grid
    before = (tmp_path / "b.png").read_bytes()
    r = invoke(*args, "--variation-seed", "9", "-o", tmp_path / "b.png")
    assert r.exit_code == 2 and "--overwrite" in r.output and (tmp_path / "b.png").read_bytes() == before
    images = [(tmp_path / f"b_0{i}.png").read_bytes() for i in range(2)]
    ok(*args, "--variation-seed", "9", "--show-grid", "--overwrite", "-o", tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes() != before
    assert [(tmp_path / f"b_0{i}.png").read_bytes() for i in range(2)] == images  # the images stay unmarked


def test_draw_block_grid_marks_block_edges_and_the_resampled_blocks():
    images = -torch.ones(1, 3, 8, 8)  # black
    out = draw_block_grid(images, 2, [(1, 1)])
    lines = (out[0] != -1).any(dim=0)  # [8, 8] marked pixels
    assert lines[4].all() and lines[:, 4].all() and not lines[:4, :4].any()  # the grid lines between the 2×2 blocks
    yellow = (out[0, 2] == -1) & (out[0, 0] == 1)  # the outline of block (1, 1): rows/cols 4..7, its border only
    assert yellow[4, 4:].all() and yellow[7, 4:].all() and yellow[4:, 7].all() and not yellow[5:7, 5:7].any()
    assert not yellow[:4].any() and torch.equal(images, -torch.ones(1, 3, 8, 8))  # the input is not modified


def test_parse_blocks():
    assert parse_blocks("2,1;2,2") == [(2, 1), (2, 2)]
    assert parse_blocks(" 0, 3 ;") == [(0, 3)]
    for bad in ("", "1", "1,2,3", "a,b", "1;2"):
        with pytest.raises(ValueError, match="ROW,COLUMN pairs"):
            parse_blocks(bad)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--blocks", "1,4"], "block (1, 4) is outside the 4x4 latent grid (rows and columns 0..3)"),
        (["--blocks", "1"], "Invalid value for '--blocks': bad block '1'"),
        ([], "give exactly one of --region"),
        (["-r", "box:0,0,4,4", "--blocks", "0,0"], "give exactly one of --region"),
        (["--blocks", "0,0", "--min-coverage", "0.5"], "--min-coverage applies to --region only"),
        (["-r", "box:0,0,4,4", "--min-coverage", "1"], "--min-coverage must be a finite number in [0, 1)"),
        (["-r", "box:0,0,2,2", "--min-coverage", "0.5"], "covers no block"),
        (["--blocks", "0,0", "--variations", "0"], "Invalid value for '--variations'"),
    ],
)
def test_errors_are_one_line_usage_errors_and_nothing_is_written(ssn_dir, tmp_path, args, message):
    r = invoke("blocks", "-m", ssn_dir, *args, "-o", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.count("\n") == 1
    assert files(tmp_path) == set()


def test_a_model_without_a_latent_grid_is_refused(tmp_path):
    model = save_tiny(tmp_path, tiny_stylegan2())
    r = invoke("blocks", "-m", model, "--blocks", "0,0", "-o", tmp_path / "o")
    assert r.exit_code == 2 and "needs a model with a spatial latent grid" in r.output and "regiongan.resample" in r.output
    assert not (tmp_path / "o").exists()
