"""Synthesis speed of our StyleGAN2: reference (grouped, fp32) vs fast (plain conv, channels_last) fp32 and bf16.

Config-f widths (channel_base 32768, channel_max 512, 8 mapping layers, 512-d z/w), random weights,
const noise. Times are per image, median of ``--repeats`` runs after a warm-up, all measured in this one
process so the ratios compare like with like. Peak memory: each configuration is re-run once in a fresh
child process, which reports its peak RSS above the interpreter with torch imported (weights + activations).

    python benchmarks/synthesis.py                       # 256² and 1024², batch 1 and 8
    python benchmarks/synthesis.py --resolutions 256 --batches 1 --repeats 3   # quick
    python benchmarks/synthesis.py --resolutions 1024 --profile               # where one forward's time goes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
from pathlib import Path

import torch

from regiongan.generators.stylegan2 import StyleGAN2
from common import machine, peak_rss_mib, random_stylegan2, timed, write_json  # noqa: E402  (benchmarks/ is on sys.path)

PATHS = [("reference", "fp32"), ("fast", "fp32"), ("fast", "bf16")]


def build(resolution: int) -> StyleGAN2:
    return random_stylegan2(z_dim=512, w_dim=512, img_resolution=resolution, channel_base=32768, channel_max=512)


def run_once(G: StyleGAN2, styles, impl: str, precision: str) -> torch.Tensor:
    with torch.no_grad():
        return G.synthesize(styles, impl=impl, precision=precision).image


def time_config(G: StyleGAN2, batch: int, impl: str, precision: str, repeats: int) -> tuple[float, torch.Tensor]:
    """-> (median ms per image, the output image batch, for accuracy checks on the same styles)."""
    ws = G.map(torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(1)))
    styles = G.styles(ws)
    out = run_once(G, styles, impl, precision)  # warm-up (oneDNN kernel selection)
    times = [timed(lambda: run_once(G, styles, impl, precision)) for _ in range(repeats)]
    return statistics.median(times) * 1000 / batch, out


def _peak_child(resolution: int, batch: int, impl: str, precision: str, q) -> None:
    # Baseline: the interpreter with torch imported; the peak then covers weights + activations.
    before = peak_rss_mib()
    G = build(resolution)
    styles = G.styles(G.map(torch.randn(batch, G.z_dim)))
    run_once(G, styles, impl, precision)
    q.put(peak_rss_mib() - before)


def peak_memory_mib(resolution: int, batch: int, impl: str, precision: str) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_child, args=(resolution, batch, impl, precision, q))
    p.start()
    value = q.get()
    p.join()
    return value


def profile(resolutions: list[int], bf16_max_resolution: int) -> None:
    """Where one fast forward's time goes: torch.profiler's ops by self time (fp32, batch 1, after a warm-up)."""
    from torch.profiler import profile as torch_profile

    for res in resolutions:
        G = build(res)
        styles = G.styles(G.map(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1))))
        run_once(G, styles, "fast", "fp32")
        with torch_profile() as prof:
            run_once(G, styles, "fast", "fp32")
        print(f"{res}², batch 1, fp32, fast path:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolutions", default="256,1024")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true", help="skip the child-process peak memory runs")
    ap.add_argument("--bf16-max-batch", type=int, default=8, help="skip bf16 at larger batches (slow on CPUs without AMX)")
    ap.add_argument("--bf16-max-resolution", type=int, default=1024, help="skip bf16 above this resolution")
    ap.add_argument("--out", default="benchmarks/results/synthesis.json")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler's op table of one fast forward per resolution (batch 1) and stop")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    if args.profile:
        profile([int(r) for r in args.resolutions.split(",")], args.bf16_max_resolution)
        return

    rows = []
    for res in [int(r) for r in args.resolutions.split(",")]:
        G = build(res)
        for batch in [int(b) for b in args.batches.split(",")]:
            base = None
            outputs: dict[tuple[str, str], torch.Tensor] = {}
            for impl, precision in PATHS:
                if precision == "bf16" and (batch > args.bf16_max_batch or res > args.bf16_max_resolution):
                    continue
                ms, outputs[(impl, precision)] = time_config(G, batch, impl, precision, args.repeats)
                base = ms if base is None else base
                # Accuracy against the fp32 fast path on the same styles (the reference row is filled in below).
                ref = outputs.get(("fast", "fp32"), outputs[("reference", "fp32")])
                err = (outputs[(impl, precision)] - ref).abs().max().item()
                row = dict(resolution=res, batch=batch, impl=impl, precision=precision, ms_per_image=round(ms, 1),
                           speedup_vs_reference=round(base / ms, 2),
                           max_abs_err_vs_fp32=round(err, 5))  # fmt: skip
                if impl == "fast" and precision == "fp32":
                    for prev in rows:
                        if (prev["resolution"], prev["batch"], prev["impl"]) == (res, batch, "reference"):
                            prev["max_abs_err_vs_fp32"] = round((outputs[("reference", "fp32")] - outputs[(impl, precision)]).abs().max().item(), 5)
                if not args.no_memory:
                    row["peak_mib"] = round(peak_memory_mib(res, batch, impl, precision), 1)
                rows.append(row)
                print(json.dumps(row), flush=True)

    print()
    hdr = f"{'res':>5} {'batch':>5} {'path':>15} {'ms/img':>9} {'×ref':>6} {'max|Δ|':>8} {'peak MiB':>9}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['resolution']:5d} {r['batch']:5d} {r['impl'] + '/' + r['precision']:>15} {r['ms_per_image']:9.1f} "
              f"{r['speedup_vs_reference']:6.2f} {r['max_abs_err_vs_fp32']:8.4f} {r.get('peak_mib', float('nan')):9.1f}")  # fmt: skip
    meta = dict(torch=torch.__version__, threads=torch.get_num_threads(), machine=machine())
    out = write_json(Path(args.out), {"meta": meta, "rows": rows})
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
