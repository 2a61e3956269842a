"""``regiongan train | ship`` and the ``python -m`` forwards torchrun and the docs use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from regiongan.training.__main__ import main as training_main

from .conftest import invoke


@pytest.mark.parametrize(("module", "option"), [("regiongan.training", "--run-dir"), ("regiongan.training.ship", "--launcher")])
def test_python_m_forwards_have_help(module, option):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert option in done.stdout and "Usage: regiongan" in done.stdout
    assert "RuntimeWarning" not in done.stderr


def test_train_errors_are_one_line(tmp_path, capsys):
    assert training_main(["--data", "nowhere", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "available worlds" in err and err.startswith("error: ") and err.count("\n") == 1
    r = invoke("train", "--batch", "0", "--run-dir", tmp_path / "run")
    assert r.exit_code == 2 and "batch must be a positive integer" in r.output and r.output.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_ship_needs_an_exported_model(tmp_path):
    r = invoke("ship", "--run-dir", tmp_path / "run", "--name", "x")
    assert r.exit_code == 2 and "no exported model" in r.output
    r = invoke("ship", "--name", "x")
    assert r.exit_code == 2 and "--run-dir" in r.output
