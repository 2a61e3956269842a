"""``regiongan demo``: every method on the shipped model, as one HTML page (``regiongan.demo.run_demo``)."""

from __future__ import annotations

import click

from ..demo import run_demo
from .common import overwrite_option


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command("demo")
@click.option("--out", "-o", default="out/demo", show_default=True, help="Output directory (index.html, images, recipes).")
@overwrite_option
@click.option("--progress/--no-progress", default=True, show_default=True, help="One line per step on stderr.")
def demo(out, overwrite, progress) -> None:
    """Run every method on faces-64 and write a page with the images and their recipes.

    \b
    Example:
      regiongan demo --out out/demo && open out/demo/index.html
    """
    index = run_demo(out, overwrite=overwrite, progress=_say if progress else None)
    click.echo(str(index))
