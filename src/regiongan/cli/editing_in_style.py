"""Editing in Style commands (``rg.build_catalog``, ``rg.load_catalog``, ``rg.transfer_part``):
``regiongan catalog``, ``regiongan name-clusters`` and ``regiongan part-transfer``."""

from __future__ import annotations

from pathlib import Path

import click
import torch

import regiongan as rg

from ..parser import load_parser
from ..previews import cluster_preview
from ..validate import finite
from .common import (
    SEED,
    Checked,
    check_scale,
    count_type,
    image_out_option,
    load_generator,
    model_option,
    out_option,
    overwrite_option,
    scale_option,
    truncation_option,
)
from .output import ImageOutputs, OutputPlan, describe

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
  regiongan part-transfer --model faces-64 --target 3 --reference 11 --part eyes --out out/pt.png
  regiongan part-transfer -m faces-64 -c catalogs/faces64 --target 3 --reference 11 --part 7 --method simultaneous --lam 4 -o out/pt.png
Writes OUT (grid: target | reference | result), OUT_00.png (the result), OUT_region.png (where the part's
clusters are in the result) and OUT.json + OUT.safetensors (the recipe, with the catalog inside unless it is a
shipped one; `regiongan replay OUT.json --out again.png` reproduces it).
--catalog defaults to the model's companion catalog (faces-64: catalog-faces-64). --part takes a catalog
part name, a cluster id or ids (3,7); sequential uses --eps / --rho, simultaneous --lam.
"""


def _parse_names(items: tuple[str, ...]) -> dict[str, list[int]]:
    """``("eyes=3,7", "nose=5")`` -> ``{"eyes": [3, 7], "nose": [5]}``, or a usage error."""
    names: dict[str, list[int]] = {}
    for item in items:
        name, eq, ids = item.partition("=")
        try:
            values = [int(v) for v in ids.split(",") if v.strip()]
        except ValueError:
            values = []
        if not eq or not name.strip() or not values:
            raise click.BadParameter(f"cannot read cluster names {item!r}; use NAME=ID[,ID...], e.g. eyes=3,7")
        names[name.strip()] = values
    return names


def _parse_part(text: str) -> str | int | list[int]:
    """``"eyes"`` -> ``"eyes"``; ``"3"`` -> ``3``; ``"3,7"`` -> ``[3, 7]``."""
    items = [t.strip() for t in text.split(",")]
    if all(t.isdigit() for t in items):
        return int(items[0]) if len(items) == 1 else [int(t) for t in items]
    return text.strip()


@click.command("catalog", epilog=EPILOG_CATALOG)
@model_option()
@click.option("--samples", default=1000, show_default=True, type=count_type("samples", "samples"), help="Images N for the contribution matrices (limit: samples).")
@click.option("--k", "-k", "k", default=16, show_default=True, type=click.IntRange(min=2), help="Number of clusters K.")
@click.option("--layer", default=None, help="Conv layer to cluster (default: the first 32x32 one, b32.conv0).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the samples and of k-means.")
@truncation_option(help="Truncation ψ of the samples.")
@click.option("--fit-samples", default=200, show_default=True, type=click.IntRange(min=1), help="Images k-means is fitted on.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1), help="Maximum k-means passes.")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(min=1), help="Images per forward pass.")
@click.option("--parser", default=None, help="Part parser (e.g. parser-faces-64): name clusters by best IoU.")
@click.option("--min-part-iou", default=None, type=Checked("IOU", float, lambda v: finite(v, "min_part_iou", 0, 1)), help="With --parser: name a part only if its clusters reach this IoU [default: 0].")
@click.option("--name", "names", multiple=True, callback=lambda ctx, param, value: _parse_names(value), help="NAME=ID[,ID...] (repeatable): name / merge clusters.")
@out_option("Catalog directory.")
@overwrite_option
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch threads (default: torch's choice; 1 is fastest on a busy CPU).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def catalog_cmd(
    model, samples, k, layer, seed, truncation_psi, fit_samples, epochs, batch, parser, min_part_iou, names, out,
    overwrite, threads, progress,
) -> None:
    """Build a semantic catalog for part-transfer (Editing in Style).

    Clusters one layer's activations (spherical k-means) and measures every style channel's contribution
    to every cluster (paper §3.1, Eq. 1)."""
    folder = Path(out)
    plan = OutputPlan(overwrite)
    catalog_files = plan.add(folder / "catalog.json", folder / "catalog.safetensors")
    (preview,) = plan.add(folder / "clusters.png")
    plan.check()
    if threads:
        torch.set_num_threads(threads)
    G = load_generator(model)
    part_parser = load_parser(parser) if parser else None
    cat = rg.build_catalog(
        G, samples=samples, k=k, layer=layer, seed=seed, truncation_psi=truncation_psi, batch_size=batch,
        epochs=epochs, fit_samples=fit_samples, parser=part_parser, names=names or None, progress=progress,
        **({} if min_part_iou is None else {"min_part_iou": min_part_iou}),
    )  # fmt: skip
    cat.info["model"] = str(model)
    plan.write_group(catalog_files, lambda directory: cat.save(directory))
    image = cluster_preview(G, cat, seed=seed, truncation_psi=truncation_psi)
    plan.write(preview, lambda path: image.save(path))
    written = plan.commit()
    fractions = ", ".join(f"{i}:{100 * f:.1f}%" for i, f in enumerate(cat.info["cluster_fraction"]))
    click.echo(f"catalog of {model} at {cat.layer}: K={cat.k}, {samples} samples")
    click.echo(f"  cluster sizes: {fractions}")
    click.echo(f"  parts: {', '.join(f'{n}={ids}' for n, ids in sorted(cat.names.items())) or 'none named yet'}")
    if "agreement" in cat.info:
        a = cat.info["agreement"]
        per = ", ".join(f"{p} {v:.2f}" for p, v in a["per_part_iou"].items())
        click.echo(f"  agreement with {parser}: mIoU {a['miou']:.3f} ({per})")
    click.echo(f"wrote {describe(written)}")


@click.command("name-clusters", epilog=EPILOG_NAMES)
@click.argument("catalog", type=click.Path(file_okay=False))
@click.argument("names", nargs=-1, required=True, callback=lambda ctx, param, value: _parse_names(value))
@click.option("--replace", is_flag=True, help="Forget all earlier names first.")
def name_clusters_cmd(catalog, names, replace) -> None:
    """Name and merge the clusters of a catalog: NAME=ID[,ID...] ... (rewrites its catalog.json)."""
    cat = rg.load_catalog(catalog)
    cat.name_clusters(names, replace=replace)
    path = cat.save_names(catalog)
    click.echo(f"{path}: parts {', '.join(f'{n}={ids}' for n, ids in sorted(cat.names.items()))}")


@click.command("part-transfer", epilog=EPILOG_TRANSFER)
@model_option()
@click.option("--catalog", "-c", default=None, help="Catalog directory or shipped name [default: the model's companion catalog].")
@click.option("--target", required=True, type=SEED, help="Seed of the image to edit.")
@click.option("--reference", required=True, type=SEED, help="Seed of the image to take the part from.")
@click.option("--part", "-p", required=True, help="Catalog part name (see name-clusters), cluster id or ids (3,7).")
@click.option("--method", default="sequential", show_default=True, type=click.Choice(["sequential", "simultaneous"]))
@click.option("--eps", default=None, type=float, help="Sequential: budget per layer ε >= 0 [default 50].")
@click.option("--rho", default=None, type=float, help="Sequential: the paper's ρ > 0; threshold ρ/(1+ρ) [default 1/9 -> 0.1].")
@click.option("--lam", default=None, type=float, help="Simultaneous: strength λ >= 0 [default 5].")
@truncation_option(help="Truncation ψ of both codes.")
@image_out_option()
@scale_option
@overwrite_option
def part_transfer_cmd(
    model, catalog, target, reference, part, method, eps, rho, lam, truncation_psi, out, scale, overwrite
) -> None:
    """Editing in Style: copy one part (eyes, nose, ...) of the REFERENCE image into the TARGET image."""
    outputs = ImageOutputs(out, 1, overwrite, region=True)
    G = load_generator(model, operation="transfer_part")
    check_scale(scale, G)
    given = {name: value for name, value in (("eps", eps), ("rho", rho), ("lam", lam)) if value is not None}
    result = rg.transfer_part(
        G, target, reference, _parse_part(part), catalog=catalog, method=method, truncation_psi=truncation_psi, **given
    )
    before = rg.generate(G, [target, reference], truncation_psi=truncation_psi).images
    click.echo(f"wrote {describe(outputs.save(result, scale=scale, before=before))} (target | reference | result)")
