"""One line ``error: …`` for every failure, exit 2 for usage errors and 1 for run-time errors, and a
traceback only with ``regiongan --debug``."""

from __future__ import annotations

import shutil
import warnings

import pytest

import regiongan

from .conftest import invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


def _one_error_line(output: str) -> str:
    lines = output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--model", "no-such-model"], "unknown model 'no-such-model'"),  # unknown model name
        (["generate", "--seeds", "5-1"], "bad seed list"),  # bad option value (click)
        (["generate", "--truncation", "0", "-m", "{model}"], "truncation_psi must be a finite number > 0"),  # (library)
        (["resample", "-m", "{model}", "-r", "box:1,2", "-o", "{tmp}/r.png"], "box"),  # malformed region
        (["resample", "--variatons", "2"], "No such option '--variatons'"),  # typo: click suggests the fix
        (["resample", "-r", "box:0,0,8,8"], "Missing option '--out'"),
        (["no-such-command"], "No such command"),
        (["data", "preview", "--count", "x"], "'--count'"),  # a nested group
        (["generate", "-o", "{tmp}/grid"], "an image file name is needed"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message, model_dir, tmp_path):
    args = [a.format(model=model_dir, tmp=tmp_path) for a in args]
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert message in _one_error_line(r.output)
    assert "Traceback" not in r.output and not any(tmp_path.iterdir())


def test_multi_line_library_messages_become_one_line(tmp_path):
    r = invoke("train", "--batch", "0", "--kimg", "-1", "--run-dir", tmp_path / "run")
    line = _one_error_line(r.output)
    assert r.exit_code == 2 and "invalid training config: " in line and "batch" in line and "kimg" in line


def test_run_time_errors_exit_1(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\0" * 64)  # a damaged file: no option fixes it
    r = invoke("generate", "-m", broken, "-s", "0", "-o", tmp_path / "o" / "g.png")
    assert r.exit_code == 1 and "corrupt" in _one_error_line(r.output)
    assert not (tmp_path / "o").exists()


def test_unexpected_errors_are_internal_errors_exit_1(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(regiongan, "load_model", boom)
    r = invoke("generate", "-s", "0", "-o", tmp_path / "g.png")
    line = _one_error_line(r.output)
    assert r.exit_code == 1 and "internal error KeyError" in line and "--debug" in line


def test_debug_shows_the_traceback(tmp_path):
    args = ["generate", "--model", "no-such-model", "-o", tmp_path / "g.png"]
    r = invoke(*args)
    assert "Traceback" not in r.output
    r = invoke("--debug", *args)
    assert r.exit_code == 2
    assert "Traceback (most recent call last)" in r.output and "CheckpointError" in r.output
    assert r.output.splitlines()[-1].startswith("error: unknown model 'no-such-model'")


def test_warnings_are_one_line_each(monkeypatch, model_dir, tmp_path):
    real = regiongan.load_model

    def noisy(*args, **kwargs):
        warnings.warn("first line\n  second line", UserWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(regiongan, "load_model", noisy)
    r = ok("generate", "-m", model_dir, "-s", "0", "-o", tmp_path / "g.png")
    assert "warning: first line; second line\n" in r.output
