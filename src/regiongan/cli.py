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


# --------------------------------------------------------------------------------------------------
# ITAN edits (regiongan.methods.itan) and recipe replay (regiongan.recipes). Every edit writes a recipe
# JSON next to its images; `regiongan replay` reproduces it bit-for-bit.

EPILOG_RESAMPLE = """\b
Examples:
  regiongan resample --model faces-64 --seed 3 --region box:16,16,48,40 --n 8 --layers 8-64 --out out/resample.png
  regiongan resample -m faces-64 -s 3 -r mask:brush.png --layers fine --noise resample --feather 1.5 -o out/r.png
Writes OUT (grid: original, then the variations), OUT_original.png, OUT_00.png … (one per variation),
OUT_region.png (the mask) and OUT.json (the recipe; `regiongan replay OUT.json` reproduces it).
Layers: all | coarse | middle | fine | LO-HI (resolutions, e.g. 8-64) | names (b32.conv0,b32.torgb).
"""

EPILOG_TRANSFER = """\b
Examples:
  regiongan transfer --model faces-64 --target 3 --reference 11 --region box:16,36,48,56 --layers fine --out out/t.png
Writes OUT (grid: target, reference, result), OUT_00.png (the result), OUT_region.png and OUT.json.
fine = colour/texture, coarse = shape/pose, all = everything (see docs/itan.md for the resolutions).
"""

EPILOG_SALIENCY = """\b
Examples:
  regiongan saliency --model faces-64 --seed 3 --region box:16,16,48,48 --psi 1.5 --background-psi 0.7 --out out/s.png
Region: w = w̄ + ψ (w − w̄) with ψ = --psi; outside with ψ = --background-psi. ψ > 1 stands out, ψ < 1 blends in.
Writes OUT (grid: original, result), OUT_00.png, OUT_region.png and OUT.json.
"""


def _itan_layers(spec: str):
    from .methods.itan import parse_layers

    try:
        return parse_layers(spec)
    except ValueError as e:
        _fail(str(e))


def _itan_region(spec: str, G):
    """Parse --region at the model's image size -> (Region, recipe value). File-based specs (mask:, label:)
    are stored as the mask itself so that the recipe does not depend on the file staying unchanged."""
    from .regions import RegionError, parse_region

    try:
        region = parse_region(spec, (G.img_resolution, G.img_resolution))
    except RegionError as e:
        _fail(str(e))
    file_based = any(form in spec for form in ("mask:", "label:"))
    return region, (region if file_based else {"spec": spec})


def _itan_paths(out: str, n_images: int) -> dict:
    p = Path(out)
    return {
        "grid": p,
        "images": [p.with_name(f"{p.stem}_{i:02d}.png") for i in range(n_images)],
        "region": p.with_name(f"{p.stem}_region.png"),
        "original": p.with_name(f"{p.stem}_original.png"),
        "recipe": p.with_name(f"{p.stem}.json"),
    }


def _itan_write(
    method, model, G, params, out, overwrite, scale, n_images, grid_before=(), region=None, with_original=False
):
    """Run a recipe method, then write grid, per-image PNGs, region mask and the recipe. Refuses to replace
    any existing file without --overwrite, checked before any work: then nothing is written."""
    from .images import make_grid, save_image, to_pil
    from .recipes import Recipe, RecipeError, model_digest, run, save_recipe
    from .regions import RegionError

    paths = _itan_paths(out, n_images)
    targets = [paths["grid"], paths["recipe"], *paths["images"]]
    targets += [paths["region"]] if region is not None else []
    targets += [paths["original"]] if with_original else []
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        _fail(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    try:
        images = run(method, G, params)
    except (RecipeError, RegionError, ValueError) as e:
        _fail(str(e))
    assert images.shape[0] == n_images, (images.shape, n_images)
    recipe = Recipe(
        method=method, model=str(model), params=params, model_digest=model_digest(G),
        outputs=[t.name for t in paths["images"]],
    )  # fmt: skip
    try:
        save_recipe(recipe, paths["recipe"], overwrite=overwrite)
    except (RecipeError, FileExistsError) as e:
        _fail(str(e))
    grid = torch.cat([*grid_before, images]) if grid_before else images
    save_image(make_grid(grid, scale=scale), paths["grid"])
    for img, path in zip(images, paths["images"]):
        save_image(to_pil(img), path)
    if region is not None:
        save_image(region.to_image(), paths["region"])
    if with_original and grid_before:
        save_image(to_pil(grid_before[0][0]), paths["original"])
    return images, paths


def _itan_plain(G, z: torch.Tensor, psi: float) -> torch.Tensor:
    with torch.no_grad():
        return G.synthesize(G.styles(G.map(z, None, psi))).image


def _itan_model(model: str):
    G = _load(model)
    if getattr(G, "c_dim", 0) > 0:
        _fail("ITAN commands do not take class labels yet; use regiongan.methods.itan with c=... from Python")
    return G


_itan_common = [
    click.option("--layers", "-l", default="all", show_default=True, help="Blended layers: all|coarse|middle|fine|LO-HI|names."),
    click.option("--feather", default=0.0, show_default=True, type=float, help="Gaussian edge softening (pixels)."),
    click.option("--truncation", "-t", "psi", default=1.0, show_default=True, type=float, help="Truncation ψ of every code."),
    click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Grid PNG; other files go next to it."),
    click.option("--scale", default=1, show_default=True, type=int, help="Nearest-neighbour upscale of the grid."),
    click.option("--overwrite", is_flag=True, help="Replace existing output files (never done otherwise)."),
]


def _with_itan_options(fn):
    for option in reversed(_itan_common):
        fn = option(fn)
    return fn


@main.command(epilog=EPILOG_RESAMPLE)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--seed", "-s", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the image to vary.")
@click.option("--region", "-r", required=True, help="Region to resample (syntax: `regiongan regions`).")
@click.option("--n", "-n", "count", default=8, show_default=True, type=click.IntRange(min=1), help="Number of variations.")
@click.option("--variation-seed", default=0, show_default=True, type=int, help="Seed of the new codes (and noise).")
@click.option("--noise", default="const", show_default=True, type=click.Choice(["const", "resample"]), help="Keep the constant noise, or fresh noise inside the region.")
@_with_itan_options
def resample(model, seed, region, count, variation_seed, noise, layers, feather, psi, out, scale, overwrite) -> None:
    """Local resample (ITAN): keep the image outside REGION, draw new content inside it."""
    from .images import z_from_seeds

    layer_spec = _itan_layers(layers)
    G = _itan_model(model)
    reg, reg_value = _itan_region(region, G)
    params = {
        "code": {"seed": seed}, "region": reg_value, "n": count, "layers": layer_spec, "seed": variation_seed,
        "feather": feather, "noise": noise, "truncation_psi": psi,
    }  # fmt: skip
    original = _itan_plain(G, z_from_seeds([seed], G.z_dim), psi)
    images, paths = _itan_write(
        "itan.local_resample", model, G, params, out, overwrite, scale, count, grid_before=(original,), region=reg,
        with_original=True,
    )  # fmt: skip
    click.echo(f"wrote {paths['grid']} (original + {images.shape[0]} variations), per-variation PNGs and {paths['recipe']}")


@main.command(epilog=EPILOG_TRANSFER)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--target", required=True, type=click.IntRange(min=0), help="Seed of the image to edit.")
@click.option("--reference", required=True, type=click.IntRange(min=0), help="Seed of the image to take the region's look from.")
@click.option("--region", "-r", required=True, help="Region to transfer (syntax: `regiongan regions`).")
@_with_itan_options
def transfer(model, target, reference, region, layers, feather, psi, out, scale, overwrite) -> None:
    """Local attribute transfer (ITAN): the reference's look inside REGION, the target elsewhere."""
    from .images import z_from_seeds

    layer_spec = _itan_layers(layers)
    G = _itan_model(model)
    reg, reg_value = _itan_region(region, G)
    params = {
        "target": {"seed": target}, "reference": {"seed": reference}, "region": reg_value, "layers": layer_spec,
        "feather": feather, "truncation_psi": psi,
    }  # fmt: skip
    before = (_itan_plain(G, z_from_seeds([target], G.z_dim), psi), _itan_plain(G, z_from_seeds([reference], G.z_dim), psi))
    _, paths = _itan_write("itan.transfer_region", model, G, params, out, overwrite, scale, 1, grid_before=before, region=reg)
    click.echo(f"wrote {paths['grid']} (target, reference, result), {paths['images'][0].name} and {paths['recipe']}")


@main.command(epilog=EPILOG_SALIENCY)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--seed", "-s", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the image.")
@click.option("--region", "-r", required=True, help="Region whose saliency changes (syntax: `regiongan regions`).")
@click.option("--psi", "region_psi", required=True, type=float, help="ψ inside the region (> 0; > 1 stands out).")
@click.option("--background-psi", default=1.0, show_default=True, type=float, help="ψ outside the region (> 0).")
@_with_itan_options
def saliency(model, seed, region, region_psi, background_psi, layers, feather, psi, out, scale, overwrite) -> None:
    """Saliency control (ITAN): per-region truncation, ψ inside REGION and outside it."""
    from .images import z_from_seeds
    from .regions import RegionSet

    layer_spec = _itan_layers(layers)
    G = _itan_model(model)
    reg, reg_value = _itan_region(region, G)
    regions = {"specs": [region]} if isinstance(reg_value, dict) else RegionSet.from_regions([reg])
    params = {
        "code": {"seed": seed}, "regions": regions, "psi": [background_psi, region_psi], "layers": layer_spec,
        "feather": feather, "truncation_psi": psi,
    }  # fmt: skip
    before = (_itan_plain(G, z_from_seeds([seed], G.z_dim), psi),)
    _, paths = _itan_write("itan.saliency", model, G, params, out, overwrite, scale, 1, grid_before=before, region=reg)
    click.echo(f"wrote {paths['grid']} (original, result), {paths['images'][0].name} and {paths['recipe']}")


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Grid PNG; OUT_00.png … go next to it.")
@click.option("--model", "-m", default=None, help="Use this model instead of the recipe's.")
@click.option("--scale", default=1, show_default=True, type=int, help="Nearest-neighbour upscale of the grid.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (never done otherwise).")
def replay(recipe, out, model, scale, overwrite) -> None:
    """Reproduce the images of a recipe JSON (bit-for-bit on the same machine).

    \b
    Example:
      regiongan replay out/resample.json --out out/again.png
    """
    import warnings

    from .checkpoints import CheckpointError
    from .images import make_grid, save_image, to_pil
    from .recipes import RecipeError, load_recipe, load_recipe_model
    from .regions import RegionError

    try:
        rec = load_recipe(recipe)
    except RecipeError as e:
        _fail(str(e))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            G = load_recipe_model(rec, recipe, model)
        for w in caught:
            click.echo(f"warning: {w.message}", err=True)
        images = rec.run(G)
    except (CheckpointError, FileNotFoundError, RecipeError, RegionError, ValueError) as e:
        _fail(str(e))
    paths = _itan_paths(out, images.shape[0])
    targets = [paths["grid"], *paths["images"]]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        _fail(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    save_image(make_grid(images, scale=scale), paths["grid"])
    for img, path in zip(images, paths["images"]):
        save_image(to_pil(img), path)
    click.echo(f"replayed {rec.method} on {model or rec.model}: wrote {paths['grid']} and {images.shape[0]} PNGs")


@main.group()
def data() -> None:
    """Procedural part-annotated worlds: preview and export."""


@data.command("preview")
@click.option("--world", default="faces", show_default=True, help="faces or scenes.")
@click.option("--count", default=16, show_default=True, type=int)
@click.option("--size", default=64, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--scale", default=2, show_default=True, type=int)
@click.option("--out", "-o", default="out/preview.png", show_default=True, type=click.Path(dir_okay=False))
def data_preview(world, count, size, seed, scale, out) -> None:
    """A grid of samples, each next to its colourised part-label map."""
    from .data.export import preview_grid
    from .images import save_image

    try:
        save_image(preview_grid(world, seed=seed, count=count, size=size, scale=scale), out)
    except ValueError as e:
        _fail(str(e))
    click.echo(f"wrote {out}")


@data.command("export")
@click.option("--world", default="faces", show_default=True)
@click.option("--count", default=1000, show_default=True, type=int)
@click.option("--size", default=64, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--format", "fmt", default="folder", show_default=True, type=click.Choice(["folder", "npz"]))
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@click.argument("out_dir", type=click.Path(file_okay=False))
def data_export(world, count, size, seed, fmt, overwrite, out_dir) -> None:
    """Write images + label maps (PNG folder) or one .npz for use in other tools."""
    from .data.export import export_world

    try:
        export_world(world, out_dir, count, size=size, seed=seed, fmt=fmt, overwrite=overwrite)
    except (ValueError, FileExistsError) as e:
        _fail(str(e))
    click.echo(f"wrote {count} samples of {world} to {out_dir}")


def _train_command():
    """Build ``regiongan train`` from TrainConfig's fields (one place defines every option)."""
    from .training.config import click_train_options

    @main.command("train")
    @click_train_options
    def train_cmd(**options) -> None:
        """Train a StyleGAN2 on a procedural world or an image folder (CPU or GPU).

        \b
        Examples:
          regiongan train --data faces --resolution 64 --kimg 600 --run-dir runs/faces64 --resume
          torchrun --nproc_per_node=2 -m regiongan.training --data faces ...   (data-parallel)
        """
        from .training.config import TrainConfig
        from .training.loop import train
        from .training.snapshot import SnapshotError

        try:
            run_dir = train(TrainConfig.from_kwargs(**{k: v for k, v in options.items() if v is not None}))
        except (ValueError, SnapshotError, FileNotFoundError, NotADirectoryError) as e:
            _fail(str(e))
        click.echo(f"model written to {run_dir}")

    return train_cmd


train_cmd = _train_command()



def _register_command_modules() -> None:
    """Method-specific commands live in ``regiongan.commands.<module>`` and register themselves on import."""
    import importlib
    import pkgutil

    from . import commands

    for info in pkgutil.iter_modules(commands.__path__):
        importlib.import_module(f"{commands.__name__}.{info.name}")


_register_command_modules()


if __name__ == "__main__":
    main()
