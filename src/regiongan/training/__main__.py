"""``python -m regiongan.training ARGS`` = ``regiongan train ARGS`` (what ``torchrun -m regiongan.training`` runs)."""

import sys

from ..cli import run_command


def main(argv: list[str] | None = None) -> int:
    return run_command("train", argv)


if __name__ == "__main__":
    sys.exit(main())
