"""ITAN (regiongan.methods.itan): cost, locality evaluation, and the documentation figures.

    python benchmarks/itan.py                  # cost: ITAN (K = 2, 4) vs a plain forward pass, same process
    python benchmarks/itan.py --eval           # In/Out-MSE vs the spatial layer range (issue #4, item 5)
    python benchmarks/itan.py --figures        # regenerate docs/img/itan_*.png

Model: ``--model`` (default ``faces-64`` when shipped). The cost mode falls back to a random StyleGAN2 of
faces-64's widths (z/w 256, 4 mapping layers, channel_base 8192, channel_max 256); so do the figures, and
the docs say so. The evaluation needs a trained model (random weights have no parts) and, for the part
regions, a part parser; without them it says what is missing and skips (exit code 0).

Cost: per configuration the median over ``--repeats`` runs of the whole call (mapping, styles, synthesis),
configurations interleaved within each repeat so that background load hits all of them alike. The ratio
ITAN / plain is what matters (goal ≤ 1.3×).

Evaluation: for ``--samples`` images (z from seeds 0…), one fresh code per image (seed 100000 + i) is
blended inside the region; the region comes from a pluggable *region source* ``images -> masks [N,1,H,W]``
computed on the original image (``parser:eyes`` / ``parser:mouth`` / ``parser:hair`` from
``regiongan.parser.load_parser('parser-faces-64').part_masks``, and a fixed ``box``). In/Out-MSE
(CIELAB, regiongan.metrics.locality) between original and edited image, per layer range ``lo–R`` (the
layers at resolution ≥ lo are spatial) and the presets; mean over images with a non-empty region. Writes
CSV and a plot (matplotlib if installed, else drawn with PIL).
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, ImageDraw

from regiongan.latents import z_from_seeds
from regiongan.layer_selection import preset_ranges
from regiongan.methods.itan import blend_generate, resample, saliency, transfer
from regiongan.metrics.locality import change_heatmap, heatmap_image
from regiongan.regions import Region, RegionSet, parse_region
from common import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    InOut,
    add_output_dirs,
    add_threads,
    dashed_line,
    hconcat,
    interleaved,
    label_row,
    load_parser_or_none,
    log_decades,
    method_parser,
    model_or_random,
    outline,
    print_table,
    print_written,
    pyplot,
    random_stylegan2,
    set_threads,
    stack,
    torch_env,
    trained_or_skip,
    write_csv,
)

RegionSource = Callable[[torch.Tensor], torch.Tensor]  # images [N, 3, H, W] -> masks [N, 1, H, W]


# --------------------------------------------------------------------------------------------------
# Models


def random_faces64_like():
    return random_stylegan2(z_dim=256, w_dim=256, img_resolution=64, mapping_layers=4, channel_base=8192, channel_max=256)


def model_or_fallback(name: str) -> tuple[torch.nn.Module, str, bool]:
    """``(G, label, trained)``: the model, else a random one of faces-64's widths."""
    return model_or_random(
        name, random_faces64_like, "a random StyleGAN2 with faces-64's widths", "random StyleGAN2 (faces-64 widths)"
    )


# --------------------------------------------------------------------------------------------------
# Cost


def strips(k: int, size: int, batch: int, feather: float = 2.0) -> RegionSet:
    """K vertical strips (feathered): a partition with soft edges, the general blended case."""
    edges = [round(i * size / k) for i in range(k + 1)]
    regions = [Region.box(edges[i], 0, edges[i + 1], size, (size, size)) for i in range(1, k)]
    return RegionSet.from_regions(regions).feather(feather).expand(batch)


def bench_cost(G, batch_sizes: list[int], ks: list[int], repeats: int) -> list[dict]:
    res = G.img_resolution
    rows = []
    for batch in batch_sizes:
        gen = torch.Generator().manual_seed(1)
        zs = [torch.randn(batch, G.z_dim, generator=gen) for _ in range(max(ks))]
        configs: dict[str, Callable[[], torch.Tensor]] = {
            "plain": lambda: G.synthesize(G.styles(G.map(zs[0]))).image,
        }
        for k in ks:
            regions = strips(k, res, batch)
            configs[f"itan K={k} all"] = lambda k=k, r=regions: blend_generate(G, zs[:k], r).image
            configs[f"itan K={k} fine"] = lambda k=k, r=regions: blend_generate(G, zs[:k], r, layers="fine").image
        with torch.no_grad():
            times, _ = interleaved(configs, repeats)
        plain = statistics.median(times["plain"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append({"batch": batch, "config": name, "ms_per_image": med * 1000 / batch, "ratio": med / plain})
    return rows


# --------------------------------------------------------------------------------------------------
# Locality evaluation


def box_source(spec: str, size: int) -> RegionSource:
    mask = parse_region(spec, (size, size)).mask

    def source(images: torch.Tensor) -> torch.Tensor:
        return mask.expand(images.shape[0], -1, -1, -1)

    return source


def parser_sources(name: str = "parser-faces-64") -> dict[str, RegionSource]:
    """``parser:eyes|mouth|hair`` sources, or {} (with a message) when the parser is not available."""
    parser = load_parser_or_none(name)
    if parser is None:
        return {}
    parts = {"eyes": ["eye_left", "eye_right"], "mouth": ["mouth"], "hair": ["hair"]}
    return {f"parser:{k}": (lambda images, v=v: parser.part_masks(images, v)) for k, v in parts.items()}


def layer_ranges(G) -> list[tuple[str, object]]:
    res = sorted({p.resolution for p in G.control_points()})
    ranges: list[tuple[str, object]] = [(f"{lo}-{res[-1]}", (lo, res[-1])) for lo in res]
    for name, (lo, hi) in preset_ranges(G.img_resolution).items():
        if name != "fine":  # fine is one of the lo-R ranges already
            ranges.append((f"{name} {lo}-{hi}", name))
    return ranges


def evaluate(G, sources: dict[str, RegionSource], samples: int, batch: int) -> list[dict]:
    ranges = layer_ranges(G)
    acc = InOut()
    with torch.no_grad():
        for start in range(0, samples, batch):
            idx = list(range(start, min(start + batch, samples)))
            z = z_from_seeds(idx, G.z_dim)
            z_new = z_from_seeds([100000 + i for i in idx], G.z_dim)
            original = G.synthesize(G.styles(G.map(z))).image
            for sname, source in sources.items():
                masks = source(original).clamp(0, 1)
                regions = RegionSet(torch.cat([1 - masks, masks], dim=1), names=("background", "region"))
                for rname, layers in ranges:
                    edited = blend_generate(G, [z, z_new], regions, layers=layers).image
                    acc.add((sname, rname), original, edited, masks)
            print(f"  {min(start + batch, samples)}/{samples} images", file=sys.stderr)
    rows = []
    for (sname, rname), i_v, o_v in acc.valid():
        rows.append({
            "region": sname, "layers": rname, "n": len(i_v),
            "in_mse": float(i_v.mean()), "in_std": float(i_v.std()) if len(i_v) > 1 else 0.0,
            "out_mse": float(o_v.mean()), "out_std": float(o_v.std()) if len(o_v) > 1 else 0.0,
            "ratio": float(i_v.mean() / o_v.mean()) if float(o_v.mean()) > 0 else math.inf,
        })  # fmt: skip
    return rows


def plot_eval(rows: list[dict], path: Path) -> None:
    """In-MSE (solid) and Out-MSE (dashed) vs layer range, one colour per region, log y axis."""
    regions = list(dict.fromkeys(r["region"] for r in rows))
    labels = list(dict.fromkeys(r["layers"] for r in rows))
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for reg in regions:
            rs = [r for r in rows if r["region"] == reg]
            (line,) = ax.plot([r["layers"] for r in rs], [r["in_mse"] for r in rs], "-o", label=f"{reg} In")
            ax.plot([r["layers"] for r in rs], [r["out_mse"] for r in rs], "--o", color=line.get_color(), label=f"{reg} Out")
            # (the preset points at the right end are joined to the ranges only by matplotlib's line)
        ax.set_yscale("log")
        ax.set_xlabel("spatial layers (resolutions)")
        ax.set_ylabel("MSE (CIELAB)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        return
    _pil_plot(rows, regions, labels, path)


def _pil_plot(rows: list[dict], regions: list[str], labels: list[str], path: Path) -> None:
    w, h, left, right, top, bottom = 900, 480, 70, 180, 20, 70
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    vals = [v for r in rows for v in (r["in_mse"], r["out_mse"]) if v > 0 and math.isfinite(v)]
    lo, hi = log_decades(vals)
    hi = max(hi, lo + 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i + 0.5) * (w - left - right) / len(labels)
        y = top + (hi - math.log10(max(v, 10.0**lo))) * (h - top - bottom) / (hi - lo)
        return x, y

    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for e in range(lo, hi + 1):
        _, y = xy(0, 10.0**e)
        d.line([left - 4, y, left, y], fill="black")
        d.text((8, y - 6), f"1e{e}", fill="black")
    for i, lab in enumerate(labels):
        x, _ = xy(i, 1.0)
        d.line([x, h - bottom, x, h - bottom + 4], fill="black")
        d.text((x - 3 * len(lab), h - bottom + 8 + 12 * (i % 2)), lab, fill="black")
    d.text((left, h - 22), "spatial layers (resolutions); solid = In-MSE, dashed = Out-MSE (CIELAB, log scale)", fill="black")
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for j, reg in enumerate(regions):
        col = colours[j % len(colours)]
        rs = {r["layers"]: r for r in rows if r["region"] == reg}
        for key, dashed in (("in_mse", False), ("out_mse", True)):
            pts = [xy(i, rs[lab][key]) for i, lab in enumerate(labels) if lab in rs]
            groups = [lab.split()[0] if " " in lab else "range" for lab in labels if lab in rs]
            segments = [(a, b) for a, b, ga, gb in zip(pts, pts[1:], groups, groups[1:]) if ga == gb == "range"]
            for a, b in segments:
                if dashed:
                    dashed_line(d, a, b, fill=col)
                else:
                    d.line([a, b], fill=col, width=2)
            for x, y in pts:
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=col)
        d.line([w - right + 10, top + 10 + 18 * j, w - right + 30, top + 10 + 18 * j], fill=col, width=3)
        d.text((w - right + 36, top + 4 + 18 * j), reg, fill="black")
    img.save(path)


# --------------------------------------------------------------------------------------------------
# Figures for docs/itan.md


def figures(G, label: str, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    res = G.img_resolution
    size = (res, res)
    s = res / 64  # the boxes below are written for 64² faces
    box = lambda x0, y0, x1, y1: Region.box(x0 * s, y0 * s, x1 * s, y1 * s, size)  # noqa: E731
    upper, mouth = box(16, 16, 48, 40), box(20, 36, 44, 52)
    written = []
    with torch.no_grad():
        z = z_from_seeds([3], G.z_dim)
        original = G.synthesize(G.styles(G.map(z))).image
        # local resample: all layers vs fine layers
        rows = []
        for layers in ("all", "fine"):
            out = resample(G, z, upper, variations=6, layers=layers, variation_seed=0)
            rows.append(label_row(torch.cat([outline(original, upper.mask[:1]), out.images]), [f"original ({label})"] + [f"layers={layers}"] * 6))
        p = out_dir / "itan_resample.png"
        stack(rows).save(p)
        written.append(p)
        # change heatmaps of the first variation
        heats = []
        for layers in ("all", "fine"):
            v = resample(G, z, upper, variations=1, layers=layers, variation_seed=0).images
            heats.append(heatmap_image(change_heatmap(original, v), vmax=60.0, scale=3))
        p = out_dir / "itan_heatmap.png"
        stack([hconcat(heats, ["dE (CIE76), layers=all", "dE (CIE76), layers=fine"])]).save(p)
        written.append(p)
        # transfer: target 3, reference 11, mouth box
        zr = z_from_seeds([11], G.z_dim)
        reference = G.synthesize(G.styles(G.map(zr))).image
        results = [transfer(G, z, zr, mouth, layers=lay, feather=1.0).images for lay in ("coarse", "middle", "fine", "all")]
        p = out_dir / "itan_transfer.png"
        label_row(
            torch.cat([outline(original, mouth.mask[:1]), reference, *results]),
            ["target", "reference", "coarse", "middle", "fine", "all"],
        ).save(p)
        written.append(p)
        # saliency: region ψ, background ψ
        two = RegionSet.foreground_background(upper)
        settings = [(1.0, 1.0), (1.0, 1.6), (1.0, 0.4), (0.5, 1.5)]
        imgs = [saliency(G, z, two, [bg, fg], feather=2.0).images for bg, fg in settings]
        p = out_dir / "itan_saliency.png"
        label_row(torch.cat(imgs), [f"in {fg} / out {bg}" for bg, fg in settings]).save(p)
        written.append(p)
    return written


# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = method_parser(__doc__, "In/Out-MSE vs layer range (needs a trained model)", "regenerate docs/img/itan_*.png")
    add_threads(ap)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--eval-batch", type=int, default=25)
    ap.add_argument("--box", default="box:16,16,48,40", help="the free box region of --eval")
    ap.add_argument("--parser", default="parser-faces-64")
    add_output_dirs(ap, "out/itan_eval", "--eval: where the CSV and the plot go")
    args = ap.parse_args()
    set_threads(args.threads)

    if args.eval:
        G = trained_or_skip(args.model, "A random model has no parts to measure; train or convert a model and pass --model.")
        if G is None:
            return
        sources = parser_sources(args.parser)
        sources["box"] = box_source(args.box, G.img_resolution)
        print(f"evaluating {list(sources)} on {args.samples} samples of {args.model}", file=sys.stderr)
        rows = evaluate(G, sources, args.samples, args.eval_batch)
        out = Path(args.out_dir)
        write_csv(out / "itan_locality.csv", rows)
        plot_eval(rows, out / "itan_locality.png")
        print_table(rows, [("region", "14s", "region"), ("layers", "16s", "layers"), ("n", "4d", "n"),
                           ("In-MSE", "9.2f", "in_mse"), ("Out-MSE", "9.2f", "out_mse"), ("In/Out", "7.2f", "ratio")])  # fmt: skip
        print(f"wrote {out / 'itan_locality.csv'} and {out / 'itan_locality.png'}")
        return

    G, label, trained = model_or_fallback(args.model)
    if args.figures:
        print_written(figures(G, args.model if trained else "random model", Path(args.figures_dir)))
        return

    batches = [int(b) for b in args.batches.split(",")]
    print(f"{label}, {G.img_resolution}², {torch_env()}; median of {args.repeats}")
    rows = bench_cost(G, batches, [2, 4], args.repeats)
    print(f"{'batch':>5s}  {'config':18s} {'ms/image':>9s} {'× plain':>8s}")
    for r in rows:
        print(f"{r['batch']:5d}  {r['config']:18s} {r['ms_per_image']:9.2f} {r['ratio']:8.2f}")


if __name__ == "__main__":
    main()
