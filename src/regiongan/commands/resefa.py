"""CLI for ReSeFa (regiongan.methods.resefa): ``regiongan directions`` and ``regiongan edit``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from ..cli import _fail, _load, main

EPILOG_DIRECTIONS = """\b
Examples:
  regiongan directions --model faces-64 --region box:16,36,48,56 --samples 8 --out dirs/mouth-box.safetensors
  regiongan directions -m faces-64 -r part:mouth --samples 16 --k 5 --out dirs/mouth.safetensors
  regiongan directions -m faces-64 -r part:eyes --space w+ --layers 8-32 --solver woodbury -o dirs/eyes.safetensors
Computes the region Grams A (inside) and B (outside) from forward-mode Jacobians of --samples images (seeds
--seed …) and solves A n = λ (B + τ·tr(B) I) n (see docs/resefa.md). part: regions run the part parser
(--parser) on every sample and use that sample's mask. Writes one .safetensors file (vectors,
eigenvalues, the region, and JSON metadata); then `regiongan edit --directions FILE`.
"""

EPILOG_EDIT = """\b
Examples:
  regiongan edit --directions dirs/mouth.safetensors --index 0 --strengths -3,-1.5,0,1.5,3 --seeds 0-5 --out out/strip.png
  regiongan edit -d dirs/mouth.safetensors -i 1 --strengths=-6,0,6 --seeds 3,7 --layers fine -o out/fine.png
Writes OUT (grid: one row per seed, one column per strength), OUT_region.png (the region the directions
were computed for) and OUT.json + OUT.safetensors (the recipe, with the direction inside;
`regiongan replay OUT.json --out again.png` reproduces the images). Strengths are distances along the
unit direction in the latent space (w' = w + t·n).
"""


def _parse_strengths(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(v == v and abs(v) != float("inf") for v in values):
        _fail(f"cannot read strengths {text!r}; use comma-separated numbers, e.g. --strengths=-3,-1.5,0,1.5,3")
    return values


@main.command(epilog=EPILOG_DIRECTIONS)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--region", "-r", required=True, help="Region (syntax: `regiongan regions`), e.g. box:16,36,48,56 or part:mouth.")
@click.option("--samples", "-n", default=8, show_default=True, type=click.IntRange(min=1), help="Images whose Grams are averaged.")
@click.option("--seed", "-s", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the first sample.")
@click.option("--space", default="w", show_default=True, type=click.Choice(["w", "w+", "z"]), help="Latent space of the directions.")
@click.option("--layers", "-l", default="all", show_default=True, help="W+ rows moved: all|coarse|middle|fine|LO-HI|names.")
@click.option("--k", "-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Number of directions.")
@click.option("--tau", default=1e-3, show_default=True, type=float, help="Regulariser α = τ·tr(B).")
@click.option("--solver", default="cholesky", show_default=True, type=click.Choice(["cholesky", "woodbury"]))
@click.option("--rank", default=None, type=click.IntRange(min=1), help="Woodbury only: keep this many singular values of J_b.")
@click.option("--truncation", "-t", "psi", default=1.0, show_default=True, type=float, help="Truncation ψ of the samples.")
@click.option("--downsample", default=None, type=click.IntRange(min=1), help="Area-average images to this side first.")
@click.option("--chunk", default=32, show_default=True, type=click.IntRange(min=1), help="Basis vectors per vmapped jvp.")
@click.option("--parser", "parser_name", default="parser-faces-64", show_default=True, help="Part parser for part: regions.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Output .safetensors file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file (never done otherwise).")
def directions(model, region, samples, seed, space, layers, k, tau, solver, rank, psi, downsample, chunk, parser_name, out, overwrite) -> None:
    """Find local latent directions for REGION (ReSeFa)."""
    from ..methods.itan import parse_layers
    from ..methods.resefa import directions_summary, region_directions
    from ..regions import RegionError

    out_path = Path(out)
    if out_path.exists() and not overwrite:
        _fail(f"{out_path} exists; pass --overwrite to replace it")
    try:
        layer_spec = None if layers == "all" else parse_layers(layers)
    except ValueError as e:
        _fail(str(e))
    G = _load(model)

    def progress(done: int, total: int) -> None:
        click.echo(f"  sample {done}/{total}", err=True)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dirs = region_directions(
                G, region, samples=samples, space=space, layers=layer_spec, k=k, tau=tau, solver=solver, seed=seed,
                truncation_psi=psi, downsample=downsample, chunk=chunk, parser=parser_name, rank=rank,
                model_name=str(model), progress=progress,
            )  # fmt: skip
        for w in caught:
            click.echo(f"warning: {w.message}", err=True)
        dirs.save(out_path, overwrite=overwrite)
    except (RegionError, ValueError, FileExistsError) as e:  # EmptyRegionError / NonFiniteOutputError are ValueErrors
        _fail(str(e))
    summary = directions_summary(dirs)
    click.echo(json.dumps(summary, indent=2))
    click.echo(f"wrote {out_path} ({dirs.k} directions in {space}, d={dirs.dim})")


@main.command(epilog=EPILOG_EDIT)
@click.option("--directions", "-d", "directions_path", required=True, type=click.Path(dir_okay=False), help="File from `regiongan directions`.")
@click.option("--index", "-i", default=0, show_default=True, type=click.IntRange(min=0), help="Which direction (0 = most local).")
@click.option("--strengths", default="-3,-1.5,0,1.5,3", show_default=True, help="Comma-separated distances t (w' = w + t·n).")
@click.option("--seeds", "-s", default="0-5", show_default=True, help="Seeds: '0-5', '1,5,9'.")
@click.option("--model", "-m", default=None, help="Model (default: the one the directions were computed on).")
@click.option("--truncation", "-t", "psi", default=None, type=float, help="Truncation ψ (default: the directions').")
@click.option("--layers", "-l", default=None, help="W directions only: apply them to these layers instead.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Grid PNG; OUT.json etc. go next to it.")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(min=1), help="Nearest-neighbour upscale of the grid.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (never done otherwise).")
def edit(directions_path, index, strengths, seeds, model, psi, layers, out, scale, overwrite) -> None:
    """Edit images along one ReSeFa direction: a grid of seeds x strengths, and its recipe."""
    from ..images import make_grid, parse_seeds, save_image
    from ..methods.itan import parse_layers
    from ..methods.resefa import check_model_matches, latent_rows, load_directions
    from ..recipes import Recipe, RecipeError, model_digest, run, save_recipe, sidecar_path
    from ..regions import Region

    strength_list = _parse_strengths(strengths)
    try:
        seed_list = parse_seeds(seeds)
        dirs = load_directions(directions_path)
        dirs.vector(index)
    except (ValueError, FileNotFoundError, IndexError) as e:
        _fail(str(e))
    out_path = Path(out)
    recipe_path = out_path.with_name(f"{out_path.stem}.json")
    region_path = out_path.with_name(f"{out_path.stem}_region.png")
    if sidecar_path(recipe_path).resolve() == Path(directions_path).resolve():
        _fail(f"--out {out} would write its recipe tensors over the directions file {directions_path}; choose another name")
    existing = [str(p) for p in (out_path, recipe_path, sidecar_path(recipe_path), region_path) if p.exists()]
    if existing and not overwrite:
        _fail(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    model_name = model or dirs.model.get("name")
    if not model_name:
        _fail("the directions file does not name its model; pass --model")
    G = _load(model_name)
    try:
        rows = list(dirs.rows)
        if layers is not None:
            if dirs.space != "w":
                _fail(f"--layers re-targets W-space directions only; these are in {dirs.space!r}")
            rows = list(latent_rows(G, "w", parse_layers(layers)))
        truncation = float(dirs.meta.get("truncation_psi", 1.0) if psi is None else psi)
        params = {
            "code": {"seeds": seed_list}, "direction": dirs.vector(index).clone(), "space": dirs.space, "rows": rows,
            "strengths": strength_list, "truncation_psi": truncation,
        }  # fmt: skip
        check_model_matches(G, dirs)
        images = run("resefa.edit", G, params)
        recipe = Recipe(method="resefa.edit", model=str(model_name), params=params, model_digest=model_digest(G), outputs=[out_path.name])
        save_recipe(recipe, recipe_path, overwrite=overwrite)
    except (RecipeError, ValueError, FileExistsError) as e:
        _fail(str(e))
    save_image(make_grid(images, ncols=len(strength_list), scale=scale), out_path)
    region = dirs.region[:1]
    if tuple(region.shape[-2:]) == (G.img_resolution, G.img_resolution):
        save_image(Region(region).to_image(), region_path)
    click.echo(
        f"wrote {out_path} ({len(seed_list)} seeds x {len(strength_list)} strengths, direction {index}, "
        f"λ = {float(dirs.eigenvalues[index]):.4g}), {region_path.name} and {recipe_path.name}"
    )

