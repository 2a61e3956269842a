"""SSN command (``rg.resample_blocks``): ``regiongan blocks``.

Writes the grid (the original, then the variations), one image per variation, OUT_region.png (the
resampled image blocks) and OUT.json (the recipe; `regiongan replay OUT.json --out X.png` reproduces the
images). ``--out`` is a folder (files ``blocks.png``, ``blocks_00.png`` … inside it) or a grid image path.
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

import regiongan as rg

from ..ops.blocks import Block, block_masks
from ..validate import finite
from .common import (
    SEED,
    Checked,
    check_scale,
    count_type,
    load_generator,
    options,
    overwrite_option,
    parser_option,
    scale_option,
    seed_option,
    truncation_option,
)
from .output import IMAGE_SUFFIXES, ImageOutputs, describe

__all__ = ["blocks", "parse_blocks", "draw_block_grid"]

EPILOG = """\b
Examples:
  regiongan blocks --model faces-ssn-64 --seed 3 --region box:16,16,48,40 --variations 8 --out out/blocks
  regiongan blocks -m faces-ssn-64 -s 3 --blocks "2,1;2,2" --variations 4 --show-grid --out out/b.png
  regiongan blocks -m faces-ssn-64 -s 3 -r part:mouth --min-coverage 0.25 --out out/mouth
Block (i, j) is row i, column j of the model's n x n latent grid (0-based; `regiongan info` shows n as
block_grid). Variation k takes the resampled blocks from the z of seed VARIATION_SEED + k.
Writes OUT (grid: original, then the variations), OUT_00.png … (one per variation), OUT_region.png (the
resampled image blocks) and OUT.json (the recipe; `regiongan replay OUT.json --out again.png` reproduces it).
An --out without an image extension is a folder: OUT is then FOLDER/blocks.png.
"""

#: Colours of --show-grid, in [-1, 1]: the grid lines and the outline of the resampled blocks.
_GRID_COLOUR = torch.tensor([1.0, 1.0, 1.0])
_RESAMPLED_COLOUR = torch.tensor([1.0, 0.8, -1.0])


def parse_blocks(text: str) -> list[Block]:
    """``"2,1;2,2"`` -> ``[(2, 1), (2, 2)]`` (row, column pairs separated by ';'), else a one-line ValueError.
    Whether they lie inside the grid is checked against the model (:func:`regiongan.ops.blocks.check_blocks`)."""
    pairs: list[Block] = []
    for part in str(text).split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split(",")]
        if len(fields) != 2 or not all(f.lstrip("-").isdigit() for f in fields):
            raise ValueError(f"bad block {part.strip()!r} in {text!r}: give ROW,COLUMN pairs separated by ';', e.g. '2,1;2,2'")
        pairs.append((int(fields[0]), int(fields[1])))
    if not pairs:
        raise ValueError(f"no blocks in {text!r}: give ROW,COLUMN pairs separated by ';', e.g. '2,1;2,2'")
    return pairs


BLOCKS = Checked("ROW,COL;…", str, parse_blocks)
COVERAGE = Checked("FRACTION", float, lambda v: finite(v, "--min-coverage", 0.0, 1.0, hi_open=True))


def draw_block_grid(images: torch.Tensor, n: int, blocks: list[Block] | None = None) -> torch.Tensor:
    """``images [N, 3, H, W]`` with the ``n × n`` block grid drawn on them (one-pixel lines on the first row
    and column of every block), and the outline of ``blocks`` in yellow."""
    _, _, h, w = images.shape
    masks = block_masks(n, h, w)  # [n², H, W]
    index = masks.argmax(dim=0)  # [H, W] block of each pixel
    edge = torch.zeros(h, w, dtype=torch.bool)
    edge[1:] |= index[1:] != index[:-1]
    edge[:, 1:] |= index[:, 1:] != index[:, :-1]
    out = images.clone()
    out[:, :, edge] = _GRID_COLOUR.to(out)[:, None]
    if blocks:
        chosen = masks[[i * n + j for i, j in blocks]].sum(dim=0) > 0.5  # [H, W]
        padded = torch.nn.functional.pad(chosen[None, None].float(), (1, 1, 1, 1))
        outside_near = torch.nn.functional.max_pool2d(1 - padded, 3, stride=1)[0, 0] > 0.5  # a neighbour is outside
        border = chosen & outside_near
        out[:, :, border] = _RESAMPLED_COLOUR.to(out)[:, None]
    return out


def _grid_path(out: str) -> Path:
    """``--out``: an image path as it is; anything else is a folder holding ``blocks.png``."""
    path = Path(out)
    return path if path.suffix.lower() in IMAGE_SUFFIXES else path / "blocks.png"


@click.command(epilog=EPILOG)
@click.option("--model", "-m", required=True, help="An SSN model: shipped name or checkpoint path.")
@seed_option("Seed of the image to vary.")
@click.option("--region", "-r", default=None, help="Resample the blocks this region covers (syntax: `regiongan regions`).")
@click.option("--blocks", "block_list", default=None, type=BLOCKS, help="Resample these blocks: ROW,COL pairs separated by ';', e.g. '2,1;2,2'.")
@click.option("--min-coverage", default=0.0, show_default=True, type=COVERAGE, help="With --region: take a block when the region covers more than this fraction of it (0: touches it).")
@click.option("--variations", default=8, show_default=True, type=count_type("variations", "variations"), help="Number of variations (limit: variations).")
@click.option("--variation-seed", default=0, show_default=True, type=SEED, help="Variation k takes its new blocks from seed VARIATION_SEED + k.")
@click.option("--show-grid", is_flag=True, help="Draw the block grid (resampled blocks outlined) over the original in the grid image.")
@options(truncation_option(), parser_option)
@click.option("--out", "-o", required=True, help="Output folder (or a grid image path); the other files go next to the grid.")
@options(scale_option, overwrite_option)
def blocks(
    model, seed, region, block_list, min_coverage, variations, variation_seed, show_grid, truncation_psi, parser, out,
    scale, overwrite,
) -> None:
    """Block resampling (SSN): new latent blocks where REGION is (or the --blocks given), the rest kept."""
    if (region is None) == (block_list is None):
        raise click.UsageError("give exactly one of --region (the blocks it covers) and --blocks (ROW,COL;…)")
    if block_list is not None and min_coverage != 0.0:
        raise click.UsageError("--min-coverage applies to --region only")
    outputs = ImageOutputs(_grid_path(out), variations, overwrite, region=True)
    G = load_generator(model, operation="resample_blocks")
    check_scale(scale, G)
    if region is not None:
        kwargs = dict(region=region, min_coverage=min_coverage, parser=parser)
    else:
        kwargs = dict(blocks=[list(b) for b in block_list])  # [row, column] lists: a plain JSON recipe
    result = rg.resample_blocks(
        G, seed, variations=variations, variation_seed=variation_seed, truncation_psi=truncation_psi, **kwargs
    )  # fmt: skip
    before = rg.generate(G, seed, truncation_psi=truncation_psi).images
    if show_grid:
        before = draw_block_grid(before, G.block_grid, result.extras["blocks"])
    chosen = ";".join(f"{i},{j}" for i, j in result.extras["blocks"])
    click.echo(
        f"wrote {describe(outputs.save(result, scale=scale, before=before))} "
        f"(original + {variations} variations; blocks {chosen} of the {G.block_grid}x{G.block_grid} grid)"
    )
