"""``python -m regiongan.cli …`` = ``regiongan …``."""

from . import main

main(prog_name="regiongan")
