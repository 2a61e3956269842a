"""The ``regiongan`` command line. Each command is a thin layer over a public function."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import torch

from . import __version__

EPILOG_GENERATE = """\b
Examples:
  regiongan generate --model faces-64 --seeds 0-15 --out out/grid.png
  regiongan generate --model network-snapshot.pkl --seeds 1,5,9 --truncation 0.7 --out out/g.png
  regiongan generate --model stylegan2-ffhq.pt --seeds 0-7 --precision bf16 --out out/ffhq.png
"""


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _load(model: str):
    from .checkpoints import CheckpointError, load_model

    try:
        return load_model(model)
    except (CheckpointError, FileNotFoundError) as e:
        _fail(str(e))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="regiongan")
def main() -> None:
    """Region-level control over GAN image generation.

    Models are given by shipped name (faces-64), a regiongan directory, an NVIDIA StyleGAN2 .pkl or a
    rosinality .pt; nothing is ever downloaded, and no code inside a checkpoint is ever run.
    """


@main.command(epilog=EPILOG_GENERATE)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--seeds", "-s", default="0-15", show_default=True, help="Seeds: '0-15', '1,5,9'.")
@click.option("--truncation", "-t", "psi", default=1.0, show_default=True, type=float, help="Truncation ψ.")
@click.option("--truncation-cutoff", default=None, type=int, help="Truncate only the first N ws.")
@click.option("--class", "class_idx", default=None, type=int, help="Class index for conditional models.")
@click.option("--noise", "noise_mode", default="const", show_default=True, type=click.Choice(["const", "random", "none"]))
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "bf16"]))
@click.option("--out", "-o", default="out/grid.png", show_default=True, type=click.Path(dir_okay=False))
@click.option("--scale", default=1, show_default=True, type=int, help="Nearest-neighbour upscale of the grid.")
@click.option("--overwrite/--no-overwrite", default=True, show_default=True, help="Replace existing output files.")
def generate(model, seeds, psi, truncation_cutoff, class_idx, noise_mode, precision, out, scale, overwrite) -> None:
    """Generate images: a grid, one PNG per seed, and the latents (z, ws) as safetensors."""
    from safetensors.torch import save_file

    from .images import make_grid, parse_seeds, save_image, to_pil, z_from_seeds

    try:
        seed_list = parse_seeds(seeds)
    except ValueError as e:
        _fail(str(e))
    G = _load(model)
    c = None
    if G.c_dim > 0:
        if class_idx is None or not 0 <= class_idx < G.c_dim:
            _fail(f"this model is class-conditional with {G.c_dim} classes: pass --class 0..{G.c_dim - 1}")
        c = torch.nn.functional.one_hot(torch.full([len(seed_list)], class_idx), G.c_dim).float()
    z = z_from_seeds(seed_list, G.z_dim)
    images, ws_all = [], []
    with torch.no_grad():
        for i in range(0, len(seed_list), 16):
            ws = G.map(z[i : i + 16], None if c is None else c[i : i + 16], psi, truncation_cutoff)
            gen = torch.Generator().manual_seed(seed_list[i])
            images.append(G.synthesize(G.styles(ws), noise_mode=noise_mode, generator=gen, precision=precision).image)
            ws_all.append(ws)
    images_t, ws_t = torch.cat(images), torch.cat(ws_all)
    out_path = Path(out)
    try:
        save_image(make_grid(images_t, scale=scale), out_path, overwrite=overwrite)
        for s, img in zip(seed_list, images_t):
            save_image(to_pil(img), out_path.with_name(f"{out_path.stem}_seed{s:04d}.png"), overwrite=overwrite)
    except FileExistsError as e:
        _fail(str(e))
    latents = out_path.with_name(f"{out_path.stem}_latents.safetensors")
    save_file(
        {"z": z.contiguous(), "ws": ws_t.contiguous(), "seeds": torch.tensor(seed_list)},
        str(latents),
        metadata={"model": str(model), "truncation_psi": str(psi), "noise_mode": noise_mode},
    )
    click.echo(f"wrote {out_path} ({len(seed_list)} images), per-seed PNGs and {latents.name}")


@main.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(model, as_json) -> None:
    """Print a model's architecture and its control points (where styles enter)."""
    from .checkpoints import detect_format, shipped_model_dir

    G = _load(model)
    path = Path(model) if Path(model).exists() else shipped_model_dir(model)
    n_params = sum(p.numel() for p in G.parameters())
    points = G.control_points()
    data = {
        "model": model,
        "format": detect_format(path),
        "model_type": G.model_type,
        "parameters": n_params,
        "config": G.config,
        "num_ws": G.num_ws,
        "control_points": [p.__dict__ for p in points],
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{model}  [{data['format']} -> {G.model_type}, {n_params / 1e6:.2f} M parameters]")
    for k, v in G.config.items():
        click.echo(f"  {k:24s} {v}")
    click.echo(f"\n  {len(points)} control points (num_ws = {G.num_ws}):")
    click.echo(f"  {'name':12s} {'kind':6s} {'res':>5s} {'in_res':>6s} {'C_in':>5s} {'C_out':>5s} {'w':>3s}")
    for p in points:
        click.echo(
            f"  {p.name:12s} {p.kind:6s} {p.resolution:5d} {p.in_resolution:6d} {p.channels:5d} {p.out_channels:5d} {p.w_index:3d}"
        )


@main.command()
@click.argument("source")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "float16"]))
@click.option("--network", default="G_ema", show_default=True, help="For NVIDIA pickles: G_ema or G.")
@click.option("--overwrite", is_flag=True, help="Replace DEST if it exists.")
def convert(source, dest, dtype, network, overwrite) -> None:
    """Convert any supported checkpoint to a regiongan directory (config.json + model.safetensors).

    \b
    Example:
      regiongan convert network-snapshot-005000.pkl models/ffhq256
    """
    from .checkpoints import CheckpointError, load_model, save_pretrained

    try:
        G = load_model(source, network=network)
        save_pretrained(G, dest, dtype=getattr(torch, dtype), overwrite=overwrite, extra={"converted_from": str(source)})
    except (CheckpointError, FileNotFoundError, FileExistsError) as e:
        _fail(str(e))
    click.echo(f"wrote {dest}/config.json and {dest}/model.safetensors")


@main.command("regions")
def regions_help() -> None:
    """Explain the region syntax accepted by --region options."""
    from .regions import REGION_SYNTAX_HELP

    click.echo(REGION_SYNTAX_HELP)


if __name__ == "__main__":
    main()
