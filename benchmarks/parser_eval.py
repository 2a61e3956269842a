"""Accuracy of the shipped part parsers and their FD-parser floor: the numbers in their model cards.

    python benchmarks/parser_eval.py                                 # every shipped parser, N=1000
    python benchmarks/parser_eval.py --parsers parser-faces-64 --count 1000 --threads 1

For each parser: mIoU, per-part IoU and pixel accuracy on ``--count`` held-out procedural images
(stream 0; training reads streams 1000+), the FD-parser floor (two disjoint procedural sets of ``--count``
images, indices ``[0, N)`` and ``[N, 2N)`` of stream 0), and the seconds each took. Prints a summary and
writes a JSON report (default ``benchmarks/results/parser_eval.json``). ``--figure PATH`` also draws
the docs picture: held-out images (top row), true labels (middle) and predicted labels (bottom) of the
first parser, coloured with ``LABEL_PALETTE``::

    python benchmarks/parser_eval.py --parsers parser-faces-64 --figure docs/img/parser_faces.png
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch

from regiongan.data.export import colorize_labels
from regiongan.data.worlds import get_world
from regiongan.images import make_grid, save_image
from regiongan.parser import evaluate_parser, fd_parser_floor, images_to_tensor, list_parsers, load_parser
from common import clocked, set_threads, write_json  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "parser_eval.json"


def measure(name: str, count: int, seed: int) -> dict:
    """Score one parser; returns a JSON-ready record."""
    parser = load_parser(name)
    scores, eval_s, _ = clocked(lambda: evaluate_parser(parser, count=count, seed=seed))
    floor, fd_s, _ = clocked(lambda: fd_parser_floor(parser, count=count, seed=seed))
    return {
        "parser": name,
        "parameters": sum(p.numel() for p in parser.parameters()),
        "feature_dim": parser.feature_dim,
        **scores,
        "fd_parser_floor": floor,
        "fd_count": count,
        "eval_seconds": round(eval_s, 1),
        "fd_seconds": round(fd_s, 1),
    }


def draw_figure(name: str, path: Path, count: int = 8, seed: int = 0, scale: int = 3) -> Path:
    """Grid of ``count`` held-out images: image row, true-label row, predicted-label row."""
    parser = load_parser(name)
    assert parser.world is not None
    images, labels, _, _ = get_world(parser.world).sample_batch(seed, 0, count, 64)
    predicted = parser.parse(images_to_tensor(images)).numpy()
    rows = np.concatenate([images, colorize_labels(labels), colorize_labels(predicted)])  # [3 * count, H, W, 3]
    return save_image(make_grid(rows, ncols=count, scale=scale), path)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped = ", ".join(list_parsers()) or "none"
    ap.add_argument("--parsers", nargs="+", default=list_parsers(), help=f"names or directories (default: all shipped: {shipped})")
    ap.add_argument("--count", type=int, default=1000, help="held-out images per score (and per FD set)")
    ap.add_argument("--seed", type=int, default=0, help="evaluation stream")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    ap.add_argument("--figure", type=Path, default=None, help="also save image | truth | prediction rows here (PNG)")
    args = ap.parse_args(argv)
    if args.count < 2 or args.threads < 1:
        ap.error("--count must be >= 2 and --threads >= 1")
    if not args.parsers:
        ap.error("no parser given and none shipped; pass --parsers DIR")
    set_threads(args.threads)

    records = []
    for name in args.parsers:
        r = measure(name, args.count, args.seed)
        records.append(r)
        parts = "  ".join(f"{k}={v:.3f}" for k, v in r["per_part_iou"].items() if v is not None)
        floor = r["fd_parser_floor"]
        print(f"{name}: mIoU {r['miou']:.4f}  pixel acc {r['pixel_acc']:.4f}  FD floor@{args.count} {floor:.4f}")
        print(f"  {parts}")
    report = {
        "benchmark": "parser_eval",
        "count": args.count,
        "seed": args.seed,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "results": records,
    }
    write_json(args.out, report)
    print(f"wrote {args.out}")
    if args.figure:
        print(f"wrote {draw_figure(args.parsers[0], args.figure, seed=args.seed)}")
    return records


if __name__ == "__main__":
    main()
