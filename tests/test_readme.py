"""The two README commands are the project's contract; CI must run the README's test command verbatim."""

from __future__ import annotations

import re

from .conftest import REPO


def _commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must start with a ```bash block holding the two set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    cmds = _commands()
    assert len(cmds) == 2, cmds
    assert "regiongan generate" in cmds[0] and "faces-64" in cmds[0]
    assert "pytest" in cmds[1]
    assert cmds[1] in (REPO / ".ci" / "run").read_text()
