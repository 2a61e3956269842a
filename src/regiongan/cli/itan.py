"""ITAN commands (``rg.resample``, ``rg.transfer``, ``rg.saliency``, ``rg.hybridize``): ``regiongan resample |
transfer | saliency | hybridize``.

Each writes OUT (the grid: the before images, then the results), one image per result, OUT_region.png and
OUT.json (the recipe; `regiongan replay OUT.json --out X.png` reproduces the images).
"""

from __future__ import annotations

import click

import regiongan as rg

from .common import (
    CLASS,
    SEED,
    check_scale,
    count_type,
    feather_option,
    image_out_option,
    layers_option,
    load_generator,
    model_option,
    options,
    overwrite_option,
    parser_option,
    psi_type,
    region_option,
    scale_option,
    seed_option,
    truncation_option,
)
from .output import ImageOutputs, describe

EPILOG_RESAMPLE = """\b
Examples:
  regiongan resample --model faces-64 --seed 3 --region part:mouth --variations 8 --layers fine --out out/resample.png
  regiongan resample -m faces-64 -s 3 -r box:16,16,48,40 --layers 8-64 --out out/r.png
  regiongan resample -m faces-64 -s 3 -r mask:brush.png --noise resample --feather 1.5 -o out/r.png
Writes OUT (grid: original, then the variations), OUT_00.png … (one per variation), OUT_region.png and
OUT.json (the recipe; `regiongan replay OUT.json --out again.png` reproduces it).
Layers: all | coarse | middle | fine | LO-HI (resolutions, e.g. 8-64) | names (b32.conv0,b32.torgb).
"""

EPILOG_TRANSFER = """\b
Examples:
  regiongan transfer --model faces-64 --target 3 --reference 11 --region part:eyes --layers fine --out out/t.png
  regiongan transfer -m faces-64 --target 3 --reference 11 -r box:16,36,48,56 --layers coarse -o out/t.png
Writes OUT (grid: target, reference, result), OUT_00.png (the result), OUT_region.png and OUT.json.
fine = colour/texture, coarse = shape/pose, all = everything (see docs/itan.md for the resolutions).
"""

EPILOG_SALIENCY = """\b
Examples:
  regiongan saliency --model faces-64 --seed 3 --region part:mouth --psi 1.5 --background-psi 0.7 --out out/s.png
Region: w = w̄ + ψ (w − w̄) with ψ = --psi; outside with ψ = --background-psi. ψ > 1 stands out, ψ < 1 blends in.
Writes OUT (grid: original, result), OUT_00.png, OUT_region.png and OUT.json.
"""

_blend_options = options(
    layers_option(help="Blended layers: all|coarse|middle|fine|LO-HI (resolutions)|names."),
    feather_option,
    truncation_option(),
    parser_option,
    image_out_option(),
    scale_option,
    overwrite_option,
)


def _plain(G, seeds: list[int], truncation_psi: float):
    """The unedited images of ``seeds`` ``[N, 3, R, R]``, shown before the results in the grid."""
    return rg.generate(G, seeds, truncation_psi=truncation_psi).images


@click.command(epilog=EPILOG_RESAMPLE)
@model_option()
@seed_option("Seed of the image to vary.")
@region_option
@click.option("--variations", default=8, show_default=True, type=count_type("variations", "variations"), help="Number of variations (limit: variations).")
@click.option("--variation-seed", default=0, show_default=True, type=SEED, help="Seed of the new codes (and noise).")
@click.option("--noise", default="const", show_default=True, type=click.Choice(["const", "resample"]), help="Keep the constant noise, or fresh noise inside the region.")
@_blend_options
def resample(
    model, seed, region, variations, variation_seed, noise, layers, feather, truncation_psi, parser, out, scale, overwrite
) -> None:
    """Local resample (ITAN): keep the image outside REGION, draw new content inside it."""
    outputs = ImageOutputs(out, variations, overwrite, region=True)
    G = load_generator(model, operation="resample")
    check_scale(scale, G)
    result = rg.resample(
        G, seed, region, variations=variations, variation_seed=variation_seed, layers=layers, feather=feather,
        noise=noise, truncation_psi=truncation_psi, parser=parser,
    )  # fmt: skip
    before = _plain(G, [seed], truncation_psi)
    click.echo(f"wrote {describe(outputs.save(result, scale=scale, before=before))} (original + {variations} variations)")


@click.command(epilog=EPILOG_TRANSFER)
@model_option()
@click.option("--target", required=True, type=SEED, help="Seed of the image to edit.")
@click.option("--reference", required=True, type=SEED, help="Seed of the image to take the region's look from.")
@region_option
@_blend_options
def transfer(model, target, reference, region, layers, feather, truncation_psi, parser, out, scale, overwrite) -> None:
    """Local attribute transfer (ITAN): the reference's look inside REGION, the target elsewhere."""
    outputs = ImageOutputs(out, 1, overwrite, region=True)
    G = load_generator(model, operation="transfer")
    check_scale(scale, G)
    result = rg.transfer(
        G, target, reference, region, layers=layers, feather=feather, truncation_psi=truncation_psi, parser=parser
    )
    before = _plain(G, [target, reference], truncation_psi)
    click.echo(f"wrote {describe(outputs.save(result, scale=scale, before=before))} (target, reference, result)")


@click.command(epilog=EPILOG_SALIENCY)
@model_option()
@seed_option("Seed of the image.")
@region_option
@click.option("--psi", "region_psi", required=True, type=psi_type("psi"), help="ψ inside the region (0 < ψ <= 100; > 1 stands out).")
@click.option("--background-psi", default=1.0, show_default=True, type=psi_type("background_psi"), help="ψ outside the region (0 < ψ <= 100).")
@_blend_options
def saliency(
    model, seed, region, region_psi, background_psi, layers, feather, truncation_psi, parser, out, scale, overwrite
) -> None:
    """Saliency control (ITAN): per-region truncation, ψ inside REGION and outside it."""
    outputs = ImageOutputs(out, 1, overwrite, region=True)
    G = load_generator(model, operation="saliency")
    check_scale(scale, G)
    result = rg.saliency(
        G, seed, region, region_psi, background_psi=background_psi, layers=layers, feather=feather,
        truncation_psi=truncation_psi, parser=parser,
    )  # fmt: skip
    before = _plain(G, [seed], truncation_psi)
    click.echo(f"wrote {describe(outputs.save(result, scale=scale, before=before))} (original, result)")


EPILOG_HYBRIDIZE = """\b
Examples:
  regiongan hybridize --model scenes-64 --seed 3 --class 0 --region-class box:0,0,32,64=2 --out out/h.png
  regiongan hybridize -m biggan/ --seed 3 --class 207 --region-class part:sky=970 --region-class rbox:0,0.5,0.5,1=1 -o out/h.png
Draws seed SEED as class --class, and each REGION=CLASS region as that class (same z; --separate-z draws
each region from seed SEED+k instead). Later regions win overlaps. Writes OUT (grid: the image as the base
class, the result), OUT_00.png, OUT_region.png and OUT.json.
"""


def _region_classes(ctx, param, values: tuple[str, ...]) -> list[tuple[str, int | str]]:
    """``("box:0,0,32,64=2", "part:sky=city")`` -> ``[("box:0,0,32,64", 2), ("part:sky", "city")]``: the
    class (index or name) after the last '='."""
    pairs = []
    for value in values:
        spec, sep, cls = value.rpartition("=")
        if not sep or not spec or not cls.strip():
            raise click.BadParameter(f"{value!r}: give REGION=CLASS, e.g. box:0,0,32,64=2 or part:sky=city", param=param)
        pairs.append((spec, CLASS.convert(cls, param, ctx)))
    if not pairs:
        raise click.BadParameter("give at least one REGION=CLASS", param=param)
    return pairs


@click.command(epilog=EPILOG_HYBRIDIZE)
@model_option()
@seed_option("Seed of the image.")
@click.option("--class", "base_class", required=True, type=CLASS, help="Class of the image outside the regions: an index or a name (e.g. meadow).")
@click.option("--region-class", "region_classes", multiple=True, required=True, callback=_region_classes, metavar="REGION=CLASS", help="A region and the class it is drawn as (repeatable).")
@click.option("--separate-z", is_flag=True, help="Draw region k from seed SEED+k+1 instead of the image's own z.")
@_blend_options
def hybridize(
    model, seed, base_class, region_classes, separate_z, layers, feather, truncation_psi, parser, out, scale, overwrite
) -> None:
    """Class hybridization (ITAN): regions of other classes inside one image of a class-conditional model."""
    outputs = ImageOutputs(out, 1, overwrite, region=True)
    G = load_generator(model)  # class-conditional models are what this command is for
    check_scale(scale, G)
    regions = [spec for spec, _ in region_classes]
    classes = [cls for _, cls in region_classes]
    codes = [seed + k + 1 for k in range(len(regions))] if separate_z else None
    result = rg.hybridize(
        G, seed, regions, classes, base_class, region_codes=codes, layers=layers, feather=feather,
        truncation_psi=truncation_psi, parser=parser,
    )  # fmt: skip
    before = rg.generate(G, seed, truncation_psi=truncation_psi, c=base_class).images
    click.echo(f"wrote {describe(outputs.save(result, scale=scale, before=before))} (base class, result)")
