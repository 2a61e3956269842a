"""CLI for Editing in Style (regiongan.methods.catalog, regiongan.methods.editing_in_style):
``regiongan catalog``, ``regiongan name-clusters`` and ``regiongan part-transfer``."""

from __future__ import annotations

import time
from pathlib import Path

import click
import torch

from ..cli import _fail, _load, main

EPILOG_CATALOG = """\b
Examples:
  regiongan catalog --model faces-64 --samples 1000 --k 16 --out catalogs/faces64
  regiongan catalog --model faces-64 --threads 1 --out catalogs/faces64     (a CPU shared with other jobs)
  regiongan catalog --model faces-64 --parser parser-faces-64 --out catalogs/faces64   (names clusters by part)
  regiongan catalog -m ffhq.pkl --layer b32.conv0 --k 12 --name eyes=3,7 --name mouth=5 --out catalogs/ffhq
Writes OUT/catalog.json + OUT/catalog.safetensors (the catalog) and OUT/clusters.png (samples and their
cluster maps with the cluster ids: look at it, then name clusters with `regiongan name-clusters`).
"""

EPILOG_NAMES = """\b
Examples:
  regiongan name-clusters catalogs/faces64 eyes=3,7 nose=5 mouth=9
  regiongan name-clusters catalogs/faces64 --replace hair=1,4
A name given again replaces its clusters; several clusters under one name are merged into one part.
"""

EPILOG_TRANSFER = """\b
Examples:
  regiongan part-transfer --model faces-64 --catalog catalogs/faces64 --target 3 --reference 11 --part eyes --out out/pt.png
  regiongan part-transfer -m faces-64 -c catalogs/faces64 --target 3 --reference 11 --part 7 --method simultaneous --lam 4 -o out/pt.png
Writes OUT (grid: target | reference | result), OUT_00.png (the result) and OUT.json + OUT.safetensors
(the recipe, with the catalog inside; `regiongan replay OUT.json --out again.png` reproduces it).
--part takes a catalog part name or a cluster id; sequential uses --eps / --rho, simultaneous --lam.
"""


def _parse_names(items: tuple[str, ...]) -> dict[str, list[int]]:
    names: dict[str, list[int]] = {}
    for item in items:
        name, eq, ids = item.partition("=")
        try:
            values = [int(v) for v in ids.split(",") if v.strip()]
        except ValueError:
            values = []
        if not eq or not name.strip() or not values:
            _fail(f"cannot read cluster names {item!r}; use NAME=ID[,ID...], e.g. eyes=3,7")
        names[name.strip()] = values
    return names


def _load_parser(name: str):
    try:
        from ..parser import load_parser

        return load_parser(name)
    except (FileNotFoundError, ValueError, ImportError) as e:
        _fail(f"cannot load part parser {name!r}: {e}")


def _load_catalog(path: str):
    from ..methods.catalog import Catalog, CatalogError

    try:
        return Catalog.load(path)
    except CatalogError as e:
        _fail(str(e))


@main.command("catalog", epilog=EPILOG_CATALOG)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--samples", "-n", default=1000, show_default=True, type=click.IntRange(min=1), help="Images N for the contribution matrices.")
@click.option("--k", "-k", "k", default=16, show_default=True, type=click.IntRange(min=2), help="Number of clusters K.")
@click.option("--layer", default=None, help="Conv layer to cluster (default: the first 32x32 one, b32.conv0).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the samples and of k-means.")
@click.option("--truncation", "-t", "psi", default=1.0, show_default=True, type=float, help="Truncation ψ of the samples.")
@click.option("--fit-samples", default=200, show_default=True, type=click.IntRange(min=1), help="Images k-means is fitted on.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1), help="Maximum k-means passes.")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(min=1), help="Images per forward pass.")
@click.option("--parser", "parser_name", default=None, help="Part parser (e.g. parser-faces-64): name clusters by best IoU.")
@click.option("--name", "names", multiple=True, help="NAME=ID[,ID...] (repeatable): name / merge clusters.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Catalog directory.")
@click.option("--overwrite", is_flag=True, help="Replace an existing catalog in OUT.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads (default: torch's choice; 1 is fastest on a busy CPU).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def catalog_cmd(
    model, samples, k, layer, seed, psi, fit_samples, epochs, batch, parser_name, names, out, overwrite, threads, progress
) -> None:
    """Build a semantic catalog for part-transfer (Editing in Style).

    Clusters one layer's activations (spherical k-means) and measures every style channel's contribution
    to every cluster (paper §3.1, Eq. 1)."""
    from ..images import save_image
    from ..methods.catalog import CatalogError, build_catalog, cluster_preview

    out_dir = Path(out)
    existing = [str(p) for p in (out_dir / "catalog.json", out_dir / "catalog.safetensors", out_dir / "clusters.png") if p.exists()]
    if existing and not overwrite:
        _fail(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    name_map = _parse_names(names)
    if threads:
        torch.set_num_threads(threads)
    G = _load(model)
    parser = _load_parser(parser_name) if parser_name else None
    t0 = time.perf_counter()
    try:
        cat = build_catalog(
            G, samples=samples, k=k, layer=layer, seed=seed, truncation_psi=psi, batch_size=batch, epochs=epochs,
            fit_samples=fit_samples, parser=parser, names=name_map or None, progress=progress,
        )  # fmt: skip
    except (CatalogError, ValueError) as e:
        _fail(str(e))
    seconds = time.perf_counter() - t0
    cat.info["model"] = str(model)
    cat.info["seconds"] = round(seconds, 2)
    cat.save(out_dir, overwrite=overwrite)
    save_image(cluster_preview(G, cat, seed=seed), out_dir / "clusters.png")
    fractions = ", ".join(f"{i}:{100 * f:.1f}%" for i, f in enumerate(cat.info["cluster_fraction"]))
    click.echo(f"catalog of {model} at {cat.layer}: K={cat.k}, {samples} samples, {seconds:.1f} s")
    click.echo(f"  cluster sizes: {fractions}")
    click.echo(f"  parts: {', '.join(f'{n}={ids}' for n, ids in sorted(cat.names.items())) or 'none named yet'}")
    if "agreement" in cat.info:
        a = cat.info["agreement"]
        per = ", ".join(f"{p} {v:.2f}" for p, v in a["per_part_iou"].items())
        click.echo(f"  agreement with {parser_name}: mIoU {a['miou']:.3f} ({per})")
    click.echo(f"wrote {out_dir}/catalog.json, catalog.safetensors and clusters.png")


@main.command("name-clusters", epilog=EPILOG_NAMES)
@click.argument("catalog", type=click.Path(file_okay=False))
@click.argument("names", nargs=-1, required=True)
@click.option("--replace", is_flag=True, help="Forget all earlier names first.")
def name_clusters_cmd(catalog, names, replace) -> None:
    """Name and merge the clusters of a catalog: NAME=ID[,ID...] ..."""
    from ..methods.catalog import CatalogError

    cat = _load_catalog(catalog)
    try:
        cat.name_clusters(_parse_names(names), replace=replace)
    except CatalogError as e:
        _fail(str(e))
    cat.save_names(catalog)
    click.echo(f"{catalog}: parts {', '.join(f'{n}={ids}' for n, ids in sorted(cat.names.items()))}")


@main.command("part-transfer", epilog=EPILOG_TRANSFER)
@click.option("--model", "-m", default="faces-64", show_default=True, help="Shipped name or checkpoint path.")
@click.option("--catalog", "-c", "catalog_dir", required=True, type=click.Path(file_okay=False), help="Catalog directory (regiongan catalog).")
@click.option("--target", required=True, type=click.IntRange(min=0), help="Seed of the image to edit.")
@click.option("--reference", required=True, type=click.IntRange(min=0), help="Seed of the image to take the part from.")
@click.option("--part", "-p", required=True, help="Catalog part name (see name-clusters) or cluster id.")
@click.option("--method", default="sequential", show_default=True, type=click.Choice(["sequential", "simultaneous"]))
@click.option("--eps", default=None, type=float, help="Sequential: budget per layer ε >= 0 [default 50].")
@click.option("--rho", default=None, type=float, help="Sequential: the paper's ρ > 0; threshold ρ/(1+ρ) [default 1/9 -> 0.1].")
@click.option("--lam", default=None, type=float, help="Simultaneous: strength λ >= 0 [default 5].")
@click.option("--truncation", "-t", "psi", default=1.0, show_default=True, type=float, help="Truncation ψ of both codes.")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="Grid PNG; other files go next to it.")
@click.option("--scale", default=1, show_default=True, type=int, help="Nearest-neighbour upscale of the grid.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (never done otherwise).")
def part_transfer_cmd(model, catalog_dir, target, reference, part, method, eps, rho, lam, psi, out, scale, overwrite) -> None:
    """Editing in Style: copy one part (eyes, nose, ...) of the REFERENCE image into the TARGET image."""
    from ..images import make_grid, save_image, to_pil, z_from_seeds
    from ..methods.catalog import CatalogError
    from ..methods.editing_in_style import DEFAULT_EPS, DEFAULT_LAMBDA, DEFAULT_RHO
    from ..recipes import Recipe, RecipeError, model_digest, run, save_recipe, sidecar_path

    out_path = Path(out)
    recipe_path = out_path.with_name(f"{out_path.stem}.json")
    result_path = out_path.with_name(f"{out_path.stem}_00.png")
    targets = [out_path, result_path, recipe_path, sidecar_path(recipe_path)]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        _fail(f"{', '.join(existing)} exist(s); pass --overwrite to replace")
    cat = _load_catalog(catalog_dir)
    G = _load(model)
    try:
        cat.check_model(G)
        part_value: str | int = int(part) if part.strip().isdigit() else part
        cat.cluster_ids(part_value)
    except CatalogError as e:
        _fail(str(e))
    params = {
        "target": {"seed": target}, "reference": {"seed": reference}, "part": part_value,
        "catalog": cat.to_dict(), "method": method,
        "lam": DEFAULT_LAMBDA if lam is None else lam, "eps": DEFAULT_EPS if eps is None else eps,
        "rho": DEFAULT_RHO if rho is None else rho, "truncation_psi": psi,
    }  # fmt: skip
    try:
        result = run("editing_in_style.transfer_part", G, params)
    except (CatalogError, RecipeError, ValueError) as e:
        _fail(str(e))
    with torch.no_grad():
        before = [G.synthesize(G.styles(G.map(z_from_seeds([s], G.z_dim), None, psi))).image for s in (target, reference)]
    recipe = Recipe(
        method="editing_in_style.transfer_part", model=str(model), params=params, model_digest=model_digest(G),
        outputs=[result_path.name],
    )  # fmt: skip
    try:
        save_recipe(recipe, recipe_path, overwrite=overwrite)
    except (RecipeError, FileExistsError) as e:
        _fail(str(e))
    save_image(make_grid(torch.cat([*before, result]), ncols=3, scale=scale), out_path)
    save_image(to_pil(result[0]), result_path)
    click.echo(f"wrote {out_path} (target | reference | result), {result_path.name} and {recipe_path.name}")
