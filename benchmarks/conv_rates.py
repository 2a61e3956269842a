"""GFLOP/s of the convolutions StyleGAN2's up-sampling layers could use, on this CPU (fp32, one process).

For each shape ``C_in -> C_out`` from an ``h × h`` input: the stride-2 transposed 3×3 convolution in
channels_last (what the fast path runs) and in NCHW, a sub-pixel rewrite (4 phases of a 2×2 convolution +
pixel shuffle; the same output size, 16/9 the arithmetic), and a regular 3×3 convolution at the output
resolution (the rate a convolution of these widths reaches). Median of ``--repeats`` after a warm-up.

    python benchmarks/conv_rates.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = [(64, 32, 512), (128, 64, 256), (512, 512, 32)]


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cl = torch.channels_last
    print(f"| shape | transposed, channels_last | transposed, NCHW | sub-pixel | regular 3×3 at output size |")
    print("|---|---:|---:|---:|---:|")
    with torch.no_grad():
        for cin, cout, h in SHAPES:
            x = torch.randn(1, cin, h, h)
            xc = x.contiguous(memory_format=cl)
            w = torch.randn(cin, cout, 3, 3)
            w2 = torch.randn(4 * cout, cin, 2, 2).contiguous(memory_format=cl)
            wr = torch.randn(cout, cin, 3, 3).contiguous(memory_format=cl)
            x2 = torch.randn(1, cin, 2 * h, 2 * h).contiguous(memory_format=cl)
            gflop = cin * cout * 9 * h * h * 2 / 1e9  # the transposed convolution's useful arithmetic
            t_cl = median_ms(lambda: F.conv_transpose2d(xc, w, stride=2), args.repeats)
            t_nchw = median_ms(lambda: F.conv_transpose2d(x, w, stride=2), args.repeats)
            t_sub = median_ms(lambda: F.pixel_shuffle(F.conv2d(xc, w2, padding=1), 2), args.repeats)
            t_reg = median_ms(lambda: F.conv2d(x2, wr, padding=1), args.repeats)
            print(f"| {cin}→{cout} from {h}² | {t_cl:.1f} ms ({gflop / t_cl * 1e3:.0f} GFLOP/s) | {t_nchw:.1f} ms | "
                  f"{t_sub:.1f} ms | {t_reg:.1f} ms ({4 * gflop / t_reg * 1e3:.0f} GFLOP/s) |")


if __name__ == "__main__":
    main()
