"""``regiongan replay``: reproduce the images of a recipe (``rg.replay``)."""

from __future__ import annotations

import click

import regiongan as rg

from ..recipes import sidecar_path
from ..validate import scale as check_scale
from .common import image_out_option, model_option, overwrite_option, scale_option
from .output import ImageOutputs, describe


@click.command()
@click.argument("recipe")
@image_out_option()
@model_option(default=None, help="Use this model instead of the recipe's.")
@scale_option
@overwrite_option
def replay(recipe, out, model, scale, overwrite) -> None:
    """Reproduce the images of a recipe JSON (bit-for-bit on the same machine).

    \b
    Example:
      regiongan replay out/resample.json --out out/again.png
    Writes OUT (the grid, as the command that made the recipe drew it), OUT_00.png … (one per image) and
    OUT_region.png where the result has a region. A model whose weights differ from the recorded ones is
    used with a warning.
    """
    rec = rg.load_recipe(recipe)  # a malformed recipe fails here, before any output is planned
    outputs = ImageOutputs(out, None, overwrite, region=True, recipe=False, inputs=[recipe, sidecar_path(recipe)])
    result = rg.replay(recipe, model=model)
    check_scale(scale, result.images.shape[-1], "--scale")  # nothing is written yet
    written = outputs.save(result, scale=scale)
    click.echo(f"replayed {rec.method} on {model or rec.model}: wrote {describe(written)}")
