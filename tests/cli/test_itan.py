"""``regiongan resample | transfer | saliency``: the output layout, replay, part: regions, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from click.testing import CliRunner

from regiongan.cli import main
from regiongan.regions import Region

from .conftest import files, invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


def test_resample_writes_grid_images_region_and_a_replayable_recipe(model_dir, tmp_path):
    out = tmp_path / "o" / "resample.png"
    args = ["resample", "--model", model_dir, "--seed", "3", "--region", "box:8,8,24,20", "--variations", "3", "--layers", "8-32", "--out", out]
    ok(*args)
    assert Image.open(out).size == (2 + 2 * 34, 2 + 2 * 34)  # original + 3 variations
    assert files(tmp_path / "o") == {"resample.png", "resample_00.png", "resample_01.png", "resample_02.png", "resample_region.png", "resample.json"}
    region = Image.open(tmp_path / "o" / "resample_region.png")
    assert region.mode == "L" and region.getpixel((16, 12)) == 255 and region.getpixel((2, 2)) == 0
    recipe = json.loads((tmp_path / "o" / "resample.json").read_text())
    assert recipe["method"] == "itan.resample" and recipe["params"]["code"] == 3 and recipe["params"]["variations"] == 3
    assert recipe["outputs"] == ["resample_00.png", "resample_01.png", "resample_02.png"]
    ok("replay", tmp_path / "o" / "resample.json", "--out", tmp_path / "again.png")
    for i in range(3):
        assert (tmp_path / f"again_{i:02d}.png").read_bytes() == (tmp_path / "o" / f"resample_{i:02d}.png").read_bytes()
    before = out.read_bytes()
    r = invoke(*args[:-2], "--seed", "4", "--out", out)
    assert r.exit_code == 2 and "--overwrite" in r.output and out.read_bytes() == before
    ok(*args, "--overwrite")


def test_transfer_and_saliency(model_dir, tmp_path):
    ok("transfer", "-m", model_dir, "--target", "3", "--reference", "11", "-r", "rbox:0.25,0.25,0.75,0.75", "--layers", "fine", "-o", tmp_path / "t.png")
    assert Image.open(tmp_path / "t.png").size == (2 + 3 * 34, 2 + 34)  # target | reference | result
    assert (tmp_path / "t_00.png").is_file() and (tmp_path / "t.json").is_file() and (tmp_path / "t_region.png").is_file()
    ok("saliency", "-m", model_dir, "-s", "3", "-r", "box:8,8,24,24", "--psi", "1.5", "--background-psi", "0.7", "-o", tmp_path / "s.png")
    params = json.loads((tmp_path / "s.json").read_text())["params"]
    assert (params["psi"], params["background_psi"]) == (1.5, 0.7)
    # a brush mask is stored in the recipe's sidecar, so the replay does not depend on the PNG
    Region.box(4, 4, 20, 28, (32, 32)).save(tmp_path / "brush.png")
    ok("saliency", "-m", model_dir, "-r", f"mask:{tmp_path / 'brush.png'}", "--psi", "0.5", "-o", tmp_path / "b.png")
    assert (tmp_path / "b.safetensors").is_file()
    (tmp_path / "brush.png").unlink()
    ok("replay", tmp_path / "b.json", "-o", tmp_path / "again.png")
    assert (tmp_path / "again_00.png").read_bytes() == (tmp_path / "b_00.png").read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["resample", "-s", "3", "--variations", "2"],
        ["transfer", "--target", "3", "--reference", "11"],
        ["saliency", "-s", "3", "--psi", "1.5"],
    ],
    ids=["resample", "transfer", "saliency"],
)
def test_part_regions_on_faces_64(args, tmp_path):
    """part:mouth is found by faces-64's companion parser on the image; the recipe stores the mask."""
    ok(*args, "-m", "faces-64", "-r", "part:mouth", "-o", tmp_path / "p.png")
    inside = int((np.asarray(Image.open(tmp_path / "p_region.png")) > 127).sum())
    assert 8 <= inside <= 64 * 64 // 4, inside  # a mouth: some pixels, far from the whole face
    assert (tmp_path / "p.safetensors").is_file()  # the resolved mask travels with the recipe
    ok("replay", tmp_path / "p.json", "-o", tmp_path / "again.png")
    assert (tmp_path / "again_00.png").read_bytes() == (tmp_path / "p_00.png").read_bytes()


def test_errors_are_one_line_usage_errors_and_nothing_is_written(model_dir, tmp_path):
    out = tmp_path / "o" / "x.png"
    base = ["resample", "-m", model_dir, "-o", out]
    cases = [
        (base + ["-r", "box:8,8,4,4"], "box is empty"),
        (base + ["-r", "full"], "covers the whole image"),
        (base + ["-r", "box:0,0,8,8", "--layers", "8-128"], "resolutions [4, 8, 16, 32]"),
        (base + ["-r", "box:0,0,8,8", "--layers", "b99"], "cannot read layer selection"),
        (base + ["-r", "blob:1"], "region"),
        (["saliency", "-m", model_dir, "-r", "box:0,0,8,8", "--psi", "0", "-o", out], "must be a finite number > 0"),
        (["resample", "-m", model_dir, "-r", "box:0,0,8,8", "--variations", "0", "-o", out], "--variations"),
    ]
    for args, message in cases:
        r = invoke(*args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
        assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    assert not any(tmp_path.iterdir())


def test_hybridize_draws_a_region_of_another_class(tmp_path):
    from regiongan.checkpoints import save_pretrained

    from ..generators.test_biggan import tiny_biggan

    model = str(save_pretrained(tiny_biggan(), tmp_path / "bg"))
    out = tmp_path / "h.png"
    r = CliRunner().invoke(main, ["hybridize", "-m", model, "-s", "3", "--class", "0", "--region-class", "rbox:0,0,0.5,1=2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "h_00.png").is_file() and (tmp_path / "h_region.png").is_file()
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "h.json"), "-o", str(tmp_path / "again.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again_00.png").read_bytes() == (tmp_path / "h_00.png").read_bytes()
    r = CliRunner().invoke(main, ["hybridize", "-m", model, "--class", "0", "--region-class", "box:0,0,8,8", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "REGION=CLASS" in r.output
    r = CliRunner().invoke(main, ["hybridize", "-m", model, "--class", "9", "--region-class", "box:0,0,8,8=1", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "int in 0..2" in r.output and not (tmp_path / "x.png").exists()


def test_classes_can_be_named_when_the_model_was_trained_with_names(tmp_path):
    from regiongan.checkpoints import load_model, save_pretrained

    from ..generators.test_biggan import tiny_biggan

    names = {"data": {"class_names": ["alpine", "desert", "coast"]}}
    model = str(save_pretrained(tiny_biggan(), tmp_path / "bg", extra=names))
    assert load_model(model).class_names == ("alpine", "desert", "coast")
    by_name, by_index = tmp_path / "n.png", tmp_path / "i.png"
    for out, base, region in ((by_name, "alpine", "coast"), (by_index, "0", "2")):
        r = CliRunner().invoke(main, ["hybridize", "-m", model, "-s", "3", "--class", base, "--region-class", f"rbox:0,0,0.5,1={region}", "-o", str(out)])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "n_00.png").read_bytes() == (tmp_path / "i_00.png").read_bytes()
    r = CliRunner().invoke(main, ["hybridize", "-m", model, "--class", "tundra", "--region-class", "box:0,0,8,8=1", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "unknown class 'tundra'; this model's classes are alpine, desert, coast" in r.output
    r = CliRunner().invoke(main, ["generate", "-m", model, "-s", "1", "--class", "desert", "-o", str(tmp_path / "g.png")])
    assert r.exit_code == 0, r.output
