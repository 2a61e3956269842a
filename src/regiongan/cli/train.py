"""``regiongan train`` (the ``TrainConfig`` options) and ``regiongan ship`` (a run into the package).

``python -m regiongan.training`` and ``python -m regiongan.training.ship`` forward here, so each command
has one argument parser.
"""

from __future__ import annotations

import click

from ..training import TrainConfig, click_train_options
from ..training import train as train_run
from ..training.ship import ship as ship_run


@click.command("train")
@click_train_options
def train(**options) -> None:
    """Train a StyleGAN2 or BigGAN-deep (--family) on a procedural world or an image folder (CPU or GPU).

    \b
    Examples:
      regiongan train --data faces --resolution 64 --kimg 600 --run-dir runs/faces64 --resume
      torchrun --standalone --nproc_per_node=2 -m regiongan.training --data faces ...   (data-parallel)
    """
    run_dir = train_run(TrainConfig.from_kwargs(**options))
    click.echo(f"model written to {run_dir}")


@click.command("ship")
@click.option("--run-dir", required=True, help="The training run (its model/ is shipped).")
@click.option("--name", required=True, help="Shipped model name, e.g. faces-64.")
@click.option("--launcher", default="python", show_default=True, help="How the run was launched, e.g. 'torchrun --standalone --nproc_per_node=2'.")
@click.option("--fd-count", default=1000, show_default=True, type=click.IntRange(min=2), help="Images per side of the FD-parser measurement.")
def ship(run_dir, name, launcher, fd_count) -> None:
    """Ship a trained generator: copy a run's EMA model into the package and write its model card.

    \b
    Example:
      regiongan ship --run-dir runs/faces64 --name faces-64 --launcher "torchrun --standalone --nproc_per_node=2"
    The card is written from the run's own records (train_config.json, metrics.jsonl, model/config.json);
    FD-parser is measured here against the procedural world, next to its floor.
    """
    click.echo(f"shipped {ship_run(run_dir, name, launcher, fd_count)}")
