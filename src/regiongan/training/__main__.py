"""``python -m regiongan.training --data faces --resolution 64 --kimg 500 --run-dir runs/faces64 [--resume]``.

Data-parallel: ``torchrun --nproc_per_node=2 -m regiongan.training ...`` (gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import argparse
import sys

from .config import TrainConfig, add_train_arguments
from .loop import train
from .snapshot import SnapshotError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m regiongan.training",
        description="Train a StyleGAN2 generator (and discriminator) on a procedural world or an image folder.",
    )
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = TrainConfig.from_args(args)
        run_dir = train(cfg)
    except (ValueError, SnapshotError, FileNotFoundError, NotADirectoryError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
