"""Model commands: ``regiongan info``, ``regiongan convert`` and ``regiongan regions`` (the region syntax)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

import regiongan as rg

from ..checkpoints import detect_format, save_pretrained, shipped_model_dir
from ..checkpoints.files import CONFIG_FILE, MODEL_DIR, WEIGHTS_FILE, is_model_dir
from ..hardware import describe_cpu, resolve_precision
from ..regions import REGION_SYNTAX_HELP
from .common import overwrite_option
from .output import OutputPlan


@click.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(model, as_json) -> None:
    """Print a model's architecture and its control points (where styles enter)."""
    G = rg.load_model(model)
    path = Path(model) if Path(model).exists() else shipped_model_dir(model)
    n_params = sum(p.numel() for p in G.parameters())
    points = G.control_points() if hasattr(G, "control_points") else []  # label-map families (SPADE) have none
    data = {
        "model": model,
        "format": detect_format(path),
        "model_type": G.model_type,
        "parameters": n_params,
        "config": G.config,
        "num_ws": getattr(G, "num_ws", None),
        "companions": getattr(G, "companions", {}),
        "control_points": [p.__dict__ for p in points],
        "precision_auto": resolve_precision("auto", G.device),
        "hardware": describe_cpu(),
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{model}  [{data['format']} -> {G.model_type}, {n_params / 1e6:.2f} M parameters]")
    for k, v in G.config.items():
        click.echo(f"  {k:24s} {v}")
    for k, v in data["companions"].items():
        click.echo(f"  companion {k:14s} {v}")
    click.echo(f"  {'precision auto':24s} {data['precision_auto']} here ({data['hardware']})")
    if not points:
        click.echo("\n  no latent control points (a label-map generator: see docs/spade.md)")
        return
    click.echo(f"\n  {len(points)} control points (num_ws = {G.num_ws}):")
    click.echo(f"  {'name':12s} {'kind':6s} {'res':>5s} {'in_res':>6s} {'C_in':>5s} {'C_out':>5s} {'w':>3s}")
    for p in points:
        click.echo(
            f"  {p.name:12s} {p.kind:6s} {p.resolution:5d} {p.in_resolution:6d} {p.channels:5d} {p.out_channels:5d} {p.w_index:3d}"
        )


@click.command()
@click.argument("source")
@click.argument("dest")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "float16"]))
@click.option("--network", default="G_ema", show_default=True, help="For NVIDIA pickles: G_ema or G.")
@overwrite_option
def convert(source, dest, dtype, network, overwrite) -> None:
    """Convert any supported checkpoint to a regiongan directory (config.json + model.safetensors).

    \b
    Example:
      regiongan convert network-snapshot-005000.pkl models/ffhq256
    DEST must be new or empty; --overwrite also replaces an earlier regiongan model directory (only its two
    model files: other files in it, such as a model card, are kept), never another folder, a symbolic link,
    or the source. The new folder is swapped in at once, so an interrupted convert leaves the old model.
    """
    folder = Path(dest)
    given = Path(source) if Path(source).exists() else shipped_model_dir(source)
    plan = OutputPlan(overwrite, inputs=[given])
    plan.add_folder(folder, MODEL_DIR, is_model_dir)
    plan.check()
    G = rg.load_model(source, network=network)
    extra = {"converted_from": str(source)}
    plan.write_folder(
        folder, lambda: save_pretrained(G, folder, dtype=getattr(torch, dtype), overwrite=overwrite, extra=extra)
    )
    plan.commit()
    click.echo(f"wrote {folder} ({CONFIG_FILE} + {WEIGHTS_FILE})")


@click.command("regions")
def regions_help() -> None:
    """Explain the region syntax accepted by --region options."""
    click.echo(REGION_SYNTAX_HELP)
