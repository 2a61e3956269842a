"""Training StyleGAN2 generators: config, objective, augmentation, snapshots and the loop.

    from regiongan.training import TrainConfig, train
    train(TrainConfig(data="faces", resolution=64, kimg=500, run_dir="runs/faces64", resume=True))

Command line: ``python -m regiongan.training --help`` (``torchrun --nproc_per_node=N`` for data parallelism).
"""

from .augment import DiffAugment
from .config import TrainConfig, add_train_arguments, click_train_options, load_config, parse_channels
from .losses import StyleGAN2Loss
from .loop import build_networks, make_adam, train
from .snapshot import SnapshotError, SnapshotWarning, list_snapshots, load_latest_snapshot

__all__ = [
    "TrainConfig",
    "train",
    "add_train_arguments",
    "click_train_options",
    "load_config",
    "parse_channels",
    "build_networks",
    "make_adam",
    "StyleGAN2Loss",
    "DiffAugment",
    "SnapshotError",
    "SnapshotWarning",
    "list_snapshots",
    "load_latest_snapshot",
]
