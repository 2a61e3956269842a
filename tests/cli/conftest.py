"""Helpers for the command-line tests: run ``regiongan ARGS…`` in-process with click's CliRunner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from regiongan.cli import main


def invoke(*args: object) -> Result:
    """``regiongan ARGS…`` (str() of each argument); ``result.output`` holds stdout and stderr."""
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args: object) -> Result:
    """:func:`invoke` that must succeed."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def files(folder: Path) -> set[str]:
    """Names of everything under ``folder`` (relative paths), for 'nothing was written' checks."""
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*")}
