"""BigGAN-deep (regiongan.generators.biggan): cost, class hybridization and ITAN locality on scenes-64.

    python benchmarks/biggan.py                          # cost: ours vs pytorch-pretrained-biggan, ITAN vs plain
    python benchmarks/biggan.py --eval hybrid --model scenes-64      # class hybridization vs copy-paste (CSV + figure)
    python benchmarks/biggan.py --eval locality --model scenes-64    # ITAN resample In/Out-MSE vs layer range
    python benchmarks/biggan.py --train                  # training kimg/h at scenes-64's config, vs StyleGAN2 faces-64's

**Cost.** Random weights at the 128² ImageNet configuration of ``pytorch-pretrained-biggan`` (``--config
128``, the default) or at scenes-64's. Our forward against the package's forward on the *same* weights (the
package's parameter names are ours), when the package is importable (``pip install pytorch-pretrained-biggan
torch==<yours>``; it is not a dependency); and ITAN class hybridization (K = 2, 4 vertical strips of
different classes, every control point spatial) against a plain forward. Median of ``--repeats``,
configurations interleaved so background load hits all alike; ratios are what matter.

**Hybridization.** ``--samples`` images (seed i, base class ``i mod C``, region class cycling over the
other classes so every ordered pair appears), one region per image (``--region``, default the left half).
Methods: ITAN hybridization (``rg.hybridize``: the region's control-point styles from the region class,
same z), the same with feathered edges, and **copy-paste** (the region cut from the region-class image of
the same z and pasted in). Scored by the class scorer ``classes-scenes-64``: the region's class (should be
the region class), the outside's class (should stay the base class), Out-MSE against the base image
outside the region and In-MSE against the pure region-class image inside it (CIELAB).

**Locality.** ITAN resample (a fresh z of the same class inside a box) with the spatial layers restricted
to ``lo-R``, In/Out-MSE per range, as ``benchmarks/itan.py --eval`` does for StyleGAN2.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from common import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    DOCS_IMG, InOut, add_threads, interleaved, label_row, load_shipped, outline, print_table, print_written,
    set_threads, stack, torch_env, write_csv,
)  # fmt: skip
from regiongan.generators.biggan import PACKAGE_DEFAULTS, BigGANDeep
from regiongan.latents import z_from_seeds
from regiongan.methods.itan import blend_generate
from regiongan.metrics.locality import in_out_mse
from regiongan.regions import Region, RegionSet, parse_region

SCENES64 = dict(
    output_dim=64, z_dim=128, class_embed_dim=128, channel_width=32, num_classes=5, n_stats=17, eps=1e-4,
)  # fmt: skip


def random_biggan(config: str) -> BigGANDeep:
    """A BigGAN-deep with random weights (seed 0): the package's 128² ImageNet config, or scenes-64's."""
    torch.manual_seed(0)
    if config == "128":
        return BigGANDeep(**PACKAGE_DEFAULTS).eval().requires_grad_(False)
    from regiongan.training.families.biggan import attention_position, generator_layers

    layers = generator_layers(64, 2)
    cfg = dict(SCENES64, layers=layers, attention_layer_position=attention_position(layers, 16))
    return BigGANDeep(**cfg).eval().requires_grad_(False)


def package_model(G: BigGANDeep):
    """The package's BigGAN with ``G``'s weights, or None (with the reason) when it is not importable."""
    try:
        from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    except ImportError as e:
        print(f"note: pytorch-pretrained-biggan not importable ({e}); comparing with it is skipped", file=sys.stderr)
        return None
    cfg = {k: G.config[k] for k in ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes",
                                    "layers", "attention_layer_position", "eps", "n_stats")}  # fmt: skip
    theirs = BigGAN(BigGANConfig(**cfg))
    theirs.load_state_dict(G.state_dict())
    return theirs.eval().requires_grad_(False)


def strips(k: int, size: int, batch: int) -> RegionSet:
    edges = [round(i * size / k) for i in range(k + 1)]
    regions = [Region.box(edges[i], 0, edges[i + 1], size, (size, size)) for i in range(1, k)]
    return RegionSet.from_regions(regions).expand(batch)


def bench_cost(G, batches: list[int], repeats: int, psi: float = 0.4) -> list[dict]:
    theirs = package_model(G)
    rows = []
    for batch in batches:
        gen = torch.Generator().manual_seed(1)
        z = torch.randn(batch, G.z_dim, generator=gen).clamp(-2, 2) * 0.5
        cls = [torch.nn.functional.one_hot(torch.full([batch], k), G.c_dim).float() for k in range(4)]
        ws = [G.map(z, c, truncation_psi=psi) for c in cls]
        configs = {"ours": lambda: G.synthesize(G.styles(ws[0])).image}
        if theirs is not None:
            configs["package"] = lambda: theirs(z * psi, cls[0], psi)  # the package takes z already scaled
        for k in (2, 4):
            regions = strips(k, G.img_resolution, batch)
            configs[f"hybrid K={k}"] = lambda k=k, r=regions: blend_generate(G, ws[:k], r, space="w+").image
        with torch.no_grad():
            if theirs is not None:
                err = (configs["ours"]() - configs["package"]()).abs().max().item()
                print(f"batch {batch}: max |ours - package| = {err:.2e}", file=sys.stderr)
            times, _ = interleaved(configs, repeats)
        base = statistics.median(times["ours"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append({"batch": batch, "config": name, "ms_per_image": med * 1000 / batch, "x_ours": med / base})
    return rows


# --------------------------------------------------------------------------------------------------
# Class hybridization


def _render(G, z, c, psi):
    return G.synthesize(G.styles(G.map(z, c, truncation_psi=psi))).image


def _one_hot(ids: list[int], c_dim: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(ids), c_dim).float()


def evaluate_hybrid(G, scorer, region: str, samples: int, batch: int, psi: float) -> tuple[list[dict], torch.Tensor]:
    """Rows per method (means over samples) and a figure: base | ITAN | ITAN feathered | copy-paste | region class."""
    C, R = G.c_dim, G.img_resolution
    mask1 = parse_region(region, (R, R)).mask  # [1, 1, R, R]
    res = sorted({p.resolution for p in G.control_points()})
    ranges = {f"itan {lo}-{res[-1]}": (lo, res[-1]) for lo in res[:3]}
    methods = (*ranges, "itan feather 2", "copy-paste")
    stats = {m: {"region_ok": [], "outside_ok": [], "out_mse": [], "in_mse": []} for m in methods}
    sanity = {"base_ok": [], "region_class_ok": []}
    figure = []
    with torch.no_grad():
        for start in range(0, samples, batch):
            idx = list(range(start, min(start + batch, samples)))
            n = len(idx)
            base_ids = [i % C for i in idx]
            region_ids = [(i % C + 1 + (i // C) % (C - 1)) % C for i in idx]
            z = z_from_seeds(idx, G.z_dim)
            ca, cb = _one_hot(base_ids, C), _one_hot(region_ids, C)
            ws_a, ws_b = G.map(z, ca, truncation_psi=psi), G.map(z, cb, truncation_psi=psi)
            img_a = G.synthesize(G.styles(ws_a)).image
            img_b = G.synthesize(G.styles(ws_b)).image
            mask = mask1.expand(n, -1, -1, -1)
            parts = RegionSet(torch.cat([1 - mask, mask], dim=1), names=("background", "region"))
            out = {name: blend_generate(G, [ws_a, ws_b], parts, space="w+", layers=lr).image for name, lr in ranges.items()}
            out.update({
                "itan feather 2": blend_generate(G, [ws_a, ws_b], parts, space="w+", feather=2.0).image,
                "copy-paste": img_a * (1 - mask) + img_b * mask,
            })
            truth_a, truth_b = torch.as_tensor(base_ids), torch.as_tensor(region_ids)
            sanity["base_ok"].append(scorer.score(img_a).argmax(1) == truth_a)
            sanity["region_class_ok"].append(scorer.score(img_b).argmax(1) == truth_b)
            for m, img in out.items():
                s = stats[m]
                s["region_ok"].append(scorer.score(img, mask).argmax(1) == truth_b)
                s["outside_ok"].append(scorer.score(img, 1 - mask).argmax(1) == truth_a)
                s["out_mse"].append(in_out_mse(img_a, img, mask)[1])
                s["in_mse"].append(in_out_mse(img_b, img, mask)[0])
            if start == 0:
                for j in range(min(6, n)):
                    m = mask[j : j + 1]
                    row = [outline(x[j : j + 1], m) for x in (img_a, *out.values())]
                    figure.append(torch.cat(row + [img_b[j : j + 1]]))
            print(f"  {idx[-1] + 1}/{samples} images", file=sys.stderr)
    rows = []
    base_ok = float(torch.cat(sanity["base_ok"]).float().mean())
    b_ok = float(torch.cat(sanity["region_class_ok"]).float().mean())
    for m in methods:
        s = {k: torch.cat(v).float() for k, v in stats[m].items()}
        rows.append({
            "method": m, "n": len(s["region_ok"]), "region_class_rate": float(s["region_ok"].mean()),
            "outside_class_rate": float(s["outside_ok"].mean()), "out_mse": float(s["out_mse"].mean()),
            "in_mse_vs_region_class": float(s["in_mse"].mean()), "scorer_on_base_images": base_ok,
            "scorer_on_region_class_images": b_ok,
        })  # fmt: skip
    return rows, torch.stack(figure)


# --------------------------------------------------------------------------------------------------
# ITAN locality vs layer range


def evaluate_locality(G, box: str, samples: int, batch: int, psi: float) -> list[dict]:
    R = G.img_resolution
    mask1 = parse_region(box, (R, R)).mask
    res = sorted({p.resolution for p in G.control_points()})
    ranges = [(f"{lo}-{res[-1]}", (lo, res[-1])) for lo in res]
    acc = InOut()
    with torch.no_grad():
        for start in range(0, samples, batch):
            idx = list(range(start, min(start + batch, samples)))
            c = _one_hot([i % G.c_dim for i in idx], G.c_dim)
            ws = G.map(z_from_seeds(idx, G.z_dim), c, truncation_psi=psi)
            ws_new = G.map(z_from_seeds([100000 + i for i in idx], G.z_dim), c, truncation_psi=psi)
            original = G.synthesize(G.styles(ws)).image
            mask = mask1.expand(len(idx), -1, -1, -1)
            parts = RegionSet(torch.cat([1 - mask, mask], dim=1), names=("background", "region"))
            for name, layers in ranges:
                acc.add(name, original, blend_generate(G, [ws, ws_new], parts, space="w+", layers=layers).image, mask)
    rows = []
    for name, i_v, o_v in acc.valid():
        rows.append({"layers": name, "n": len(i_v), "in_mse": float(i_v.mean()), "out_mse": float(o_v.mean()),
                     "ratio": float(i_v.mean() / o_v.mean()) if float(o_v.mean()) > 0 else math.inf})  # fmt: skip
    return rows


# --------------------------------------------------------------------------------------------------
# Training throughput


def bench_training(steps: int, out: Path) -> list[dict]:
    """img/s of a few training steps of scenes-64's BigGAN-deep config and of faces-64's StyleGAN2 config,
    in this process, one after the other (the first steps are skipped as warm-up)."""
    import json

    from regiongan.training import TrainConfig, train

    configs = {
        "biggan-deep scenes-64": dict(
            family="biggan-deep", data="scenes", conditional=True, resolution=64, channel_width=32, d_channel_width=32,
            z_dim=128, attention=16, blocks_per_resolution=2, n_stats=17, standing_samples=16, batch=16,
        ),
        "stylegan2 faces-64": dict(
            family="stylegan2", data="faces", resolution=64, z_dim=256, w_dim=256, mapping_layers=4,
            g_channels="4:256,8:256,16:128,32:64,64:32", r1_gamma=0.2, batch=16,  # faces-64's own command
        ),
    }  # fmt: skip
    rows = []
    for name, kw in configs.items():
        run = out / name.replace(" ", "_")
        cfg = TrainConfig(**kw, run_dir=str(run), log_every=1, progress=False, snap_kimg=10_000,
                          kimg=steps * kw["batch"] * TrainConfig(**kw).d_steps / 1000, threads=torch.get_num_threads())  # fmt: skip
        t = time.perf_counter()
        train(cfg)
        lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
        rates = [d["img_per_s"] for d in lines if "img_per_s" in d][1:]
        rows.append({"config": name, "steps": len(rates), "img_per_s": statistics.median(rates),
                     "kimg_per_h": statistics.median(rates) * 3.6, "wall_s": time.perf_counter() - t})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--eval", choices=("hybrid", "locality"), default=None)
    mode.add_argument("--train", action="store_true", help="training kimg/h")
    ap.add_argument("--model", default="scenes-64")
    ap.add_argument("--config", choices=("128", "scenes-64"), default="128", help="cost mode: random weights at this config")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--eval-batch", type=int, default=25)
    ap.add_argument("--psi", type=float, default=1.0, help="truncation of the evaluations")
    ap.add_argument("--region", default="box:0,0,32,64", help="--eval hybrid: the region (left half by default)")
    ap.add_argument("--box", default="box:16,16,48,48", help="--eval locality: the resampled box")
    ap.add_argument("--scorer", default="classes-scenes-64")
    ap.add_argument("--train-steps", type=int, default=6)
    ap.add_argument("--out-dir", default="out/biggan_eval")
    ap.add_argument("--figures-dir", default=str(DOCS_IMG))
    add_threads(ap)
    args = ap.parse_args()
    set_threads(args.threads)
    out = Path(args.out_dir)

    if args.train:
        rows = bench_training(args.train_steps, out / "train")
        print(torch_env())
        print_table(rows, [("config", "24s", "config"), ("steps", "5d", "steps"), ("img/s", "8.2f", "img_per_s"),
                           ("kimg/h", "8.1f", "kimg_per_h")])  # fmt: skip
        write_csv(out / "biggan_training.csv", rows)
        return
    if args.eval:
        G = load_shipped(args.model)
        if G is None:
            print(f"skipping --eval: model {args.model!r} is not available; train or ship one and pass --model")
            return
        print(f"{args.model}, {torch_env()}", file=sys.stderr)
        if args.eval == "locality":
            rows = evaluate_locality(G, args.box, args.samples, args.eval_batch, args.psi)
            print_table(rows, [("layers", "8s", "layers"), ("n", "4d", "n"), ("In-MSE", "9.2f", "in_mse"),
                               ("Out-MSE", "9.2f", "out_mse"), ("In/Out", "8.2f", "ratio")])  # fmt: skip
            print_written([write_csv(out / "biggan_itan_locality.csv", rows)])
            return
        from regiongan.parser.classes import load_class_scorer

        rows, fig = evaluate_hybrid(G, load_class_scorer(args.scorer), args.region, args.samples, args.eval_batch, args.psi)
        print_table(rows, [("method", "16s", "method"), ("n", "4d", "n"), ("region=B", "9.3f", "region_class_rate"),
                           ("outside=A", "10.3f", "outside_class_rate"), ("Out-MSE", "9.2f", "out_mse"),
                           ("In-MSE vs B", "12.2f", "in_mse_vs_region_class")])  # fmt: skip
        print(f"scorer on the base images: {rows[0]['scorer_on_base_images']:.3f}; on the region-class images: "
              f"{rows[0]['scorer_on_region_class_images']:.3f}")
        labels = ["base A", *(r["method"].replace("itan", "ITAN") for r in rows), "class B"]
        image = stack([label_row(row, labels, scale=2) for row in fig])
        path = Path(args.figures_dir) / "biggan_hybrid.png"
        image.save(path)
        print_written([write_csv(out / "biggan_hybrid.csv", rows), path])
        return

    G = random_biggan(args.config)
    batches = [int(b) for b in args.batches.split(",")]
    print(f"random BigGAN-deep ({args.config} config, {G.img_resolution}²), {torch_env()}; median of {args.repeats}")
    rows = bench_cost(G, batches, args.repeats)
    print_table(rows, [("batch", "5d", "batch"), ("config", "14s", "config"), ("ms/image", "9.1f", "ms_per_image"),
                       ("× ours", "7.2f", "x_ours")])  # fmt: skip


if __name__ == "__main__":
    main()
