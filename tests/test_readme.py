"""The README is the project's contract: its two set-up commands (CI runs the test one verbatim), its Python
example (run here as written) and the commands it lists (each is a real command of the CLI)."""

from __future__ import annotations

import re
import shlex

import pytest
import torch

from regiongan.cli import main

from .conftest import REPO

README = (REPO / "README.md").read_text()


def _commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block, "README.md must start with a ```bash block holding the two set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    cmds = _commands()
    assert len(cmds) == 2, cmds
    assert "regiongan demo" in cmds[0]
    assert "pytest" in cmds[1]
    assert cmds[1] in (REPO / ".ci" / "run").read_text()


def test_the_python_example_runs_as_written(tmp_path, monkeypatch):
    block = re.search(r"## Python\n\n```python\n(.*?)```", README, re.S)
    assert block, "README.md must have a ## Python section with one python block"
    monkeypatch.chdir(tmp_path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        namespace: dict = {}
        exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    finally:
        torch.set_num_threads(before)
    assert namespace["strip"].images.shape == (3, 3, 64, 64)
    assert (tmp_path / "out" / "readme" / "mouth.json").is_file()


@pytest.mark.parametrize("line", [ln for ln in re.search(r"## Command line\n\n```bash\n(.*?)```", README, re.S).group(1).splitlines() if ln.strip()])
def test_listed_commands_exist_with_these_options(line):
    """Each line of the command list parses (``--help`` appended: nothing runs) with the options shown."""
    args = shlex.split(line.split("#")[0])
    assert args[0] == "regiongan"
    ctx = main.make_context("regiongan", args[1:] + ["--help"], resilient_parsing=True)
    command = main.get_command(ctx, args[1])
    assert command is not None, f"unknown command in README: {args[1]}"
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    used = {a.split("=")[0] for a in args[2:] if a.startswith("-")}
    assert used <= known, f"{args[1]}: README uses options {sorted(used - known)} that the command does not have"
