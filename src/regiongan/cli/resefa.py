"""ReSeFa commands (``rg.find_directions``, ``rg.load_directions``, ``rg.edit``): ``regiongan directions``
and ``regiongan edit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import regiongan as rg

from .. import validate
from ..latents import DIRECTION_SPACES
from ..limits import check_count
from ..methods.resefa import directions_summary
from ..methods.resefa.solvers import check_tau
from .common import (
    SEED,
    SEEDS,
    Checked,
    check_scale,
    count_type,
    image_out_option,
    layers_option,
    load_generator,
    model_option,
    out_option,
    overwrite_option,
    parser_option,
    region_option,
    scale_option,
    truncation_option,
)
from .output import ImageOutputs, OutputError, OutputPlan, describe

EPILOG_DIRECTIONS = """\b
Examples:
  regiongan directions --model faces-64 --region box:16,36,48,56 --samples 8 --out dirs/mouth-box.safetensors
  regiongan directions -m faces-64 -r part:mouth --samples 16 --k 5 --out dirs/mouth.safetensors
  regiongan directions -m faces-64 -r part:eyes --space w+ --layers 8-32 --solver woodbury -o dirs/eyes.safetensors
  regiongan directions -m biggan/ -r box:0,0,128,48 --space class --class 970 --samples 8 -o dirs/sky-class.safetensors
Computes the region Grams A (inside) and B (outside) from forward-mode Jacobians of --samples images (seeds
--seed …) and solves A n = λ (B + τ·tr(B) I) n (see docs/resefa.md). part: regions run the part parser
(--parser, default: the model's companion parser) on every sample and use that sample's mask. --space: w, w+
and z for StyleGAN2; z and class (the class embedding, with --class) for BigGAN-deep, whose ws rows are not a
latent space. Writes one .safetensors file (vectors, eigenvalues, the region, and JSON metadata); then
`regiongan edit --directions FILE`.
"""

EPILOG_EDIT = """\b
Examples:
  regiongan edit --directions dirs/mouth.safetensors --index 0 --strengths=-3,-1.5,0,1.5,3 --seeds 0-5 --out out/strip.png
  regiongan edit -d dirs/mouth.safetensors -i 1 --strengths=-6,0,6 --seeds 3,7 --layers fine -o out/fine.png
Writes OUT (grid: one row per seed, one column per strength), OUT_00.png … (one per image, row by row),
OUT_region.png (the region the directions were computed for) and OUT.json + OUT.safetensors (the recipe,
with the direction inside; `regiongan replay OUT.json --out again.png` reproduces the images). Strengths
are distances along the unit direction in the latent space (w' = w + t·n; in the class space e' = e + t·n).
--class defaults to the class the directions were found with.
"""


class _Strengths(click.ParamType):
    """``"-3,-1.5,0"`` -> ``[-3.0, -1.5, 0.0]``, checked by the API's rule (:func:`regiongan.validate.strengths`)."""

    name = "FLOATS"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[float]:
        if isinstance(value, list):
            return value
        try:
            values = [float(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"cannot read {value!r}; use comma-separated numbers, e.g. --strengths=-3,-1.5,0,1.5,3", param, ctx)
        try:
            return validate.strengths(values)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _progress(done: int, total: int) -> None:
    click.echo(f"  sample {done}/{total}", err=True)


@click.command(epilog=EPILOG_DIRECTIONS)
@model_option()
@region_option
@click.option("--samples", default=8, show_default=True, type=count_type("samples", "samples"), help="Images whose Grams are averaged (limit: samples).")
@click.option("--seed", "-s", default=0, show_default=True, type=SEED, help="Seed of the first sample.")
@click.option("--space", default="w", show_default=True, type=click.Choice(list(DIRECTION_SPACES)), help="Latent space of the directions (class: a conditional BigGAN's class embedding).")
@layers_option(default=None, help="W+ rows moved: all|coarse|middle|fine|LO-HI|names  [default: all]")
@click.option("--k", "-k", "k", default=10, show_default=True, type=click.IntRange(min=1), help="Number of directions.")
@click.option("--tau", default=1e-3, show_default=True, type=Checked("TAU", float, check_tau), help="Regulariser α = τ·tr(B) (0 <= τ <= 1e6).")
@click.option("--solver", default="cholesky", show_default=True, type=click.Choice(["cholesky", "woodbury"]))
@click.option("--rank", default=None, type=click.IntRange(min=1), help="Woodbury only: keep this many singular values of J_b.")
@truncation_option(help="Truncation ψ of the samples.")
@click.option("--class", "class_idx", default=None, type=int, help="Class index of the samples (conditional models only).")
@click.option("--downsample", default=None, type=click.IntRange(min=1), help="Area-average images to this side first.")
@click.option("--chunk", default=32, show_default=True, type=click.IntRange(min=1), help="Basis vectors per vmapped jvp.")
@click.option(
    "--precision", default="fp32", show_default=True, type=click.Choice(["auto", "fp32", "bf16"]),
    help="Tangent precision (StyleGAN2): bf16 about 2x faster on CPUs with native bf16, directions within |cos| 0.99 of fp32; auto = bf16 only there.",
)  # fmt: skip
@parser_option
@out_option("Output .safetensors file.")
@overwrite_option
def directions(
    model, region, samples, seed, space, layers, k, tau, solver, rank, truncation_psi, class_idx, downsample, chunk,
    precision, parser, out, overwrite,
) -> None:
    """Find local latent directions for REGION (ReSeFa)."""
    path = Path(out)
    if path.suffix != ".safetensors":
        raise OutputError(f"--out {out}: directions are a .safetensors file; e.g. --out {path.with_suffix('.safetensors')}")
    plan = OutputPlan(overwrite)
    plan.add(path)
    plan.check()
    G = load_generator(model)
    dirs = rg.find_directions(
        G, region, samples=samples, seed=seed, space=space, layers=layers, k=k, tau=tau, solver=solver,
        truncation_psi=truncation_psi, c=class_idx, downsample=downsample, chunk=chunk, parser=parser, rank=rank, progress=_progress,
        precision=precision,
    )  # fmt: skip
    plan.write(path, lambda tmp: dirs.save(tmp))
    plan.commit()
    click.echo(json.dumps(directions_summary(dirs), indent=2))
    click.echo(f"wrote {path} ({dirs.k} directions in {space}, d={dirs.dim})")


@click.command(epilog=EPILOG_EDIT)
@click.option("--directions", "-d", "directions_path", required=True, help="File from `regiongan directions`.")
@click.option("--index", "-i", default=0, show_default=True, type=click.IntRange(min=0), help="Which direction (0 = most local).")
@click.option("--strengths", default="-3,-1.5,0,1.5,3", show_default=True, type=_Strengths(), help="Comma-separated distances t (w' = w + t·n; |t| <= 1000).")
@click.option("--seeds", "-s", default="0-5", show_default=True, type=SEEDS, help="Seeds: '0-5', '1,5,9'.")
@model_option(default=None, help="Model [default: the one the directions were computed on].")
@truncation_option(default=None, help="Truncation ψ [default: the directions' ψ].")
@layers_option(default=None, help="W directions only: apply them to these layers instead.")
@click.option("--class", "class_idx", default=None, type=int, help="Class index (conditional models) [default: the directions' class].")
@image_out_option()
@scale_option
@overwrite_option
def edit(directions_path, index, strengths, seeds, model, truncation_psi, layers, class_idx, out, scale, overwrite) -> None:
    """Edit images along one ReSeFa direction: a grid of seeds x strengths, and its recipe."""
    dirs = rg.load_directions(directions_path)
    try:
        validate.integer(index, "index (which direction)", 0, dirs.k - 1)  # the rule rg.edit applies
    except ValueError as e:
        raise click.BadParameter(f"{e}: the file holds {dirs.k} directions", param_hint="'--index'") from None
    check_count(len(seeds) * len(strengths), "images", f"the number of images ({len(seeds)} seeds x {len(strengths)} strengths)")
    region = dirs.region[0, 0] if dirs.region is not None else None
    outputs = ImageOutputs(out, len(seeds) * len(strengths), overwrite, region=region is not None, inputs=[directions_path])
    model_name = model or dirs.model.get("name")
    if not model_name:
        raise click.UsageError("the directions file does not name its model; pass --model")
    G = load_generator(model_name)
    check_scale(scale, G)
    if class_idx is None and getattr(G, "c_dim", 0) > 0:
        found = dirs.meta.get("class")  # the class the directions were found with, when it was one index
        class_idx = found if isinstance(found, int) and not isinstance(found, bool) else None
    result = rg.edit(
        G, seeds, dirs, index=index, strengths=strengths, layers=layers, truncation_psi=truncation_psi, c=class_idx
    )
    if region is not None and tuple(region.shape) != (G.img_resolution, G.img_resolution):
        region = None  # directions found at another resolution: no mask at this image size
    written = outputs.save(result, scale=scale, region=region)
    click.echo(
        f"wrote {describe(written)} ({len(seeds)} seeds x {len(strengths)} strengths, direction {index}, "
        f"λ = {float(dirs.eigenvalues[index]):.4g})"
    )
