"""``regiongan synthesize | repaint``: the output layout, bit-for-bit replay, label files and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from regiongan.checkpoints import save_pretrained
from regiongan.data import LABEL_PALETTE
from regiongan.data.worlds import get_world

from ..methods.test_spade_methods import tiny_spade
from .conftest import files, invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def spade_dir(tmp_path_factory) -> str:
    return str(save_pretrained(tiny_spade(), tmp_path_factory.mktemp("m") / "spade"))


def test_synthesize_n_3_writes_three_images_and_a_recipe_that_replays(spade_dir, tmp_path):
    out = tmp_path / "synth"
    result = ok("synthesize", "--model", spade_dir, "--world-sample", "3", "--n", "3", "--seed", "5", "--out", out)
    assert "3 images" in result.output
    assert files(out) == {"synthesize.png", "synthesize_00.png", "synthesize_01.png", "synthesize_02.png", "synthesize.json"}
    assert Image.open(out / "synthesize.png").size == (2 + 4 * 34, 2 + 34)  # the label map, then 3 styles
    recipe = json.loads((out / "synthesize.json").read_text())
    assert recipe["method"] == "spade.synthesize" and recipe["params"]["labels"] == "world:scenes:3"
    assert recipe["outputs"] == ["synthesize_00.png", "synthesize_01.png", "synthesize_02.png"]
    ok("replay", out / "synthesize.json", "--out", tmp_path / "again.png")
    for i in range(3):
        assert (tmp_path / f"again_{i:02d}.png").read_bytes() == (out / f"synthesize_{i:02d}.png").read_bytes()
    assert (out / "synthesize_00.png").read_bytes() != (out / "synthesize_01.png").read_bytes()
    r = invoke("synthesize", "--model", spade_dir, "--world-sample", "4", "--out", out)
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_synthesize_with_a_colour_map_and_a_style_reference(spade_dir, tmp_path):
    labels = get_world("scenes").sample_batch(0, 3, 1, 32)[1][0]
    Image.fromarray(LABEL_PALETTE[labels]).save(tmp_path / "colours.png")
    Image.fromarray(get_world("scenes").sample_batch(0, 8, 1, 32)[0][0]).save(tmp_path / "ref.png")
    ok("synthesize", "-m", spade_dir, "--labels", tmp_path / "colours.png", "--palette", "scenes", "--style", tmp_path / "ref.png", "-o", tmp_path / "s.png")
    assert (tmp_path / "s_00.png").is_file() and (tmp_path / "s.safetensors").is_file()  # map and reference travel with it
    (tmp_path / "colours.png").unlink()
    (tmp_path / "ref.png").unlink()
    ok("replay", tmp_path / "s.json", "-o", tmp_path / "again.png")
    assert (tmp_path / "again_00.png").read_bytes() == (tmp_path / "s_00.png").read_bytes()


def test_repaint_writes_region_labels_and_replays(spade_dir, tmp_path):
    out = tmp_path / "rp"
    result = ok("repaint", "-m", spade_dir, "--world-sample", "3", "--region", "box:4,4,12,12", "--to", "water", "--seed", "2", "--out", out)
    assert "In-MSE" in result.output and "Out-MSE" in result.output
    assert files(out) == {"repaint.png", "repaint_00.png", "repaint_region.png", "repaint_labels.png", "repaint.json"}
    labels = np.asarray(Image.open(out / "repaint_labels.png"))
    assert (labels[4:12, 4:12] == get_world("scenes").part_names.index("water")).all()
    assert Image.open(out / "repaint.png").size == (2 + 4 * 34, 2 + 34)
    ok("replay", out / "repaint.json", "--out", tmp_path / "again.png")
    assert (tmp_path / "again_00.png").read_bytes() == (out / "repaint_00.png").read_bytes()
    # the written label map is a valid --labels input
    ok("repaint", "-m", spade_dir, "--labels", out / "repaint_labels.png", "-r", "part:water", "--to", "7", "-o", tmp_path / "rp2")


@pytest.mark.parametrize(
    "args, message",
    [
        (["synthesize", "--labels", "{rgb}"], "is an RGB colour map; pass palette="),
        (["synthesize", "--world-sample", "3", "--style", "{big}"], "the encoder image is 64×64"),
        (["synthesize", "--labels", "{ids}", "--world-sample", "3"], "exactly one of --labels FILE and --world-sample"),
        (["synthesize", "--labels", "{wide}"], "the label map is 32×64"),
        (["repaint", "--world-sample", "3", "-r", "box:0,0,8,8", "--to", "lava"], "unknown class 'lava'"),
    ],
    ids=["rgb-without-palette", "encoder-size", "two-label-sources", "wrong-aspect", "unknown-class"],
)
def test_errors_are_one_line_usage_errors_and_nothing_is_written(spade_dir, tmp_path, args, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(inputs / "rgb.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(inputs / "big.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(inputs / "ids.png")
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(inputs / "wide.png")
    args = [a.format(**{k: inputs / f"{k}.png" for k in ("rgb", "big", "ids", "wide")}) for a in args]
    r = invoke(*args, "-m", spade_dir, "-o", tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert message in r.output and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "o").exists()
