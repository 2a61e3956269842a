"""SSN block resampling vs ITAN's local resample (issue #14, item 6): locality at equal In-MSE, and a figure.

    python benchmarks/ssn_vs_itan.py                              # --ssn-model faces-ssn-64 vs --model faces-64
    python benchmarks/ssn_vs_itan.py --ssn-model runs/ssn/export --samples 200
    python benchmarks/ssn_vs_itan.py --untrained-transfer        # checks the script only (see below)

Both methods vary one image inside a region and should keep the rest. For ``--samples`` images (z from
seeds 0…) and each region, the SSN (``--ssn-model``, a trained SSN model directory or shipped name)
resamples the latent blocks the region covers (:func:`regiongan.methods.ssn.resample_block_grid`) from the
z of seed 100000 + i; ITAN on the StyleGAN2 ``--model`` blends a fresh code (seed 100000 + i, its w truncated
by ψ towards w̄ — only the new code) inside the region (:func:`regiongan.methods.itan.blend_generate`).
In-/Out-MSE (CIELAB, regiongan.metrics.locality) between the original and the varied image, over the
*requested* region — so the SSN pays, as Out-MSE, for the parts of its blocks outside the region.

Regions: ``blocks`` — the image blocks that ``box:16,16,48,40`` touches on the SSN's grid (block-aligned: the
fairest case for the SSN), and ``mouth`` — ``box:20,36,44,52`` (not aligned). ITAN has knobs that set how
much the inside changes (the spatial layer range ``lo–R`` and ψ of the new code); they are swept, and the
SSN is compared with the ITAN configuration whose In-MSE is nearest (``itan@equal-in``) and with ITAN's
lowest Out-MSE among the configurations that change the inside at least as much (``itan@best-out``).

Writes ``--out-dir``/ssn_vs_itan.csv (every configuration) and ``--figures-dir``/ssn_vs_itan.png (three
images: the original with the region, three SSN variations; the StyleGAN2 original, three ITAN variations at
the equal-In-MSE configuration). Without a trained SSN model it says so and exits 0.
``--untrained-transfer`` uses ``ssn_from_stylegan2(faces-64)`` instead (no SSN training: its blocks do not
agree with each other), writing everything into ``--out-dir``; it checks the script, not the method.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from regiongan.latents import z_from_seeds
from regiongan.layer_selection import preset_ranges
from regiongan.methods.itan import blend_generate
from regiongan.methods.ssn import latent_grid_size, region_blocks, resample_block_grid
from regiongan.ops.blocks import block_masks
from regiongan.regions import Region, RegionSet, parse_region
from common import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    DOCS_IMG,
    InOut,
    add_threads,
    label_row,
    load_shipped,
    outline,
    print_table,
    print_written,
    set_threads,
    stack,
    torch_env,
    write_csv,
)

#: The ψ values of ITAN's new code in the sweep (1: as sampled; < 1 changes the inside less).
ITAN_PSIS = (0.5, 0.7, 1.0)
DONOR_SEED = 100000


# --------------------------------------------------------------------------------------------------
# Models


def load_ssn(name: str, untrained_transfer: bool, sg2):
    """``(G_ssn, label)`` or ``(None, reason)``."""
    if untrained_transfer:
        from regiongan.generators.ssn_transfer import ssn_from_stylegan2

        return ssn_from_stylegan2(sg2, block_grid=4).eval().requires_grad_(False), "untrained transfer of faces-64"
    G = load_shipped(name)
    if G is None:
        return None, (
            f"no trained SSN model {name!r} (not shipped in src/regiongan/models/ and not a path); train one "
            "(docs/ssn.md) and pass --ssn-model DIR, or --untrained-transfer to check the script"
        )
    try:
        latent_grid_size(G)
    except ValueError as e:
        return None, f"--ssn-model {name!r}: {e}"
    return G, name


# --------------------------------------------------------------------------------------------------
# Regions


def regions_for(G_ssn) -> dict[str, torch.Tensor]:
    """``name -> mask [1, 1, R, R]``: the block-aligned box and the mouth box, at the SSN's resolution."""
    r, n = G_ssn.img_resolution, latent_grid_size(G_ssn)
    s = r / 64  # the boxes are written for 64² faces
    box = parse_region(f"box:{16 * s:g},{16 * s:g},{48 * s:g},{40 * s:g}", (r, r)).mask
    masks = block_masks(n, r, r)
    aligned = masks[[i * n + j for i, j in region_blocks(G_ssn, box)]].sum(0).clamp(max=1)[None, None]
    mouth = parse_region(f"box:{20 * s:g},{36 * s:g},{44 * s:g},{52 * s:g}", (r, r)).mask
    return {"blocks": aligned, "mouth": mouth}


# --------------------------------------------------------------------------------------------------
# The two methods on a batch of seeds


def ssn_variations(G, seeds: list[int], mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(originals, varied)`` ``[B, 3, R, R]``: the blocks ``mask`` covers, from seed DONOR_SEED + i."""
    z = G.z_grid(z_from_seeds(seeds, G.z_dim))
    donors = G.z_grid(z_from_seeds([DONOR_SEED + s for s in seeds], G.z_dim))
    blocks = region_blocks(G, mask)
    with torch.no_grad():
        original = G.synthesize(G.styles(G.map(z))).image
    return original, resample_block_grid(G, z, blocks, donors).images


def itan_configs(G) -> list[tuple[str, object, float]]:
    """``(label, layers, ψ of the new code)``: every spatial range ``lo–R`` and the presets, × ITAN_PSIS."""
    res = sorted({p.resolution for p in G.control_points()})
    ranges: list[tuple[str, object]] = [(f"{lo}-{res[-1]}", (lo, res[-1])) for lo in res]
    ranges += [(name, name) for name in preset_ranges(G.img_resolution) if name != "fine"]
    return [(f"{lab} psi={psi:g}", layers, psi) for lab, layers in ranges for psi in ITAN_PSIS]


def itan_variations(G, seeds: list[int], mask: torch.Tensor, layers, psi: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(originals, varied)``: a fresh code (seed DONOR_SEED + i, truncated by ψ) blended inside ``mask``."""
    with torch.no_grad():
        ws = G.map(z_from_seeds(seeds, G.z_dim).to(G.device))
        ws_new = G.truncate(G.map(z_from_seeds([DONOR_SEED + s for s in seeds], G.z_dim).to(G.device)), psi)
        original = G.synthesize(G.styles(ws)).image
        regions = RegionSet.foreground_background(Region(mask.expand(len(seeds), -1, -1, -1)))
        varied = blend_generate(G, [ws, ws_new], regions, space="w+", layers=layers).image
    return original, varied


# --------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(G_ssn, G_sg2, regions: dict[str, torch.Tensor], samples: int, batch: int) -> list[dict]:
    acc = InOut()
    configs = itan_configs(G_sg2)
    for start in range(0, samples, batch):
        seeds = list(range(start, min(start + batch, samples)))
        for rname, mask in regions.items():
            masks = mask.expand(len(seeds), -1, -1, -1)
            acc.add(("ssn", rname, "blocks"), *ssn_variations(G_ssn, seeds, mask), masks)
            for label, layers, psi in configs:
                acc.add(("itan", rname, label), *itan_variations(G_sg2, seeds, mask, layers, psi), masks)
        print(f"  {seeds[-1] + 1}/{samples} images", file=sys.stderr)
    rows = []
    for (method, rname, config), i_v, o_v in acc.valid():
        rows.append({
            "method": method, "region": rname, "config": config, "n": len(i_v),
            "in_mse": float(i_v.mean()), "out_mse": float(o_v.mean()),
            "in_out": float(i_v.mean() / o_v.mean()) if float(o_v.mean()) > 0 else math.inf,
        })  # fmt: skip
    return rows


def matched(rows: list[dict]) -> list[dict]:
    """Per region: the SSN row, ITAN's nearest-In-MSE row (log distance) and ITAN's lowest Out-MSE among
    rows with In-MSE ≥ the SSN's (if any)."""
    out = []
    for rname in dict.fromkeys(r["region"] for r in rows):
        ssn = next(r for r in rows if r["region"] == rname and r["method"] == "ssn")
        itan = [r for r in rows if r["region"] == rname and r["method"] == "itan" and r["in_mse"] > 0]
        out.append({**ssn, "match": "ssn"})
        if not itan:
            continue
        near = min(itan, key=lambda r: abs(math.log(r["in_mse"] / ssn["in_mse"])))
        out.append({**near, "match": "itan@equal-in"})
        stronger = [r for r in itan if r["in_mse"] >= ssn["in_mse"]]
        if stronger:
            out.append({**min(stronger, key=lambda r: r["out_mse"]), "match": "itan@best-out"})
    return out


# --------------------------------------------------------------------------------------------------
# Figure


def figure(G_ssn, G_sg2, regions: dict[str, torch.Tensor], configs: dict[str, tuple], label: str, path: Path) -> Path:
    """Per region and seed 3, 7: the SSN original (region outlined) and 3 block resamplings; the StyleGAN2
    original and 3 ITAN resamples at the equal-In-MSE configuration."""
    rows = []
    for rname, mask in regions.items():
        layers, psi, cfg = configs[rname]
        for seed in (3, 7):
            seeds = [seed] * 3
            z = G_ssn.z_grid(z_from_seeds(seeds, G_ssn.z_dim))
            donors = G_ssn.z_grid(z_from_seeds([DONOR_SEED + seed + k for k in range(3)], G_ssn.z_dim))
            ssn = resample_block_grid(G_ssn, z[:1], region_blocks(G_ssn, mask), donors).images
            with torch.no_grad():
                orig_ssn = G_ssn.synthesize(G_ssn.styles(G_ssn.map(z[:1]))).image
                ws = G_sg2.map(z_from_seeds([seed], G_sg2.z_dim).to(G_sg2.device)).expand(3, -1, -1)
                ws_new = G_sg2.truncate(G_sg2.map(z_from_seeds([DONOR_SEED + seed + k for k in range(3)], G_sg2.z_dim)), psi)
                orig_sg2 = G_sg2.synthesize(G_sg2.styles(ws[:1])).image
                reg = RegionSet.foreground_background(Region(mask.expand(3, -1, -1, -1)))
                itan = blend_generate(G_sg2, [ws, ws_new], reg, space="w+", layers=layers).image
            images = torch.cat([outline(orig_ssn, mask), ssn, outline(orig_sg2, mask), itan])
            names = [f"SSN ({label})", "blocks", "blocks", "blocks", "StyleGAN2", f"ITAN {cfg}", "", ""]
            rows.append(label_row(images, [f"{rname}: {names[0]}"] + names[1:]))
    path.parent.mkdir(parents=True, exist_ok=True)
    stack(rows).save(path)
    return path


def _itan_setting(G_sg2, config: str) -> tuple[object, float]:
    """``"16-64 psi=0.7"`` -> ``(layers, ψ)`` as :func:`itan_configs` made it."""
    for label, layers, psi in itan_configs(G_sg2):
        if label == config:
            return layers, psi
    raise ValueError(f"unknown ITAN configuration {config!r}")


# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ssn-model", default="faces-ssn-64", help="a trained SSN: shipped name or model directory")
    ap.add_argument("--model", default="faces-64", help="the StyleGAN2 that ITAN runs on")
    ap.add_argument("--untrained-transfer", action="store_true", help="use ssn_from_stylegan2(--model): checks the script only")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--out-dir", default="out/ssn_vs_itan", help="where the CSV goes")
    ap.add_argument("--figures-dir", default=str(DOCS_IMG))
    add_threads(ap)
    args = ap.parse_args()
    set_threads(args.threads)

    G_sg2 = load_shipped(args.model)
    if G_sg2 is None:
        print(f"skipping: the StyleGAN2 {args.model!r} for ITAN is not available (not shipped and not a path)")
        return
    G_ssn, label = load_ssn(args.ssn_model, args.untrained_transfer, G_sg2)
    if G_ssn is None:
        print(f"skipping: {label}")
        return
    if G_ssn.img_resolution != G_sg2.img_resolution:
        print(f"skipping: the SSN makes {G_ssn.img_resolution}² images and {args.model} {G_sg2.img_resolution}²; compare models of one size")
        return
    out_dir = Path(args.out_dir)
    figures_dir = out_dir if args.untrained_transfer else Path(args.figures_dir)
    regions = regions_for(G_ssn)
    print(f"SSN {label} (grid {G_ssn.block_grid}) vs ITAN on {args.model}, {args.samples} images; {torch_env()}", file=sys.stderr)
    rows = evaluate(G_ssn, G_sg2, regions, args.samples, args.batch)
    written = [write_csv(out_dir / "ssn_vs_itan.csv", rows)]
    summary = matched(rows)
    print_table(summary, [("region", "8s", "region"), ("match", "15s", "match"), ("config", "16s", "config"), ("n", "4d", "n"),
                          ("In-MSE", "9.2f", "in_mse"), ("Out-MSE", "9.2f", "out_mse"), ("In/Out", "8.2f", "in_out")])  # fmt: skip
    settings = {}
    for rname in regions:
        eq = next((r for r in summary if r["region"] == rname and r["match"] == "itan@equal-in"), None)
        config = eq["config"] if eq else itan_configs(G_sg2)[0][0]
        settings[rname] = (*_itan_setting(G_sg2, config), config)
    written.append(figure(G_ssn, G_sg2, regions, settings, label, figures_dir / "ssn_vs_itan.png"))
    print_written(written)


if __name__ == "__main__":
    main()
