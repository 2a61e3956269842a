"""Throughput of the procedural worlds: images/s of ``World.sample_batch`` (image + labels + attributes).

    python benchmarks/worlds.py                      # faces and scenes at 64 and 128, 1 and 2 threads
    python benchmarks/worlds.py --out results.json --count 1024 --repeats 3

Prints one line per configuration and writes a JSON report (default ``benchmarks/results/worlds.json``).
Each configuration is warmed up once, then timed ``--repeats`` times; the best wall-clock run is reported
(the least disturbed by other processes), with the median and the throughput per CPU-second.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from pathlib import Path

import numpy as np

from regiongan.data.worlds import get_world
from common import clocked, write_json  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "worlds.json"


def measure(world_name: str, size: int, count: int, repeats: int, workers: int, chunk: int) -> dict:
    """Time ``sample_batch`` for ``count`` images; returns a JSON-ready record."""
    world = get_world(world_name)
    world.sample_batch(0, 0, min(count, chunk), size, chunk=chunk)  # warm-up (allocator, caches)
    seconds, cpu_seconds = [], []
    for r in range(repeats):
        _, wall, cpu = clocked(lambda r=r: world.sample_batch(r + 1, 0, count, size, chunk=chunk, workers=workers))
        seconds.append(wall)
        cpu_seconds.append(cpu)
    best = min(seconds)
    return {
        "world": world_name, "size": size, "count": count, "chunk": chunk, "workers": workers,
        "images_per_s": count / best, "images_per_s_median": count / statistics.median(seconds),
        # CPU time summed over threads: with workers=1 this is what one idle core would deliver, a
        # useful number when other processes share the machine.
        "images_per_cpu_s": count / min(cpu_seconds),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    parser.add_argument("--worlds", nargs="+", default=["faces", "scenes"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--count", type=int, default=1024, help="images per timed run (halved per doubling of size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=64)
    args = parser.parse_args(argv)
    if args.count <= 0 or args.repeats <= 0 or args.chunk <= 0:
        parser.error("--count, --repeats and --chunk must be positive")

    results = []
    for name in args.worlds:
        for size in args.sizes:
            count = max(args.count * 64 * 64 // (size * size), args.chunk)
            chunk = max(args.chunk * 64 * 64 // (size * size), 8)  # same pixels per chunk at every size
            for workers in args.workers:
                rec = measure(name, size, count, args.repeats, workers, chunk)
                results.append(rec)
                print(f"{name:7s} {size:4d}px  workers={workers}  {rec['images_per_s']:8.1f} images/s "
                      f"(median {rec['images_per_s_median']:.1f}; {rec['images_per_cpu_s']:.1f} per CPU-s; "
                      f"{count} images, chunk {chunk})", flush=True)
    report = {
        "benchmark": "worlds.sample_batch",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__, "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
        "results": results,
    }
    write_json(args.out, report, end="")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
