"""``regiongan generate``: plain images from seeds (``rg.generate``), with their latents."""

from __future__ import annotations

import click
import torch
from safetensors.torch import save_file

import regiongan as rg

from ..hardware import resolve_precision
from .common import (
    CLASS,
    CUTOFF,
    SEED,
    SEEDS,
    check_scale,
    image_out_option,
    load_generator,
    model_option,
    overwrite_option,
    scale_option,
    truncation_option,
)
from .output import ImageOutputs, describe, image_path

EPILOG = """\b
Examples:
  regiongan generate --model faces-64 --seeds 0-15 --out out/grid.png
  regiongan generate --model network-snapshot.pkl --seeds 1,5,9 --truncation 0.7 --out out/g.png
  regiongan generate --model stylegan2-ffhq.pt --seeds 0-7 --precision auto --out out/ffhq.png
Writes OUT (the grid), OUT_seed0000.png … (one per seed), OUT_latents.safetensors (z, ws, seeds) and
OUT.json (the recipe; `regiongan replay OUT.json --out again.png` reproduces the images).
"""


@click.command(epilog=EPILOG)
@model_option()
@click.option("--seeds", "-s", default="0-15", show_default=True, type=SEEDS, help="Seeds: '0-15', '1,5,9'.")
@truncation_option()
@click.option("--truncation-cutoff", default=None, type=CUTOFF, help="Truncate only the first N ws (0..num_ws).")
@click.option("--class", "class_idx", default=None, type=CLASS, help="Class index or name (conditional models only).")
@click.option("--noise", default="const", show_default=True, type=click.Choice(["const", "random", "none"]))
@click.option("--noise-seed", default=0, show_default=True, type=SEED, help="Seed of --noise random.")
@click.option(
    "--precision", default="fp32", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]),
    help="auto: bf16 where the CPU has AMX or AVX-512 BF16 (or on a bf16 GPU), else fp32 (`regiongan info` says "
    "which). The recipe records the resolved value; fp32 is the default so recipes replay bit-for-bit anywhere.",
)  # fmt: skip
@image_out_option(default="out/grid.png")
@scale_option
@overwrite_option
def generate(
    model, seeds, truncation_psi, truncation_cutoff, class_idx, noise, noise_seed, precision, out, scale, overwrite
) -> None:
    """Generate images: a grid, one image per seed, the latents (z, ws) and the recipe."""
    grid = image_path(out)
    latents = grid.with_name(f"{grid.stem}_latents.safetensors")
    names = [f"{grid.stem}_seed{s:04d}{grid.suffix}" for s in seeds]
    outputs = ImageOutputs(grid, len(seeds), overwrite, names=names, extra=[latents])
    G = load_generator(model)
    check_scale(scale, G)
    precision = resolve_precision(precision, G.device)  # the recipe records what ran, not "auto"
    result = rg.generate(
        G, seeds, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, c=class_idx,
        noise=noise, noise_seed=noise_seed, precision=precision,
    )  # fmt: skip
    tensors = {
        "z": rg.z_from_seeds(seeds, G.z_dim).contiguous(),
        "ws": result.extras["ws"].detach().cpu().contiguous(),
        "seeds": torch.tensor(seeds),
    }
    metadata = {"model": str(model), "truncation_psi": str(truncation_psi), "noise_mode": noise}
    written = outputs.save(result, scale=scale, extra={latents: lambda path: save_file(tensors, str(path), metadata=metadata)})
    click.echo(f"wrote {describe(written)} ({len(seeds)} images)")
