"""Command line for part parsers.

    python -m regiongan.parser train --world faces --steps 1500 --out src/regiongan/models/parser-faces-64
    python -m regiongan.parser eval --parser parser-faces-64 [--count 1000] [--fd] [--json out.json]

``train`` runs :func:`regiongan.parser.train_parser` (one CPU thread by default, so a concurrent job keeps
the other cores) and prints the held-out evaluation; ``eval`` prints mIoU, per-part IoU, pixel accuracy
and, with ``--fd``, the FD-parser floor.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ..data.worlds import list_worlds
from .checkpoint import load_parser
from .metrics import fd_parser_floor
from .training import evaluate_parser, train_parser


def _print_scores(scores: dict) -> None:
    print(f"world={scores['world']} count={scores['count']} seed={scores['seed']} size={scores['size']}")
    print(f"mIoU {scores['miou']:.4f}   pixel accuracy {scores['pixel_acc']:.4f}")
    for name, iou in scores["per_part_iou"].items():
        print(f"  {name:<12} {'absent' if iou is None else f'{iou:.4f}'}")
    if scores.get("attribute_r2_median") is not None:
        best = sorted(((v, k) for k, v in scores["attribute_r2"].items() if v is not None), reverse=True)[:5]
        listed = ", ".join(f"{k} {v:.2f}" for v, k in best)
        print(f"attribute R^2: median {scores['attribute_r2_median']:.3f}; best {listed}")
    if "fd_parser_floor" in scores:
        print(f"FD-parser floor (N={scores['fd_count']}, procedural vs procedural): {scores['fd_parser_floor']:.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regiongan.parser", description="Train and evaluate part parsers.")
    sub = ap.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train a parser on a procedural world and save it")
    tr.add_argument("--world", default="faces", choices=list_worlds())
    tr.add_argument("--size", type=int, default=64, help="image side in pixels")
    tr.add_argument("--steps", type=int, default=2000)
    tr.add_argument("--batch", type=int, default=8)
    tr.add_argument("--lr", type=float, default=3e-3)
    tr.add_argument("--channels", default="16,32,64,128", help="channels per level, full resolution first")
    tr.add_argument("--seed", type=int, default=0, help="initial weights; training images come from stream 1000+seed")
    tr.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    tr.add_argument("--out", type=Path, required=True, help="output directory (config.json + model.safetensors)")
    tr.add_argument("--overwrite", action="store_true", help="replace the weights in a non-empty --out")
    tr.add_argument("--eval-count", type=int, default=1000, help="held-out images scored after training (0: skip)")
    tr.add_argument("--no-progress", action="store_true")

    ev = sub.add_parser("eval", help="score a parser on held-out procedural images")
    ev.add_argument("--parser", default="parser-faces-64", help="shipped parser name or directory")
    ev.add_argument("--world", default=None, help="default: the world the parser was trained on")
    ev.add_argument("--count", type=int, default=1000)
    ev.add_argument("--seed", type=int, default=0, help="evaluation stream (training uses 1000+)")
    ev.add_argument("--size", type=int, default=64)
    ev.add_argument("--fd", action="store_true", help="also compute the FD-parser floor at N=--count")
    ev.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ev.add_argument("--json", type=Path, default=None, help="also write the scores as JSON here")

    args = ap.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)

    if args.command == "train":
        try:
            channels = [int(c) for c in args.channels.split(",")]
        except ValueError:
            ap.error(f"--channels must be comma-separated ints like 16,32,64,128, got {args.channels!r}")
        t0 = time.perf_counter()
        try:
            parser = train_parser(
                args.world, args.size, args.steps, args.batch, args.seed, out_dir=args.out,
                progress=not args.no_progress, lr=args.lr, channels=channels, overwrite=args.overwrite,
            )  # fmt: skip
        except (ValueError, FileExistsError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"trained in {time.perf_counter() - t0:.0f} s; saved to {args.out}")
        if args.eval_count:
            _print_scores(evaluate_parser(parser, args.world, count=args.eval_count, size=args.size))
        return 0

    try:
        parser = load_parser(args.parser)
        scores = evaluate_parser(parser, args.world, count=args.count, seed=args.seed, size=args.size)
        if args.fd:
            scores["fd_count"] = args.count
            scores["fd_parser_floor"] = fd_parser_floor(parser, args.world, count=args.count, seed=args.seed, size=args.size)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _print_scores(scores)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(scores, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
