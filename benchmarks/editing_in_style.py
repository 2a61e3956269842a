"""Editing in Style (regiongan.methods.editing_in_style): cost, locality evaluation, figures.

    python benchmarks/editing_in_style.py                # speed: catalog of 1,000 samples; transfer vs forward
    python benchmarks/editing_in_style.py --eval         # In/Out-MSE over λ and ε sweeps (issue #5, item 5)
    python benchmarks/editing_in_style.py --figures      # regenerate docs/img/eis_*.png

Model: ``--model`` (default ``faces-64`` when shipped, or any path ``load_model`` reads). The speed mode
and the figures fall back to a *random* StyleGAN2 with the widths of the faces-64 training run
(z/w 256, 4 mapping layers, channels 4:256 8:256 16:128 32:64 64:32) — the cost does not depend on the
weights; the figures then say PLACEHOLDER on them. The evaluation needs a trained model (random weights
have no parts); without one it says so and exits 0.

Speed: wall and CPU time of ``build_catalog`` (1,000 samples, K = 16, defaults) — goal < 60 s on the
2-core CPU — and the median cost (wall and process CPU time; with one thread CPU time is what an idle
machine would take) of a part transfer vs one plain forward pass (mapping + styles + synthesis) at
batch 1 and 8, configurations interleaved within each repeat so background load hits both alike. "A part
transfer" is the edit itself (:func:`edit`: model check, queries, both mappings, Eq. 3, one synthesis);
the registered ``transfer_part`` also checks its inputs, records its recipe and reads the part mask from the
same synthesis pass (its own row).

Evaluation: ``--pairs`` target/reference pairs (targets z from seeds 0…, references from seeds 100000…),
for each part (eyes, nose, mouth, hair — catalog names; with ``--parser`` the catalog is built with the
parser and its clusters are named automatically), sweep λ (simultaneous, Eq. 4) and ε (sequential, Eq. 5,
ρ/(1+ρ) = 0.1). In-MSE / Out-MSE (CIELAB, regiongan.metrics.locality) between target and result inside
and outside the ROI of the *target*: the ROI from the catalog clusters (as in the paper: the part's
clusters of the target's catalog-layer activations, upsampled, thresholded at 0.5) and, with a parser,
from the parser's part mask. Mean over the pairs whose ROI is non-empty. Writes ``eis_locality.csv``,
``eis_locality.png`` (In vs Out, one panel per part; matplotlib if installed, else drawn with PIL) and
``eis_verdict.json``: per part and ROI source, at how many sequential points the sequential In-MSE beats
the simultaneous curve at the same Out-MSE (log-log interpolation) — "sequential has the better
trade-off" holds for a part when it wins at most of them.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from regiongan.images import make_grid
from regiongan.latents import z_from_seeds
from regiongan.methods.editing_in_style import (
    Catalog,
    PartSpec,
    build_catalog,
    load_catalog,
    part_queries,
    transfer_part,
    transfer_styles,
)
from regiongan.previews import cluster_preview
from regiongan.metrics.locality import change_heatmap, heatmap_image
from common import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    InOut,
    add_output_dirs,
    add_threads,
    caption,
    clocked,
    dashed_line,
    interleaved,
    load_parser_or_none,
    log_decades,
    method_parser,
    model_or_random,
    print_table,
    print_written,
    pyplot,
    random_stylegan2,
    set_threads,
    torch_env,
    trained_or_skip,
    write_csv,
    write_json,
)

PARTS = ("eyes", "nose", "mouth", "hair")
PARSER_PARTS = {"eyes": ["eye_left", "eye_right"], "nose": ["nose"], "mouth": ["mouth"], "hair": ["hair"]}
LAMBDAS = (0.5, 1, 2, 4, 8, 16, 32, 64)
EPSILONS = (0.5, 1, 2, 5, 10, 20, 50, 100)
PLACEHOLDER = "PLACEHOLDER: random StyleGAN2 with faces-64 widths (no trained model yet)"


# --------------------------------------------------------------------------------------------------
# Models


def random_faces64_like():
    """Same architecture as the faces-64 training run (runs/faces64/train_config.json), random weights."""
    return random_stylegan2(
        z_dim=256, w_dim=256, img_resolution=64, mapping_layers=4, channel_base=16384, channel_max=256,
        channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32},
    )  # fmt: skip


def model_label(name: str) -> str:
    """``name``, plus how far it was trained when its config.json records it (shipped snapshots do)."""
    from regiongan.checkpoints import shipped_model_dir

    path = Path(name) if Path(name).exists() else shipped_model_dir(name)
    try:
        extra = json.loads((Path(path) / "config.json").read_text()).get("extra") or {}
        kimg, planned = extra["kimg"], (extra.get("train_config") or {}).get("kimg")
        return f"{name} ({kimg:g} kimg" + (f" of {planned:g} planned" if planned else "") + ")"
    except (OSError, TypeError, KeyError, ValueError):
        return name


def model_or_fallback(name: str) -> tuple[torch.nn.Module, str, bool]:
    """``(G, label, trained)``: the model (labelled with its training progress), else a random one."""
    G, label, trained = model_or_random(
        name, random_faces64_like, "a random StyleGAN2 with faces-64's widths", "random StyleGAN2 (faces-64 widths)"
    )
    return G, (model_label(name) if trained else label), trained


def parser_or_none(name: str | None):
    return load_parser_or_none(name, failure="no part parser: cannot load")


def edit(G, zt: torch.Tensor, zr: torch.Tensor, part: PartSpec, cat: Catalog, method: str = "sequential", **query) -> torch.Tensor:
    """The part transfer itself, ``[N, 3, R, R]``: model check, queries, both mappings, Eq. 3 and one
    synthesis pass (what ``transfer_part`` computes, without its input checks and recipe)."""
    cat.check_model(G)
    queries = part_queries(cat, part, method, **query)
    return transfer_styles(G, G.map(zt), G.map(zr), queries).image


# --------------------------------------------------------------------------------------------------
# Speed


def bench_speed(G, samples: int, k: int, repeats: int, batches: list[int]) -> dict:
    cat, catalog_s, catalog_cpu = clocked(lambda: build_catalog(G, samples=samples, k=k, progress=False))
    part = [int(torch.tensor(cat.info["cluster_fraction"]).argmin())]  # a small cluster, like a part
    rows = []
    with torch.no_grad():
        for batch in batches:
            gen = torch.Generator().manual_seed(1)
            zt, zr = torch.randn(batch, G.z_dim, generator=gen), torch.randn(batch, G.z_dim, generator=gen)
            configs = {
                "plain forward": lambda: G.synthesize(G.styles(G.map(zt))).image,
                "transfer sequential": lambda: edit(G, zt, zr, part, cat),
                "transfer simultaneous": lambda: edit(G, zt, zr, part, cat, method="simultaneous"),
                "transfer_part (+ extras)": lambda: transfer_part(G, zt, zr, part, cat).images,
            }
            times, cpu = interleaved(configs, repeats)
            plain, plain_cpu = statistics.median(times["plain forward"]), statistics.median(cpu["plain forward"])
            for name, ts in times.items():
                med, med_cpu = statistics.median(ts), statistics.median(cpu[name])
                rows.append({
                    "batch": batch, "config": name, "ms_per_image": med * 1000 / batch, "ratio": med / plain,
                    "cpu_ms_per_image": med_cpu * 1000 / batch, "cpu_ratio": med_cpu / plain_cpu,
                })  # fmt: skip
        z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(2))
        t = time.perf_counter()
        for i in range(0, 64, 16):
            G.synthesize(G.styles(G.map(z[i : i + 16])), return_features=True)
        fwd_ms = (time.perf_counter() - t) * 1000 / 64
    kinfo = cat.info["kmeans"]
    return {
        "catalog_seconds": catalog_s, "catalog_cpu_seconds": catalog_cpu, "samples": samples, "k": k, "fit_samples": kinfo["fit_samples"],
        "kmeans_epochs": kinfo["epochs"], "forward_ms_per_image_batch16": fwd_ms,
        "forward_images": samples + kinfo["fit_samples"], "transfer": rows,
    }  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Locality evaluation


def evaluate(G, cat: Catalog, parser, parts: list, pairs: int, batch: int, lambdas, epsilons) -> list[dict]:
    res = G.img_resolution
    settings = [("simultaneous", "lam", v) for v in lambdas] + [("sequential", "eps", v) for v in epsilons]
    acc = InOut()
    with torch.no_grad():
        for start in range(0, pairs, batch):
            idx = list(range(start, min(start + batch, pairs)))
            zt, zr = z_from_seeds(idx, G.z_dim), z_from_seeds([100000 + i for i in idx], G.z_dim)
            out = G.synthesize(G.styles(G.map(zt)), return_features=True)
            target = out.image
            for part in parts:
                masks = {"catalog": cat.part_mask(out.features, part, res)}
                if parser is not None and part in PARSER_PARTS:
                    masks["parser"] = parser.part_masks(target, PARSER_PARTS[part])
                for method, pname, value in settings:
                    edited = edit(G, zt, zr, part, cat, method, **{pname: value})
                    for src, mask in masks.items():
                        acc.add((str(part), src, method, pname, value), target, edited, mask)
            print(f"  {min(start + batch, pairs)}/{pairs} pairs", file=sys.stderr)
    rows = []
    for (part, src, method, pname, value), i_v, o_v in acc.valid():
        rows.append({
            "part": part, "roi": src, "method": method, "param": pname, "value": value, "n": len(i_v),
            "in_mse": float(i_v.mean()), "out_mse": float(o_v.mean()),
        })  # fmt: skip
    return rows


def _interp_loglog(x: float, xs: list[float], ys: list[float]) -> float | None:
    pts = sorted((a, b) for a, b in zip(xs, ys) if a > 0 and b > 0)
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1 and x1 > x0:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    return None


def verdict(rows: list[dict]) -> dict:
    """Per (part, roi): sequential points whose In-MSE beats the simultaneous curve at equal Out-MSE."""
    out = {}
    for part, roi in dict.fromkeys((r["part"], r["roi"]) for r in rows):
        sim = [r for r in rows if (r["part"], r["roi"], r["method"]) == (part, roi, "simultaneous")]
        seq = [r for r in rows if (r["part"], r["roi"], r["method"]) == (part, roi, "sequential")]
        wins = compared = 0
        # saturated settings (every channel above the threshold already taken) repeat a point: count it once
        seq = list({(r["in_mse"], r["out_mse"]): r for r in seq}.values())
        for r in seq:
            y = _interp_loglog(r["out_mse"], [s["out_mse"] for s in sim], [s["in_mse"] for s in sim])
            if y is not None:
                compared += 1
                wins += r["in_mse"] > y
        out[f"{part}/{roi}"] = {
            "sequential_wins": wins, "compared": compared,
            "holds": (wins > compared / 2) if compared else None,
        }  # fmt: skip
    decided = [v["holds"] for v in out.values() if v["holds"] is not None]
    out["overall"] = {"parts_where_it_holds": sum(decided), "parts_decided": len(decided)}
    return out


_COLOURS = {"sequential": "#d62728", "simultaneous": "#1f77b4"}


def plot_eval(rows: list[dict], path: Path, title: str) -> None:
    """In-MSE vs Out-MSE (log-log), one panel per part; colour = method, solid = catalog ROI, dashed = parser."""
    parts = list(dict.fromkeys(r["part"] for r in rows))
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 4), squeeze=False)
        for ax, part in zip(axes[0], parts):
            for (roi, method) in dict.fromkeys((r["roi"], r["method"]) for r in rows if r["part"] == part):
                rs = sorted((r for r in rows if (r["part"], r["roi"], r["method"]) == (part, roi, method)), key=lambda r: r["value"])
                ax.plot([r["out_mse"] for r in rs], [r["in_mse"] for r in rs], "-o" if roi == "catalog" else "--s",
                        color=_COLOURS[method], label=f"{method} ({roi} ROI)", ms=3)  # fmt: skip
            ax.set_xscale("log"), ax.set_yscale("log"), ax.set_title(f"cluster {part}" if part.isdigit() else part)
            ax.set_xlabel("Out-MSE (CIELAB)"), ax.set_ylabel("In-MSE (CIELAB)")
        axes[0][0].legend(fontsize=7)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return
    _pil_plot(rows, parts, path, title)


def _pil_plot(rows: list[dict], parts: list[str], path: Path, title: str) -> None:
    pw, ph, left, bottom, top = 330, 300, 52, 40, 36
    img = Image.new("RGB", (pw * len(parts), ph + top + 40), "white")
    d = ImageDraw.Draw(img)
    d.text((6, 4), title, fill="black")
    d.text((6, ph + top + 22), "x: Out-MSE, y: In-MSE (CIELAB, log-log). red = sequential (eps), blue = simultaneous (lam); "
           "solid/dots = catalog ROI, dashed/squares = parser ROI", fill="black")  # fmt: skip
    for j, part in enumerate(parts):
        rs_all = [r for r in rows if r["part"] == part and r["in_mse"] > 0 and r["out_mse"] > 0]
        if not rs_all:
            continue
        x0, y0 = j * pw + left, top
        w, h = pw - left - 12, ph - bottom
        xlo, xhi = log_decades([r["out_mse"] for r in rs_all])
        ylo, yhi = log_decades([r["in_mse"] for r in rs_all])
        xhi, yhi = max(xhi, xlo + 1), max(yhi, ylo + 1)

        def xy(r, xlo=xlo, xhi=xhi, ylo=ylo, yhi=yhi, x0=x0, y0=y0, w=w, h=h):
            return (x0 + (math.log10(r["out_mse"]) - xlo) / (xhi - xlo) * w, y0 + h - (math.log10(r["in_mse"]) - ylo) / (yhi - ylo) * h)

        d.rectangle([x0, y0, x0 + w, y0 + h], outline="black")
        d.text((x0 + w / 2 - 24, y0 - 14), f"cluster {part}" if part.isdigit() else part, fill="black")
        for e in range(xlo, xhi + 1):
            x = x0 + (e - xlo) / (xhi - xlo) * w
            d.line([x, y0 + h, x, y0 + h + 4], fill="black")
            d.text((x - 10, y0 + h + 6), f"1e{e}", fill="black")
        for e in range(ylo, yhi + 1):
            y = y0 + h - (e - ylo) / (yhi - ylo) * h
            d.line([x0 - 4, y, x0, y], fill="black")
            d.text((x0 - 34, y - 6), f"1e{e}", fill="black")
        for roi, method in dict.fromkeys((r["roi"], r["method"]) for r in rs_all):
            rs = sorted((r for r in rs_all if (r["roi"], r["method"]) == (roi, method)), key=lambda r: r["value"])
            pts = [xy(r) for r in rs]
            col = _COLOURS[method]
            for a, b in zip(pts, pts[1:]):
                if roi == "catalog":
                    d.line([a, b], fill=col, width=2)
                else:
                    dashed_line(d, a, b, fill=col)
            for (x, y), r in zip(pts, rs):
                if roi == "catalog":
                    d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=col)
                else:
                    d.rectangle([x - 3, y - 3, x + 3, y + 3], fill=col)
                d.text((x + 4, y - 12), f"{r['value']:g}", fill=col)
    img.save(path)


# --------------------------------------------------------------------------------------------------
# Figures for docs/editing-in-style.md


def _figure_parts(cat: Catalog, wanted: list) -> list[tuple[str, object]]:
    """(label, part) rows: the wanted parts the catalog has (names or cluster ids), else the three largest
    clusters."""
    rows = [(p if isinstance(p, str) else f"cluster {p}", p) for p in wanted if (isinstance(p, int) and p < cat.k) or p in cat.names]
    if rows:
        return rows
    order = sorted(range(cat.k), key=lambda i: -cat.info["cluster_fraction"][i])[:3]
    return [(f"cluster {i}", i) for i in order]


def _parse_parts(text: str) -> list:
    return [int(p) if p.strip().isdigit() else p.strip() for p in text.split(",") if p.strip()]


def figures(G, cat: Catalog, label: str, trained: bool, out_dir: Path, wanted: list, scale: int = 2) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    note = label if trained else PLACEHOLDER
    written = []
    p = out_dir / "eis_clusters.png"
    caption(cluster_preview(G, cat, count=8, seed=0, scale=scale), f"{note}: samples and their {cat.k} clusters at {cat.layer}").save(p)
    written.append(p)
    targets, references = [3, 5], [11, 12, 13, 14]
    parts = _figure_parts(cat, wanted)
    with torch.no_grad():
        zt, zr = z_from_seeds(targets, G.z_dim), z_from_seeds(references, G.z_dim)
        t_img, r_img = G.synthesize(G.styles(G.map(zt))).image, G.synthesize(G.styles(G.map(zr))).image
        blank = torch.ones(1, 3, G.img_resolution, G.img_resolution)
        rows, labels = [torch.cat([blank, r_img])], ["references ->"]
        for plabel, part in parts:
            for i in range(len(targets)):
                res = edit(G, zt[i : i + 1], zr, part, cat)
                rows.append(torch.cat([t_img[i : i + 1], res]))
                labels.append(f"{plabel}: target {targets[i]}")
        grid = make_grid(torch.cat(rows), ncols=1 + len(references), pad=4, scale=scale)
        cell = grid.height / len(rows)
        canvas = Image.new("RGB", (grid.width + 130, grid.height + 18), "white")
        canvas.paste(grid, (130, 18))
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 2), f"{note}; sequential query, eps=50, rho=1/9 (threshold 0.1)", fill="black")
        for i, lab in enumerate(labels):
            draw.text((4, 18 + i * cell + cell / 2 - 6), lab, fill="black")
        p = out_dir / "eis_transfer.png"
        canvas.save(p)
        written.append(p)
        # mean colour change (CIE76 ΔE) per part over 32 pairs, the paper's Fig. 7a
        zt32, zr32 = z_from_seeds(range(32), G.z_dim), z_from_seeds(range(100000, 100032), G.z_dim)
        base = G.synthesize(G.styles(G.map(zt32))).image
        heats = []
        for plabel, part in parts:
            edited = edit(G, zt32, zr32, part, cat)
            heat = change_heatmap(base, edited).mean(dim=0, keepdim=True)
            heats.append(caption(heatmap_image(heat, vmax=30.0, scale=2 * scale), plabel))
        strip = Image.new("RGB", (sum(h.width + 6 for h in heats) + 6, heats[0].height + 22), "white")
        ImageDraw.Draw(strip).text((4, 2), f"{note}: mean dE (0-30) over 32 pairs", fill="black")
        x = 6
        for h in heats:
            strip.paste(h, (x, 20))
            x += h.width + 6
        p = out_dir / "eis_heatmap.png"
        strip.save(p)
        written.append(p)
    return written


# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = method_parser(__doc__, "In/Out-MSE sweeps over λ and ε (needs a trained model)", "regenerate docs/img/eis_*.png")
    ap.add_argument("--catalog", default=None, help="use this catalog (directory or shipped name) instead of building one")
    ap.add_argument("--parser", default="parser-faces-64", help="part parser for naming clusters and parser ROIs ('' = none)")
    add_threads(ap)
    ap.add_argument("--samples", type=int, default=1000, help="catalog samples")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--layer", default=None, help="--eval / --figures: catalog layer (default: the first 32x32 conv)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--parts", default=",".join(PARTS), help="--eval / --figures: catalog part names and/or cluster ids")
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--eval-batch", type=int, default=25)
    ap.add_argument("--lambdas", default=",".join(map(str, LAMBDAS)))
    ap.add_argument("--epsilons", default=",".join(map(str, EPSILONS)))
    add_output_dirs(ap, "out/eis_eval", "--eval: where CSV, plot and verdict go")
    args = ap.parse_args()
    set_threads(args.threads)
    print(torch_env(), file=sys.stderr)

    if args.eval:
        G = trained_or_skip(args.model, "Random weights have no parts to transfer; train or convert a model and pass --model.")
        if G is None:
            return
        parser = parser_or_none(args.parser)
        if args.catalog:
            cat = load_catalog(args.catalog)
        else:
            print(f"building a catalog: {args.samples} samples, K={args.k}", file=sys.stderr)
            cat = build_catalog(G, samples=args.samples, k=args.k, layer=args.layer, parser=parser)
        cat.check_model(G)
        wanted = _parse_parts(args.parts)
        parts = [p for p in wanted if isinstance(p, int) and p < cat.k or p in cat.names]
        missing = [p for p in wanted if p not in parts]
        if missing:
            print(f"skipping parts {missing}: not in the catalog (parts: {cat.parts()}, clusters 0..{cat.k - 1}); "
                  "name them with catalog.name_clusters / `regiongan name-clusters` or pass --parser", file=sys.stderr)  # fmt: skip
        if not parts:
            print(f"nothing to evaluate: the catalog has none of {wanted}")
            return
        lambdas = [float(v) for v in args.lambdas.split(",")]
        epsilons = [float(v) for v in args.epsilons.split(",")]
        t0 = time.perf_counter()
        rows = evaluate(G, cat, parser, parts, args.pairs, args.eval_batch, lambdas, epsilons)
        out = Path(args.out_dir)
        write_csv(out / "eis_locality.csv", rows)
        v = verdict(rows)
        v["agreement"] = cat.info.get("agreement")
        write_json(out / "eis_verdict.json", v)
        plot_eval(rows, out / "eis_locality.png", f"{model_label(args.model)}: {args.pairs} pairs, In vs Out MSE")
        print_table(rows, [("part", "6s", "part"), ("roi", "8s", "roi"), ("method", "13s", "method"),
                           ("param", ">10s", lambda r: f"{r['param']}={r['value']:g}"), ("n", "4d", "n"),
                           ("In-MSE", "9.2f", "in_mse"), ("Out-MSE", "9.2f", "out_mse")])  # fmt: skip
        for key, val in v.items():
            print(f"{key}: {val}")
        print(f"wrote {out}/eis_locality.csv, eis_locality.png, eis_verdict.json ({time.perf_counter() - t0:.0f} s)")
        return

    G, label, trained = model_or_fallback(args.model)
    if args.figures:
        cat = load_catalog(args.catalog) if args.catalog else None
        if cat is None:
            parser = parser_or_none(args.parser) if trained else None
            cat = build_catalog(G, samples=args.samples, k=args.k, layer=args.layer, parser=parser)
        print_written(figures(G, cat, label, trained, Path(args.figures_dir), _parse_parts(args.parts)))
        return

    batches = [int(b) for b in args.batches.split(",")]
    res = bench_speed(G, args.samples, args.k, args.repeats, batches)
    print(f"model: {label}")
    print(f"catalog: {res['samples']} samples, K={res['k']}: {res['catalog_seconds']:.1f} s wall, "
          f"{res['catalog_cpu_seconds']:.1f} s CPU "
          f"({res['forward_images']} forward images: {res['fit_samples']} for k-means ({res['kmeans_epochs']} epochs, "
          f"cached) + {res['samples']} for memberships/contributions; plain forward with features "
          f"{res['forward_ms_per_image_batch16']:.1f} ms/image)")  # fmt: skip
    print_table(res["transfer"], [
        ("batch", "5d", "batch"), ("config", "24s", "config"), ("wall ms/img", "11.2f", "ms_per_image"), ("ratio", "6.2f", "ratio"),
        ("CPU ms/img", "10.2f", "cpu_ms_per_image"), ("ratio", "6.2f", "cpu_ratio"),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
