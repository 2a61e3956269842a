"""``regiongan demo``: a thin wrapper over ``regiongan.demo.run_demo``."""

from __future__ import annotations

import regiongan.cli.demo as demo_cli

from .conftest import invoke, ok


def test_demo_calls_run_demo_and_prints_the_page(tmp_path, monkeypatch):
    calls = []

    def fake_run_demo(out_dir, overwrite=False, progress=None):
        calls.append((out_dir, overwrite, progress))
        progress("[1/1] fake")
        return tmp_path / "d" / "index.html"

    monkeypatch.setattr(demo_cli, "run_demo", fake_run_demo)
    r = ok("demo", "--out", tmp_path / "d", "--overwrite")
    assert calls[0][:2] == (str(tmp_path / "d"), True)
    assert r.output.splitlines()[-1] == str(tmp_path / "d" / "index.html") and "[1/1] fake" in r.output


def test_demo_refuses_a_non_empty_directory_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = invoke("demo", "--out", tmp_path)
    assert r.exit_code == 2 and r.output.startswith("error: ") and "--overwrite" in r.output
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
