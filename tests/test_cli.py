"""The command line: generate / info / convert, determinism and clear errors."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file

from regiongan.checkpoints import save_pretrained
from regiongan.cli import main

from .conftest import tiny_stylegan2


def _model(tmp_path):
    return str(save_pretrained(tiny_stylegan2(), tmp_path / "tiny"))


def test_generate_writes_grid_per_seed_images_and_latents(tmp_path):
    m = _model(tmp_path)
    r = CliRunner().invoke(main, ["generate", "--model", m, "--seeds", "0-2,7", "--truncation", "0.7", "--out", str(tmp_path / "o/g.png")])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "o/g.png").size == (2 + 2 * 34, 2 + 2 * 34)
    assert (tmp_path / "o/g_seed0007.png").is_file()
    lat = load_file(str(tmp_path / "o/g_latents.safetensors"))
    assert lat["seeds"].tolist() == [0, 1, 2, 7] and lat["ws"].shape == (4, tiny_stylegan2().num_ws, 16)


def test_generate_is_bit_for_bit_deterministic(tmp_path):
    m = _model(tmp_path)
    for name in ("a", "b"):
        r = CliRunner().invoke(main, ["generate", "-m", m, "-s", "3-5", "--noise", "random", "-o", str(tmp_path / f"{name}.png")])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_info_lists_control_points(tmp_path):
    r = CliRunner().invoke(main, ["info", _model(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["format"] == "regiongan" and data["control_points"][0]["name"] == "b4.conv1"


def test_convert_round_trip_and_refuses_to_clobber(tmp_path):
    src = _model(tmp_path)
    r = CliRunner().invoke(main, ["convert", src, str(tmp_path / "half"), "--dtype", "float16"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["convert", src, str(tmp_path / "half")])
    assert r.exit_code == 2 and "not empty" in r.output


def test_errors_are_clear(tmp_path):
    r = CliRunner().invoke(main, ["generate", "--model", "no-such-model"])
    assert r.exit_code == 2 and "unknown model 'no-such-model'" in r.output
    r = CliRunner().invoke(main, ["generate", "--model", _model(tmp_path), "--seeds", "5-1"])
    assert r.exit_code == 2 and "bad seed list" in r.output
