"""``python -m regiongan.parser``: train and eval end to end on a tiny configuration."""

from __future__ import annotations

import json

import torch

from regiongan.parser import load_parser
from regiongan.parser.__main__ import main


def test_train_then_eval(tmp_path, capsys):
    threads = torch.get_num_threads()
    out = tmp_path / "parser"
    try:
        rc = main([
            "train", "--world", "faces", "--size", "16", "--steps", "2", "--batch", "2", "--channels", "4,8",
            "--out", str(out), "--eval-count", "4", "--no-progress",
        ])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    assert "mIoU" in capsys.readouterr().out
    assert load_parser(out).config["channels"] == [4, 8]
    meta = json.loads((out / "config.json").read_text())
    assert meta["extra"]["training"]["steps"] == 2 and meta["extra"]["training"]["train_stream"] == 1000

    report = tmp_path / "scores.json"
    assert main(["eval", "--parser", str(out), "--count", "4", "--size", "16", "--fd", "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "eye_left" in printed and "FD-parser floor" in printed
    scores = json.loads(report.read_text())
    assert set(scores) >= {"miou", "per_part_iou", "pixel_acc", "fd_parser_floor"}


def test_eval_unknown_parser_is_a_clean_error(tmp_path, capsys):
    assert main(["eval", "--parser", str(tmp_path / "missing")]) == 2
    assert "no parser at" in capsys.readouterr().err
