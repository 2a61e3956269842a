"""The ``regiongan`` command line: one click group over the public API (``import regiongan as rg``).

Each command lives in a module named after what it covers and never imports this package; this module
only builds the group and adds them::

    common       one-line errors and exit codes (CommandGroup, --debug), model loading, shared options
    output       the one output writer: plan, check before any work, write everything at the end
    generate     generate                       models   info, convert, regions
    itan         resample, transfer, saliency, hybridize   editing_in_style   catalog, name-clusters, part-transfer
    resefa       directions, edit               replay   replay
    data         data preview | export          train    train, ship
    parser       parser train | eval            demo     demo

``python -m regiongan.training`` (torchrun), ``python -m regiongan.training.ship`` and ``python -m
regiongan.parser`` forward to ``regiongan train``, ``regiongan ship`` and ``regiongan parser`` through
:func:`run_command`, so every command has exactly one argument parser.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from .. import __version__
from ..limits import LIMITS, env_name, limit
from . import data, demo, editing_in_style, generate, itan, models, parser, replay, resefa, spade, ssn, studio, train
from .common import CommandGroup

__all__ = ["main", "run_command"]


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="regiongan")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error (otherwise: one line).")
@click.option(
    "--limit", "limits", multiple=True, metavar="NAME=VALUE",
    help="Raise a resource limit for this run, e.g. --limit images=50000 (docs/security.md lists them).",
)  # fmt: skip
def main(debug: bool, limits: tuple[str, ...]) -> None:
    """Region-level control over GAN image generation.

    Models are given by shipped name (faces-64), a regiongan directory, an NVIDIA StyleGAN2 .pkl or a
    rosinality .pt; nothing is ever downloaded, and no code inside a checkpoint is ever run. Every image
    command writes a recipe (OUT.json) that `regiongan replay` reproduces. Exit status: 0 ok, 2 usage
    error (fix the command line), 1 run-time error.
    """
    for item in limits:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in LIMITS:
            raise click.BadParameter(f"{item!r}: give NAME=VALUE with NAME one of {', '.join(sorted(LIMITS))}", param_hint="--limit")
        os.environ[env_name(name.strip())] = value.strip()  # this process only; read by regiongan.limits
        limit(name.strip())  # a bad value fails here, as a usage error


for _command in (
    generate.generate, itan.resample, itan.transfer, itan.saliency, itan.hybridize, editing_in_style.part_transfer_cmd,
    resefa.edit, ssn.blocks, spade.synthesize, spade.repaint, replay.replay,  # images (+ recipes)
    editing_in_style.catalog_cmd, editing_in_style.name_clusters_cmd, resefa.directions,  # method artefacts
    models.info, models.convert, models.regions_help, data.data, train.train, train.ship, parser.parser,
    demo.demo, studio.studio,  # models, data, training, the tour, the web app
):  # fmt: skip
    main.add_command(_command)


def run_command(command: str, argv: Sequence[str] | None = None) -> int:
    """Run ``regiongan COMMAND ARGV…`` (default: ``sys.argv[1:]``) and return its exit status: the
    ``python -m`` entry points forward here."""
    args = [command, *(sys.argv[1:] if argv is None else argv)]
    try:
        main.main(args=args, prog_name="regiongan", standalone_mode=True)
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
