"""SPADE commands (``rg.synthesize``, ``rg.repaint``): ``regiongan synthesize | repaint``.

Each writes into OUT (a folder, or a grid image path): the grid (the label map in its palette's colours,
then the images), one image per result, the recipe (`regiongan replay` reproduces the images) and, for
repaint, the region and the repainted label map.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image

import regiongan as rg

from ..methods.spade.labels import WORLD_PREFIX, label_preview
from .common import SEED, count_type, options, overwrite_option, scale_option
from .output import ImageOutputs, describe

EPILOG_SYNTHESIZE = """\b
Examples:
  regiongan synthesize --model scenes-spade-64 --world-sample 7 --n 4 --out out/synth
  regiongan synthesize -m my_spade/ --labels map.png --style photo.png --out out/s.png
  regiongan synthesize -m my_spade/ --labels colours.png --palette scenes --n 3 --seed 10 --out out/s
Labels: a PNG of class ids (mode L), an RGB colour map with --palette, a .npy of ids, or world:NAME:INDEX.
Writes OUT/synthesize.png (grid: the label map, then the images; or OUT itself when it is an image name),
synthesize_00.png … (one per style) and synthesize.json (the recipe; `regiongan replay` reproduces it).
"""

EPILOG_REPAINT = """\b
Examples:
  regiongan repaint --model scenes-spade-64 --world-sample 7 --region box:0,40,64,64 --to water --out out/rp
  regiongan repaint -m my_spade/ --labels map.png --region part:sky --to cloud --seed 3 --out out/rp
Paints REGION of the label map with class --to (a name of --world's classes, or an id) and regenerates
with the same style code. part:NAME selects the map's pixels of that class. Writes OUT/repaint.png (grid:
labels, image, repainted labels, new image), repaint_00.png, repaint_region.png (the repainted pixels),
repaint_labels.png (the new label map, class ids) and repaint.json; prints In/Out-MSE.
"""


def _out_path(out: str, command: str) -> Path:
    """``--out``: an image name is the grid; anything without an extension is a folder (OUT/<command>.png)."""
    path = Path(out)
    return path if path.suffix else path / f"{command}.png"


def _labels_arg(labels: str | None, world_sample: int | None, world: str) -> str:
    if (labels is None) == (world_sample is None):
        raise click.UsageError("give the label map with exactly one of --labels FILE and --world-sample INDEX")
    return f"{WORLD_PREFIX}{world}:{world_sample}" if labels is None else labels


def _files(*values: str | None) -> list[str]:
    """The inputs that are files (not world: specs), which no output may replace."""
    return [v for v in values if v is not None and not v.startswith(WORLD_PREFIX)]


def _ids_writer(labels: torch.Tensor):
    """Class ids ``[H, W]`` as a grayscale PNG (mode L: pixel = id), readable by ``--labels``."""
    arr = labels.detach().cpu().numpy().astype(np.uint8)
    return lambda path: Image.fromarray(arr, mode="L").save(path, format="PNG")


_label_options = options(
    click.option("--model", "-m", required=True, help="A SPADE model: shipped name or checkpoint path."),
    click.option("--labels", default=None, help="Label map: PNG of class ids, colour PNG (with --palette), .npy, or world:NAME:INDEX."),
    click.option("--world-sample", default=None, type=click.IntRange(0), help="Use sample INDEX of --world as the label map."),
    click.option("--world", default="scenes", show_default=True, help="World of --world-sample and of class names."),
    click.option("--palette", default=None, help="Palette of an RGB colour map: a world name (its label colours)."),
    click.option("--style", default=None, help="Style reference image (model's image size) or world:NAME:INDEX."),
    click.option("--seed", "-s", default=0, show_default=True, type=SEED, help="Seed of the (first) style code."),
)
_out_options = options(
    click.option("--out", "-o", required=True, help="Output folder (or grid image name)."),
    scale_option,
    overwrite_option,
)


@click.command(epilog=EPILOG_SYNTHESIZE)
@_label_options
@click.option("--n", "n", default=1, show_default=True, type=count_type("images", "--n"), help="Styles per label map (seeds SEED … SEED+N−1).")
@click.option("--sample-style", is_flag=True, help="With --style: N codes sampled around the reference's code.")
@_out_options
def synthesize(model, labels, world_sample, world, palette, style, seed, n, sample_style, out, scale, overwrite) -> None:
    """SPADE: paint images from a label map, in N styles or in a reference image's style."""
    source = _labels_arg(labels, world_sample, world)
    outputs = ImageOutputs(_out_path(out, "synthesize"), n, overwrite, inputs=_files(labels, style))
    G = rg.load_model(model)  # not a SPADE: the operation says so (one line)
    result = rg.synthesize(G, source, n=n, seed=seed, style=style, sample_style=sample_style, palette=palette)
    count = result.extras["labels"].shape[0]
    before = label_preview(result.extras["labels"], palette) if count == 1 else None
    written = outputs.save(result, scale=scale, before=before, ncols=n + 1 if count == 1 else n)
    click.echo(f"wrote {describe(written)} ({count * n} image{'s' if count * n != 1 else ''})")


@click.command(epilog=EPILOG_REPAINT)
@_label_options
@click.option("--region", "-r", required=True, help="Region to repaint: box:…, mask:FILE, part:CLASS (syntax: `regiongan regions`).")
@click.option("--to", "to", required=True, help="The class to paint: a name of --world's classes or an id.")
@click.option("--neighbourhood", default=4, show_default=True, type=click.IntRange(0), help="Pixels around the region counted as inside for In/Out-MSE.")
@_out_options
def repaint(model, labels, world_sample, world, palette, style, seed, region, to, neighbourhood, out, scale, overwrite) -> None:
    """SPADE: repaint a region of the label map with a class, keep the style code, regenerate."""
    source = _labels_arg(labels, world_sample, world)
    grid = _out_path(out, "repaint")
    new_labels = grid.with_name(f"{grid.stem}_labels.png")
    outputs = ImageOutputs(grid, None, overwrite, region=True, extra=[new_labels], inputs=_files(labels, style))
    G = rg.load_model(model)  # not a SPADE: the operation says so (one line)
    to_class: int | str = int(to) if to.strip().isdigit() else to
    result = rg.repaint(
        G, source, region, to_class, seed=seed, style=style, neighbourhood=neighbourhood, class_names=world,
        palette=palette,
    )  # fmt: skip
    ex = result.extras
    count = result.images.shape[0]
    if G.num_classes > 256:
        raise click.UsageError(f"this model has {G.num_classes} classes; a label PNG holds ids up to 255")
    if count != 1:
        raise click.UsageError(f"repaint writes one label map; the input holds {count} (use the Python API for batches)")
    before = torch.cat([label_preview(ex["labels_before"], palette), ex["before"].cpu(), label_preview(ex["labels"], palette)])
    written = outputs.save(result, scale=scale, before=before, ncols=4, extra={new_labels: _ids_writer(ex["labels"][0])})
    in_mse, out_mse = float(ex["in_mse"][0]), float(ex["out_mse"][0])
    click.echo(f"wrote {describe(written)} (In-MSE {in_mse:.4g}, Out-MSE {out_mse:.4g} outside {neighbourhood} px of the region)")
