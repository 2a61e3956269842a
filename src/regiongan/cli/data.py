"""``regiongan data preview | export``: the procedural part-annotated worlds."""

from __future__ import annotations

import click

from ..data.export import export_world, is_export_dir, preview_grid
from ..data.worlds.base import check_size
from .common import SCALE, Checked, count_type, overwrite_option
from .output import OutputPlan, image_path


#: An image side: the rule of every world (regiongan.data.worlds.base.check_size).
_SIZE = Checked("INT", int, check_size)


@click.group("data")
def data() -> None:
    """Procedural part-annotated worlds: preview and export."""


@data.command("preview")
@click.option("--world", default="faces", show_default=True, help="faces or scenes.")
@click.option("--count", default=16, show_default=True, type=count_type("images", "--count"), help="Samples shown (the preview stays within preview_size).")
@click.option("--size", default=64, show_default=True, type=_SIZE, help="Image side in pixels (limit: preview_size).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--scale", default=2, show_default=True, type=SCALE, help="Nearest-neighbour upscale (the result stays within preview_size).")
@click.option("--out", "-o", default="out/preview.png", show_default=True, help="Image file.")
@overwrite_option
def data_preview(world, count, size, seed, scale, out, overwrite) -> None:
    """A grid of samples, each next to its colourised part-label map."""
    path = image_path(out)
    plan = OutputPlan(overwrite)
    plan.add(path)
    plan.check()
    image = preview_grid(world, seed=seed, count=count, size=size, scale=scale)
    plan.write(path, lambda tmp: image.save(tmp))
    plan.commit()
    click.echo(f"wrote {path}")


@data.command("export")
@click.option("--world", default="faces", show_default=True)
@click.option("--count", default=1000, show_default=True, type=count_type("images", "--count"), help="Samples (limit: images).")
@click.option("--size", default=64, show_default=True, type=_SIZE, help="Image side in pixels (limit: preview_size).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--format", "fmt", default="folder", show_default=True, type=click.Choice(["folder", "npz"]))
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in OUT_DIR (only the files an export writes).")
@click.argument("out_dir", type=click.Path(file_okay=False))
def data_export(world, count, size, seed, fmt, overwrite, out_dir) -> None:
    """Write images + label maps (PNG folder) or one .npz for use in other tools.

    OUT_DIR must be new or empty; --overwrite also replaces an earlier export (its own files only: other
    files in OUT_DIR are kept), never another folder. The export appears in OUT_DIR only once complete."""
    plan = OutputPlan(overwrite)
    plan.add_folder(out_dir, "regiongan data export (world.json)", is_export_dir)
    plan.check()
    plan.write_folder(
        out_dir, lambda: export_world(world, out_dir, count, size=size, seed=seed, fmt=fmt, overwrite=overwrite)
    )
    plan.commit()
    click.echo(f"wrote {count} samples of {world} to {out_dir}")
