"""``python -m regiongan.training.ship ARGS`` = ``regiongan ship ARGS``."""

import sys

from ...cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("ship"))
