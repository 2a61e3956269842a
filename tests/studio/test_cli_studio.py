"""``regiongan studio`` is registered, and its help names the bind default and the extra."""

from __future__ import annotations

from click.testing import CliRunner

from regiongan.cli import main


def test_studio_command_is_registered():
    result = CliRunner().invoke(main, ["studio", "--help"])
    assert result.exit_code == 0, result.output
    assert "127.0.0.1" in result.output and "--port" in result.output and "studio extra" in result.output


def test_regiongan_replay_reads_a_stack_recipe():
    from regiongan.registry import list_methods

    assert "stack.apply" in list_methods()  # registered with every method, so `regiongan replay` reads exports
