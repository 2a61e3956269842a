"""save_parser / load_parser: round trip, format, errors."""

from __future__ import annotations

import json

import pytest
import torch

from regiongan.data.worlds import get_world
from regiongan.parser import load_parser, save_parser
from regiongan.parser.training import images_to_tensor


def test_round_trip_exact_outputs(parser, tmp_path):
    x = images_to_tensor(get_world("faces").sample_batch(0, 0, 2, 32)[0])
    save_parser(parser, tmp_path / "p32", dtype=torch.float32)
    loaded = load_parser(tmp_path / "p32")
    assert not loaded.training and loaded.config == parser.config
    a, b = parser(x), loaded(x)
    for field in ("logits", "features", "attributes"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def test_fp16_default_is_stable_after_one_round(parser, tmp_path):
    x = images_to_tensor(get_world("faces").sample_batch(0, 0, 2, 32)[0])
    first = load_parser(save_parser(parser, tmp_path / "a"))
    second = load_parser(save_parser(first, tmp_path / "b"))
    assert torch.equal(first(x).logits, second(x).logits)
    torch.testing.assert_close(first(x).logits, parser(x).logits, atol=0.05, rtol=0.05)
    assert (tmp_path / "a" / "model.safetensors").stat().st_size < 200_000


def test_config_json_format(parser, tmp_path):
    save_parser(parser, tmp_path / "p", extra={"training": {"steps": 1}})
    meta = json.loads((tmp_path / "p" / "config.json").read_text())
    assert meta["format"] == "regiongan" and meta["format_version"] == 1
    assert meta["model_type"] == "part-parser" and meta["config"] == parser.config
    assert meta["weights_dtype"] == "float16" and meta["extra"] == {"training": {"steps": 1}}


def test_refuses_to_overwrite_and_keeps_model_card(parser, tmp_path):
    d = save_parser(parser, tmp_path / "p")
    (d / "README.md").write_text("card")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_parser(parser, d)
    save_parser(parser, d, overwrite=True)
    assert (d / "README.md").read_text() == "card"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no temporary directories left behind


def test_load_errors_teach(parser, tmp_path):
    with pytest.raises(FileNotFoundError, match="shipped parser name"):
        load_parser(tmp_path / "nothing-here")
    d = save_parser(parser, tmp_path / "p")
    meta = json.loads((d / "config.json").read_text())
    meta["model_type"] = "stylegan2"
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="load_parser"):
        load_parser(d)
    meta["model_type"] = "part-parser"
    meta["config"]["channels"] = [8, 16, 64]
    (d / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="shape mismatch"):
        load_parser(d)
