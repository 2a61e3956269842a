"""``regiongan parser train | eval`` (and ``python -m regiongan.parser``) end to end on a tiny configuration."""

from __future__ import annotations

import json

import pytest

from regiongan.parser import load_parser
from regiongan.parser.__main__ import main as parser_main

from .conftest import invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")

TRAIN = ["--world", "faces", "--size", "16", "--steps", "2", "--batch", "2", "--channels", "4,8", "--no-progress"]


def test_train_then_eval(tmp_path):
    out = tmp_path / "parser"
    r = ok("parser", "train", *TRAIN, "--out", out, "--eval-count", "4")
    assert "mIoU" in r.output
    assert load_parser(out).config["channels"] == [4, 8]
    meta = json.loads((out / "config.json").read_text())
    assert meta["extra"]["training"]["steps"] == 2 and meta["extra"]["training"]["train_stream"] == 1000

    report = tmp_path / "scores.json"
    r = ok("parser", "eval", "--parser", out, "--count", "4", "--size", "16", "--fd", "--json", report, "--threads", "1")
    assert "eye_left" in r.output and "FD-parser floor" in r.output
    assert set(json.loads(report.read_text())) >= {"miou", "per_part_iou", "pixel_acc", "fd_parser_floor"}


def test_train_replaces_only_the_parser_files(tmp_path):
    out = tmp_path / "parser"
    out.mkdir()
    (out / "README.md").write_text("card")
    ok("parser", "train", *TRAIN, "--out", out, "--eval-count", "0")
    r = invoke("parser", "train", *TRAIN, "--out", out, "--eval-count", "0")
    assert r.exit_code == 2 and "config.json" in r.output and "--overwrite" in r.output
    ok("parser", "train", *TRAIN, "--out", out, "--eval-count", "0", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_python_m_forward_reports_errors_in_one_line(tmp_path, capsys):
    assert parser_main(["eval", "--parser", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no parser at" in err and err.startswith("error: ") and err.count("\n") == 1
    assert parser_main(["train", "--channels", "4,x", "--out", str(tmp_path / "p")]) == 2
    assert "comma-separated ints" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_parser_classes_trains_a_scorer_and_refuses_to_overwrite(tmp_path):
    from click.testing import CliRunner

    from regiongan.cli import main
    from regiongan.parser.classes import load_class_scorer

    out = tmp_path / "scorer"
    args = ["parser", "classes", "--samples", "20", "--eval-count", "10", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "held-out accuracy (10 images" in r.output
    assert load_class_scorer(out).class_names[0] == "alpine"
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0 and "--overwrite" in r.output
