"""``regiongan info``, ``convert`` and ``regions``."""

from __future__ import annotations

import json

import pytest

from regiongan.checkpoints import load_model

from .conftest import invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


def test_info_lists_control_points(model_dir):
    data = json.loads(ok("info", model_dir, "--json").output)
    assert data["format"] == "regiongan" and data["control_points"][0]["name"] == "b4.conv1"
    assert "faces-64" in ok("info", "faces-64").output


def test_convert_round_trip_refuses_to_clobber_and_keeps_other_files(model_dir, tmp_path):
    dest = tmp_path / "half"
    ok("convert", model_dir, dest, "--dtype", "float16")
    assert load_model(dest).config == load_model(model_dir).config
    r = invoke("convert", model_dir, dest)
    assert r.exit_code == 2 and "config.json" in r.output and "--overwrite" in r.output
    (dest / "README.md").write_text("card")
    ok("convert", model_dir, dest, "--overwrite")
    assert (dest / "README.md").read_text() == "card"
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_regions_prints_the_syntax():
    assert "part:NAME" in ok("regions").output
