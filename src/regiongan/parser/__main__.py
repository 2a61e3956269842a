"""``python -m regiongan.parser train|eval ARGS`` = ``regiongan parser train|eval ARGS``."""

import sys

from ..cli import run_command


def main(argv: list[str] | None = None) -> int:
    return run_command("parser", argv)


if __name__ == "__main__":
    sys.exit(main())
