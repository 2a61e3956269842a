"""Tiny, fast, deterministic training configs (16², batch 4, fp32, one thread)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from regiongan.training import TrainConfig

TINY = dict(
    data="faces", resolution=16, batch=4, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=32,
    grid=4, log_every=1, threads=1, progress=False, snap_kimg=1.0,
    # every regulariser and random draw on, at short intervals, so exact resume covers all of them
    r1_interval=2, pl_weight=2.0, pl_interval=2, augment="color,translation,cutout", ema_kimg=0.01,
)  # fmt: skip


def tiny_config(run_dir: Path, steps: int, **overrides) -> TrainConfig:
    """A config that stops after ``steps`` steps of batch 4."""
    kw = dict(TINY, run_dir=str(run_dir), kimg=steps * 4 / 1000)
    kw.update(overrides)
    return TrainConfig(**kw)


def loss_lines(run_dir: Path) -> list[dict]:
    """The per-step lines of metrics.jsonl, without timing fields."""
    lines = [json.loads(s) for s in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    timing = {"img_per_s", "sec_per_kimg", "wall_s", "time"}
    return [{k: v for k, v in d.items() if k not in timing} for d in lines if "loss/G" in d]


BIGGAN_TINY = dict(
    family="biggan-deep", data="scenes", conditional=True, resolution=16, batch=4, z_dim=8, channel_width=8,
    grid=4, log_every=1, threads=1, progress=False, snap_kimg=1.0, n_stats=3, standing_samples=4,
    # augmentation and orthogonal regularisation on, so exact resume covers their random draws and terms
    augment="color,translation,cutout", ortho_reg=1e-4, ema_kimg=0.01,
)  # fmt: skip


def tiny_biggan_config(run_dir: Path, steps: int, **overrides) -> TrainConfig:
    """A class-conditional BigGAN-deep on scenes at 16² that stops after ``steps`` steps (2 D batches of 4 each)."""
    kw = dict(BIGGAN_TINY, run_dir=str(run_dir))
    kw.update(overrides)
    kw.setdefault("kimg", steps * kw["batch"] * TrainConfig(**{**kw, "kimg": 1}).d_steps / 1000)
    return TrainConfig(**kw)


def free_port() -> int:
    """A free TCP port on the loopback interface, for a two-process gloo run."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SSN_TINY = dict(
    family="ssn", data="faces", resolution=16, batch=4, z_dim=8, w_dim=8, mapping_layers=2, channel_base=256,
    channel_max=16, block_grid=4, grid=4, log_every=1, threads=1, progress=False, snap_kimg=1.0,
    # every regulariser on at short, different intervals, so exact resume covers their draws and phases
    r1_interval=2, pl_weight=2.0, pl_interval=3, distortion_weight=10.0, distortion_interval=2,
    augment="color,translation", ema_kimg=0.01,
)  # fmt: skip


def tiny_ssn_config(run_dir: Path, steps: int, **overrides) -> TrainConfig:
    """An SSN (4×4 latent grid) on faces at 16² that stops after ``steps`` steps of batch 4."""
    kw = dict(SSN_TINY, run_dir=str(run_dir), kimg=steps * 4 / 1000)
    kw.update(overrides)
    return TrainConfig(**kw)


SPADE_TINY = dict(
    family="spade", data="scenes", resolution=32, batch=2, ngf=4, ndf=8, z_dim=8, d_layers=2, grid=2, log_every=1,
    threads=1, progress=False, snap_kimg=1.0, ema_kimg=0.01,
    augment="color",  # its random draws must resume exactly too
)  # fmt: skip


def tiny_spade_config(run_dir: Path, steps: int, **overrides) -> TrainConfig:
    """A SPADE (VAE, 12 scenes classes) at 32² that stops after ``steps`` steps of batch 2."""
    kw = dict(SPADE_TINY, run_dir=str(run_dir), kimg=steps * 2 / 1000)
    kw.update(overrides)
    return TrainConfig(**kw)
