"""SSN training (regiongan.training.families.ssn): the λ_D trade-off, transfer vs scratch, and speed.

    python benchmarks/ssn.py --speed                      # forward ms/img SSN vs StyleGAN2 (same widths), training kimg/h
    python benchmarks/ssn.py --tradeoff --kimg 2          # λ_D ∈ {0, 10, 100, 1000}: distortion and FD-parser (CSV + plot)
    python benchmarks/ssn.py --transfer --kimg 2 --every 0.5   # FD-parser vs kimg, from faces-64 and from scratch
    python benchmarks/ssn.py --curve runs/a runs/b --every 2   # distortion and quality of training runs' snapshots

**Trade-off.** For each λ_D (``--lambdas``) a fine-tune of ``--kimg`` from the transfer initialisation of
``--init-from`` (faces-64) with the same seed, data and budget (run folders ``--out-dir/lambda<λ>``; re-running
resumes them). Then, on the exported EMA generator: **distortion** — for ``--samples`` latent grids and every
block ``a``, resample block ``a`` from an independent z′ (same noise) and take the pixel MSE outside image
block ``a`` (:func:`regiongan.training.losses.block_distortion`), averaged over blocks and samples — and
**FD-parser** (``--fd-count`` images, parser ``parser-faces-64``). Row ``init`` is the transfer itself
(0 kimg). Writes ``ssn_tradeoff.csv`` and ``docs/img/ssn_tradeoff.png``.

**Transfer.** Two runs with λ_D = ``--distortion-weight``: ``--init-from`` and from scratch; FD-parser of the
EMA every ``--every`` kimg up to ``--kimg`` (each segment resumes the run exactly), and of each run's starting
G (0 kimg). CSV ``ssn_transfer.csv``.

**Speed.** Forward of a batch at faces-64's widths (random weights), SSN (4×4 grid) and StyleGAN2
interleaved in one process (ratio); then ``--train-steps`` training steps of each family (after one
warm-up step) -> kimg/h, with the SSN's regularisers at their default intervals.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from common import DOCS_IMG, add_threads, export_at, interleaved, print_table, print_written, set_threads, torch_env, write_csv  # noqa: E402

FACES_WIDTHS = "4:256,8:256,16:128,32:64,64:32"
BASE = dict(data="faces", resolution=64, g_channels=FACES_WIDTHS, r1_gamma=0.2, ema_kimg=5.0, threads=1, progress=False, log_every=10)


def recipe(args: argparse.Namespace) -> dict:
    """The training options every run of this script shares beyond BASE: precision, G learning rate, D warm-up."""
    out: dict = dict(precision=args.precision, d_warmup_kimg=args.d_warmup_kimg)
    if args.g_lr is not None:
        out["g_lr"] = args.g_lr
    return out


def _train_to(run_dir: Path, kimg: float, **options) -> Path:
    """Train (or resume) an SSN run in ``run_dir`` up to ``kimg``; returns the run folder."""
    from regiongan.training import TrainConfig, train

    cfg = TrainConfig(**{**BASE, "family": "ssn", "run_dir": str(run_dir), "kimg": kimg, "snap_kimg": kimg, "resume": True, **options})
    return train(cfg)


@torch.no_grad()
def mean_distortion(G, samples: int, seed: int = 123, batch: int = 8) -> float:
    """Distortion of ``G``: every block ``a`` of ``samples`` grids resampled from an independent z′
    (constant noise), pixel MSE outside image block ``a``, averaged over blocks and samples."""
    from regiongan.training.losses import block_distortion

    gen = torch.Generator().manual_seed(seed)
    n2 = G.block_grid**2
    total, count = 0.0, 0
    for start in range(0, samples, batch):
        m = min(batch, samples - start)
        z = torch.randn([m, G.z_channels, G.block_grid, G.block_grid], generator=gen)
        zp = torch.randn([m, G.z_channels, G.block_grid, G.block_grid], generator=gen)
        for a in range(n2):
            d = block_distortion(G, z, zp, torch.full([m], a), noise_mode="const")
            total, count = total + float(d.sum()), count + m
    return total / count


def procedural_faces(count: int, start: int = 0) -> torch.Tensor:
    """Procedural faces ``start … start+count-1`` of the parser's evaluation stream, ``[count, 3, 64, 64]``."""
    from regiongan.data.worlds import get_world
    from regiongan.parser import images_to_tensor
    from regiongan.parser.training import EVAL_STREAM

    return torch.cat([images_to_tensor(get_world("faces").sample_batch(EVAL_STREAM, start + i, n, 64)[0])
                      for i, n in zip(range(0, count, 100), _chunks(count, 100))])  # fmt: skip


class Reference:
    """``count`` procedural faces (the parser's evaluation stream) and their parser features: what every model is scored against."""

    def __init__(self, count: int) -> None:
        from regiongan.parser import load_parser, parser_features

        self.count, self.parser = count, load_parser("parser-faces-64")
        self.images = procedural_faces(count)
        self.features = parser_features(self.parser, self.images, count)


def image_quality(images: torch.Tensor, ref: Reference) -> dict[str, float]:
    """FD-parser, improved precision / recall (k = 3), diversity ratio (mean pairwise distance; all three in
    parser features) and pixel-spread ratio of ``images [ref.count, 3, 64, 64]`` against the reference faces."""
    from regiongan.metrics.diversity import diversity_ratio, precision_recall, spread_ratio
    from regiongan.metrics.frechet import feature_statistics, frechet_distance
    from regiongan.parser import parser_features

    feats = parser_features(ref.parser, images, ref.count)
    precision, recall = precision_recall(ref.features, feats)
    fd = frechet_distance(*feature_statistics(feats), *feature_statistics(ref.features))
    return dict(fd_parser=fd, precision=precision, recall=recall, diversity=diversity_ratio(feats, ref.features),
                spread=spread_ratio(images.clamp(-1, 1), ref.images))  # fmt: skip


def quality(G, ref: Reference) -> dict[str, float]:
    """:func:`image_quality` of ``ref.count`` images of ``G`` (z from seed 0, random noise)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        images = torch.cat([G(torch.randn([n, G.z_dim], generator=gen)) for n in _chunks(ref.count, 100)])
    return image_quality(images, ref)


def _chunks(total: int, size: int) -> list[int]:
    return [min(size, total - i) for i in range(0, total, size)]


def transfer_init(init_from: str, block_grid: int = 4):
    import regiongan as rg
    from regiongan.generators.ssn_transfer import ssn_from_stylegan2

    torch.manual_seed(0)
    return ssn_from_stylegan2(rg.load_model(init_from), block_grid=block_grid)


def run_tradeoff(args, out: Path) -> list[dict]:
    from regiongan.checkpoints import load_model

    ref = Reference(args.fd_count)
    rows = []
    G0 = transfer_init(args.init_from)
    rows.append(dict(lambda_d="init", kimg=0.0, distortion=mean_distortion(G0, args.samples), **quality(G0, ref), wall_s=0.0))
    print(rows[-1], file=sys.stderr, flush=True)
    for lam in args.lambdas:
        t0 = time.perf_counter()
        run = _train_to(out / f"lambda{lam:g}", args.kimg, init_from=args.init_from, distortion_weight=lam, **recipe(args))
        G = load_model(run / "model")
        rows.append(dict(lambda_d=f"{lam:g}", kimg=args.kimg, distortion=mean_distortion(G, args.samples),
                         **quality(G, ref), wall_s=round(time.perf_counter() - t0, 1)))  # fmt: skip
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def plot_tradeoff(rows: list[dict], path: Path) -> Path:
    """Distortion (x, log) against FD-parser (y), one labelled point per row, drawn with PIL."""
    import math

    W, H, m = 640, 420, 70
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    xs = [math.log10(max(r["distortion"], 1e-12)) for r in rows]
    ys = [r["fd_parser"] for r in rows]
    x0, x1 = min(xs) - 0.2, max(xs) + 0.2
    y0, y1 = min(ys) - 0.05 * (max(ys) - min(ys) + 1e-3), max(ys) + 0.05 * (max(ys) - min(ys) + 1e-3)
    px = lambda x: m + (x - x0) / (x1 - x0) * (W - 2 * m)  # noqa: E731
    py = lambda y: H - m - (y - y0) / (y1 - y0) * (H - 2 * m)  # noqa: E731
    d.rectangle([m, m, W - m, H - m], outline="black")
    for e in range(math.ceil(x0), math.floor(x1) + 1):
        d.line([px(e), H - m, px(e), H - m + 5], fill="black")
        d.text((px(e) - 12, H - m + 8), f"1e{e}", fill="black")
    for k in range(5):
        y = y0 + (y1 - y0) * k / 4
        d.text((8, py(y) - 6), f"{y:.3f}", fill="black")
    for r, x, y in zip(rows, xs, ys):
        colour = "grey" if r["lambda_d"] == "init" else "crimson"
        d.ellipse([px(x) - 4, py(y) - 4, px(x) + 4, py(y) + 4], fill=colour)
        d.text((px(x) + 6, py(y) - 14), f"lambda_D={r['lambda_d']}" if r["lambda_d"] != "init" else "transfer init", fill="black")
    d.text((W // 2 - 120, H - 30), "distortion (MSE outside the resampled block, log)", fill="black")
    d.text((8, 20), f"FD-parser (lower is better); fine-tunes of {rows[-1]['kimg']} kimg from the transfer", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def plot_curve(rows: list[dict], path: Path) -> Path:
    """Per run (one colour each), against kimg: distortion (left panel, log) and FD-parser (right panel);
    the diversity ratio is printed at each run's last point. Drawn with PIL."""
    import math

    pts = [row for row in rows if row["kimg"] == row["kimg"]]  # NaN kimg: the reference rows, not drawn
    runs = list(dict.fromkeys(row["run"] for row in pts))
    colours = ["crimson", "royalblue", "darkgreen", "darkorange", "purple", "grey"]
    W, H, m, gap = 980, 420, 60, 60
    pw = (W - 2 * m - gap) // 2
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    k1 = max(row["kimg"] for row in pts)
    panels = [("distortion (MSE outside the resampled block, log)", lambda r: math.log10(max(r["distortion"], 1e-12)), True),
              ("FD-parser (lower is better)", lambda r: r["fd_parser"], False)]  # fmt: skip
    for i, (title, value, log) in enumerate(panels):
        x0p = m + i * (pw + gap)
        vals = [value(r) for r in pts]
        lo, hi = min(vals), max(vals)
        lo, hi = lo - 0.05 * (hi - lo + 1e-6), hi + 0.05 * (hi - lo + 1e-6)
        px = lambda k, x0p=x0p: x0p + k / k1 * pw  # noqa: E731
        py = lambda v, lo=lo, hi=hi: H - m - (v - lo) / (hi - lo) * (H - 2 * m)  # noqa: E731
        d.rectangle([x0p, m, x0p + pw, H - m], outline="black")
        d.text((x0p, m - 30), title, fill="black")
        for t in range(5):
            v = lo + (hi - lo) * t / 4
            d.text((x0p - 50, py(v) - 6), f"{10 ** v:.1e}" if log else f"{v:.2f}", fill="black")
        for t in range(0, int(k1) + 1, max(1, int(k1) // 6)):
            d.text((px(t) - 6, H - m + 6), str(t), fill="black")
        d.text((x0p + pw // 2 - 20, H - m + 22), "kimg", fill="black")
        for j, run in enumerate(runs):
            seq = sorted((r for r in pts if r["run"] == run), key=lambda r: r["kimg"])
            c = colours[j % len(colours)]
            d.line([(px(r["kimg"]), py(value(r))) for r in seq], fill=c, width=2)
            for r in seq:
                d.ellipse([px(r["kimg"]) - 3, py(value(r)) - 3, px(r["kimg"]) + 3, py(value(r)) + 3], fill=c)
            if i == 1:
                last = seq[-1]
                d.text((px(last["kimg"]) - 70, py(value(last)) - 16), f"div {last['diversity']:.2f}", fill=c)
    for j, run in enumerate(runs):
        d.text((m + j * 200, H - 18), run, fill=colours[j % len(colours)])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def _model_kimg(run_dir: Path) -> float:
    """kimg of the model a run folder last exported (0 when it has none yet)."""
    import json

    config = run_dir / "model" / "config.json"
    return float(json.loads(config.read_text()).get("extra", {}).get("kimg", 0.0)) if config.is_file() else 0.0


def run_transfer(args, out: Path) -> list[dict]:
    from regiongan.checkpoints import load_model

    ref = Reference(args.fd_count)
    rows = []
    from regiongan.training import TrainConfig
    from regiongan.training.loop import build_networks

    for label, init in (("transfer", args.init_from), ("scratch", None)):
        cfg = TrainConfig(**{**BASE, "family": "ssn", "run_dir": str(out / label), "init_from": init, **recipe(args)})
        G0 = build_networks(cfg)[0].eval()  # the run's starting G (what step 0 trains from)
        rows.append(dict(init=label, kimg=0.0, **quality(G0, ref), wall_s=0.0))
        print(rows[-1], file=sys.stderr, flush=True)
        k = 0.0
        while k < args.kimg - 1e-9:
            k = min(args.kimg, round(k + args.every, 6))
            if _model_kimg(out / label) > k + 1e-6:  # a resumed run is already past k: its model is a later one
                print(f"{label}: the run is past {k} kimg already; that row is from the earlier invocation's CSV", file=sys.stderr)
                continue
            t0 = time.perf_counter()
            run = _train_to(out / label, k, init_from=init, distortion_weight=args.distortion_weight, **recipe(args))
            rows.append(dict(init=label, kimg=k, **quality(load_model(run / "model"), ref), wall_s=round(time.perf_counter() - t0, 1)))
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def run_curve(args, out: Path) -> list[dict]:
    """Every ``--every`` kimg of each run folder in ``--curve``: distortion and the quality scores of the EMA
    generator of its snapshot nearest that kimg (``common.export_at``), and the mean global gate of a gated
    SSN (NaN without one). First rows: the quality of another ``ref.count`` procedural faces (the floor) and
    of ``--init-from``."""
    import json

    from regiongan.checkpoints import load_model
    from regiongan.training.snapshot import list_snapshots

    ref = Reference(args.fd_count)
    nan = float("nan")
    rows = [dict(run="procedural (floor)", kimg=nan, distortion=nan, **image_quality(procedural_faces(ref.count, ref.count), ref), gate=nan),
            dict(run=f"{args.init_from} (StyleGAN2)", kimg=nan, distortion=nan, **quality(load_model(args.init_from), ref), gate=nan)]  # fmt: skip
    print(rows, file=sys.stderr, flush=True)
    for run in map(Path, args.curve):
        batch = json.loads((run / "train_config.json").read_text())["batch"]
        have = sorted(int(p.stem.split("step")[-1]) * batch / 1000 for p in list_snapshots(run))
        if not have:
            raise SystemExit(f"{run}: no training snapshot to evaluate")
        targets = [round(args.every * i, 6) for i in range(1, int(have[-1] / args.every + 1e-6) + 1)]
        for h in sorted({min(have, key=lambda h: abs(h - k)) for k in targets}):
            G = load_model(export_at(run, h, out / "curve_export" / run.name))
            gate = G.mapping.global_gate().mean().item() if G.mapping.encoder_global else float("nan")
            rows.append(dict(run=run.name, kimg=h, distortion=mean_distortion(G, args.samples), **quality(G, ref), gate=gate))
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def run_speed(args) -> list[dict]:
    from regiongan.generators.ssn import SSNGenerator
    from regiongan.generators.stylegan2 import StyleGAN2
    from regiongan.training import TrainConfig
    from regiongan.training.config import parse_channels
    from regiongan.training.distributed import Distributed
    from regiongan.training.loop import Trainer

    chans = parse_channels(FACES_WIDTHS)
    torch.manual_seed(0)
    sg2 = StyleGAN2(z_dim=256, w_dim=256, img_resolution=64, mapping_layers=4, channel_base=16384, channel_max=256, channels=chans).eval()
    ssn = SSNGenerator(z_channels=256, w_channels=256, block_grid=4, img_resolution=64, mapping_layers=4,
                       channel_base=16384, channel_max=256, channels=chans).eval()  # fmt: skip
    z1, z2 = torch.randn(args.batch, sg2.z_dim), torch.randn(args.batch, ssn.z_dim)
    with torch.no_grad():
        wall, _ = interleaved({"stylegan2": lambda: sg2(z1), "ssn": lambda: ssn(z2)}, args.repeats)
    rows = []
    base = statistics.median(wall["stylegan2"])
    for name in ("stylegan2", "ssn"):
        med = statistics.median(wall[name])
        rows.append(dict(what=f"forward {name}", ms_per_img=1000 * med / args.batch, ratio=med / base, kimg_per_h=float("nan")))
    for fam in ("stylegan2", "ssn"):
        extra = {} if fam == "stylegan2" else {"distortion_weight": 100.0}
        cfg = TrainConfig(**{**BASE, "family": fam, "run_dir": "/nonexistent", "kimg": 1.0, **extra})
        trainer = Trainer(cfg, Distributed())
        trainer.train_step()  # warm-up (step 0 runs every lazy regulariser)
        t0 = time.perf_counter()
        for _ in range(args.train_steps):
            trainer.train_step()
        per_step = (time.perf_counter() - t0) / args.train_steps
        rows.append(dict(what=f"train {fam}", ms_per_img=1000 * per_step / cfg.batch, ratio=float("nan"),
                         kimg_per_h=3600 / per_step * cfg.batch / 1000))  # fmt: skip
    tr = {r["what"]: r for r in rows}
    tr["train ssn"]["ratio"] = tr["train ssn"]["ms_per_img"] / tr["train stylegan2"]["ms_per_img"]
    tr["train stylegan2"]["ratio"] = 1.0
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--tradeoff", action="store_true", help="λ_D sweep: distortion and FD-parser")
    mode.add_argument("--transfer", action="store_true", help="FD-parser vs kimg from the transfer and from scratch")
    mode.add_argument("--speed", action="store_true", help="forward ratio vs StyleGAN2 and training kimg/h")
    mode.add_argument("--curve", nargs="+", metavar="RUN", help="run folders: distortion and quality of their snapshots every --every kimg")
    ap.add_argument("--init-from", default="faces-64")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 10.0, 100.0, 1000.0])
    ap.add_argument("--kimg", type=float, default=2.0, help="training budget of each run")
    ap.add_argument("--every", type=float, default=0.5, help="--transfer: FD-parser every this many kimg")
    ap.add_argument("--distortion-weight", type=float, default=100.0, help="--transfer: λ_D of both runs")
    ap.add_argument("--samples", type=int, default=32, help="latent grids for the distortion (each with every block)")
    ap.add_argument("--fd-count", type=int, default=500, help="images for FD-parser")
    ap.add_argument("--batch", type=int, default=8, help="--speed: forward batch")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-steps", type=int, default=4)
    ap.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32", help="training precision of every run")
    ap.add_argument("--g-lr", type=float, default=None, help="G learning rate of every run (default: the family's)")
    ap.add_argument("--d-warmup-kimg", type=float, default=0.0, help="kimg of D-only training at the start of every run")
    ap.add_argument("--out-dir", default="runs/bench_ssn", help="run folders and CSVs")
    ap.add_argument("--figures-dir", default=str(DOCS_IMG))
    add_threads(ap)
    args = ap.parse_args(argv)
    set_threads(args.threads or 1)
    out = Path(args.out_dir)
    print(torch_env(), file=sys.stderr)
    if args.speed:
        rows = run_speed(args)
        print_table(rows, [("what", "16s", "what"), ("ms/img", "9.1f", "ms_per_img"), ("ratio", "6.2f", "ratio"), ("kimg/h", "7.2f", "kimg_per_h")])
        print_written([write_csv(out / "ssn_speed.csv", rows)])
    elif args.tradeoff:
        rows = run_tradeoff(args, out)
        print_table(rows, [("λ_D", "6s", "lambda_d"), ("kimg", "5.1f", "kimg"), ("distortion", "11.3e", "distortion"), ("FD-parser", "9.4f", "fd_parser"), ("P", "5.2f", "precision"), ("R", "5.2f", "recall"), ("div", "5.2f", "diversity"), ("spread", "6.2f", "spread")])
        print_written([write_csv(out / "ssn_tradeoff.csv", rows), plot_tradeoff(rows, Path(args.figures_dir) / "ssn_tradeoff.png")])
    elif args.curve:
        rows = run_curve(args, out)
        print_table(rows, [("run", "16s", "run"), ("kimg", "6.2f", "kimg"), ("distortion", "11.3e", "distortion"), ("FD-parser", "9.4f", "fd_parser"), ("P", "5.2f", "precision"), ("R", "5.2f", "recall"), ("div", "5.2f", "diversity"), ("spread", "6.2f", "spread"), ("gate", "5.2f", "gate")])
        print_written([write_csv(out / "ssn_curve.csv", rows), plot_curve(rows, Path(args.figures_dir) / "ssn_curve.png")])
    else:
        rows = run_transfer(args, out)
        print_table(rows, [("init", "9s", "init"), ("kimg", "6.2f", "kimg"), ("FD-parser", "9.4f", "fd_parser"), ("P", "5.2f", "precision"), ("R", "5.2f", "recall"), ("div", "5.2f", "diversity"), ("spread", "6.2f", "spread")])
        print_written([write_csv(out / "ssn_transfer.csv", rows)])


if __name__ == "__main__":
    main()
