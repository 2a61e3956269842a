"""Training generators (StyleGAN2, BigGAN-deep): config, objectives, augmentation, snapshots and the loop.

    from regiongan.training import TrainConfig, train
    train(TrainConfig(data="faces", resolution=64, kimg=500, run_dir="runs/faces64", resume=True))
    train(TrainConfig(family="biggan-deep", data="scenes", conditional=True, resolution=64, run_dir="runs/scenes64"))

One loop (:mod:`.loop`) serves every family; what differs per family — networks, optimisers, loss and
regularisers, how z and c are drawn, what is exported — lives in :mod:`.families`.

Command line: ``python -m regiongan.training --help`` (``torchrun --nproc_per_node=N`` for data parallelism).
"""

from .augment import DiffAugment
from .config import TrainConfig, add_train_arguments, click_train_options, load_config, parse_channels
from .families import TrainingFamily, get_family
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
    "TrainingFamily",
    "get_family",
    "DiffAugment",
    "SnapshotError",
    "SnapshotWarning",
    "list_snapshots",
    "load_latest_snapshot",
]
