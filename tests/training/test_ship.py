"""The model card reads its facts from the run's records."""

from __future__ import annotations

import json

from regiongan.training.ship import _last_metrics


def test_card_timings_come_from_the_last_step_not_a_snapshot_event(tmp_path):
    lines = [
        {"step": 10, "kimg": 0.16, "wall_s": 30.0},
        {"step": 20, "kimg": 0.32, "wall_s": 61.5},
        {"step": 20, "kimg": 0.32, "event": "snapshot", "file": "snapshot-step00000020.pt"},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(d) + "\n" for d in lines))
    assert _last_metrics(tmp_path)["wall_s"] == 61.5
    assert _last_metrics(tmp_path / "missing") == {}


def test_a_reship_keeps_the_parser_companion_but_not_the_stale_catalog(tmp_path):
    import json

    from regiongan.training.ship import _carry_companions

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"companions": {"parser": "parser-faces-64", "catalog": "catalog-faces-64"}}))
    new.write_text(json.dumps({"format": "regiongan", "config": {}}))
    _carry_companions(new, old)
    assert json.loads(new.read_text())["companions"] == {"parser": "parser-faces-64"}
    _carry_companions(new, tmp_path / "absent.json")  # a first ship: nothing to carry
    assert json.loads(new.read_text())["companions"] == {"parser": "parser-faces-64"}
