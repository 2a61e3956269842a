"""Assertions shared by the hardening tests: nothing written or lost, and one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def snapshot(folder: Path) -> dict[str, object]:
    """Everything under ``folder`` (hidden entries too): file bytes, ``"dir"``, or a link's target."""
    out: dict[str, object] = {}
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            p = Path(root) / name
            rel = str(p.relative_to(folder))
            out[rel] = f"link->{os.readlink(p)}" if p.is_symlink() else "dir" if p.is_dir() else p.read_bytes()
    return out


def refuse(call, error: type[Exception], message: str, folder: Path) -> str:
    """``call()`` raises ``error`` with ``message`` in one line, and ``folder`` is left as it was."""
    before = snapshot(folder)
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    assert message in text and "\n" not in text, text
    assert snapshot(folder) == before
    return text


def one_line_error(result, code: int = 2) -> str:
    """The error line of a failed command (progress lines on stderr may come before it; no traceback)."""
    assert result.exit_code == code, result.output
    lines = result.output.splitlines()
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[-1]
