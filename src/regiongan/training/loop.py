"""``train(cfg)``: the StyleGAN2 training loop (NVlabs ``training_loop``, rewritten around explicit state).

One step shows ``cfg.batch`` real images (split over processes) and runs the four phases of
:class:`~regiongan.training.losses.StyleGAN2Loss` — G main, lazy G reg, D main, lazy D reg — each with its own
optimiser step, then updates the EMA generator. Everything a step depends on is in :class:`TrainState`
or derived from the step counter, which is what makes resuming exact:

    models + optimisers + pl_mean + step/nimg/data cursor + per-rank torch.Generator states

Outputs in ``run_dir``: ``snapshot-step*.pt`` (last ``keep_snapshots``), ``model/`` (EMA generator in the
regiongan format, fp16), ``samples/fakes-step*.png`` (fixed seeds), ``metrics.jsonl`` and ``train_config.json``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..checkpoints import save_pretrained
from ..discriminators import StyleGAN2Discriminator
from ..generators.stylegan2 import StyleGAN2
from ..images import make_grid, save_image
from ..latents import z_from_seeds
from .augment import DiffAugment
from .config import RUN_CONTROL_FIELDS, TrainConfig
from .data import RealImages, open_real_images
from .distributed import Distributed, init_distributed
from .losses import StyleGAN2Loss
from .snapshot import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    SnapshotError,
    atomic_torch_save,
    capture_global_rng,
    list_snapshots,
    load_latest_snapshot,
    prune_snapshots,
    restore_global_rng,
    snapshot_path,
)

__all__ = ["train", "build_networks", "make_adam"]


def build_networks(cfg: TrainConfig, c_dim: int = 0) -> tuple[StyleGAN2, StyleGAN2Discriminator]:
    """G and D for ``cfg``, initialised from ``cfg.seed`` (the global RNG is forked, so left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        G = StyleGAN2(
            z_dim=cfg.z_dim, c_dim=c_dim, w_dim=cfg.w_dim, img_resolution=cfg.resolution,
            mapping_layers=cfg.mapping_layers, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
            channels=cfg.g_channels, architecture=cfg.g_architecture,
        )  # fmt: skip
        D = StyleGAN2Discriminator(
            c_dim=c_dim, img_resolution=cfg.resolution, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
            channels=cfg.d_channels or cfg.g_channels, mbstd_group_size=cfg.mbstd_group,
        )  # fmt: skip
    return G, D


def make_adam(params: Iterable[torch.nn.Parameter], lr: float, beta1: float, beta2: float, reg_interval: int | None) -> torch.optim.Adam:
    """Adam with StyleGAN2's lazy-regularisation correction: with a regulariser every k steps, the
    optimiser runs k+1 times per k steps, so lr and betas are rescaled by ``k / (k + 1)`` (Appendix B)."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(beta1**ratio, beta2**ratio), eps=1e-8)


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class TrainState:
    """Counters that, with the networks and optimisers, define where a run is."""

    step: int = 0
    nimg: int = 0  # real images shown (all ranks)
    data_cursor: int = 0  # index of the next real image of the stream
    wall_s: float = 0.0  # training time over all sessions of the run
    stats: dict[str, list[float]] = field(default_factory=dict)  # name -> [sum, count] since the last log line


class Trainer:
    """The state of one process of a run and the verbs that advance it. Use :func:`train`."""

    def __init__(self, cfg: TrainConfig, dist: Distributed):
        self.cfg, self.dist = cfg, dist
        self.run_dir = Path(cfg.run_dir)
        if cfg.batch % dist.world_size:
            raise ValueError(
                f"--batch {cfg.batch} is not divisible by the number of processes ({dist.world_size}); "
                f"use a multiple of {dist.world_size}"
            )
        self.batch_per_rank = cfg.batch // dist.world_size
        group = min(cfg.mbstd_group, self.batch_per_rank)
        if self.batch_per_rank % group:
            raise ValueError(
                f"per-process batch {self.batch_per_rank} is not divisible by the minibatch-stddev group {group}; "
                "change --batch or --mbstd-group"
            )
        self.device = dist.device
        self.data: RealImages = open_real_images(cfg.data, cfg.resolution, cfg.data_seed, cfg.seed, cfg.conditional)
        G, D = build_networks(cfg, self.data.c_dim)
        self.G, self.D = G.to(self.device).train(), D.to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G_reg_interval = cfg.pl_interval if cfg.pl_weight > 0 else None
        self.D_reg_interval = cfg.r1_interval if cfg.r1_gamma > 0 else None
        self.G_opt = make_adam(self.G.parameters(), cfg.g_lr, cfg.beta1, cfg.beta2, self.G_reg_interval)
        self.D_opt = make_adam(self.D.parameters(), cfg.d_lr, cfg.beta1, cfg.beta2, self.D_reg_interval)
        self.loss = StyleGAN2Loss(
            self.G, self.D, DiffAugment(cfg.augment_ops()), precision=cfg.precision, style_mixing=cfg.style_mixing,
            r1_gamma=cfg.r1_gamma, pl_weight=cfg.pl_weight, pl_decay=cfg.pl_decay,
            pl_batch_shrink=cfg.pl_batch_shrink, reduce_mean=dist.mean,
        )  # fmt: skip
        # All training randomness: latents, mixing, augmentation on the CPU generator; noise on the device one.
        self.gen = torch.Generator().manual_seed(_derived_seed(cfg.seed, dist.rank))
        self.noise_gen = self.gen
        if self.device.type != "cpu":
            self.noise_gen = torch.Generator(self.device).manual_seed(_derived_seed(cfg.seed, dist.rank, 1))
        self.state = TrainState()
        self.resumed_from: Path | None = None

    # ------------------------------------------------------------------------------------- run directory
    def prepare_run_dir(self) -> None:
        """Resume from the newest valid snapshot, or start fresh (refusing to overwrite a run)."""
        cfg = self.cfg
        found = load_latest_snapshot(self.run_dir, warn=self.dist.is_main) if cfg.resume else None
        if found is not None:
            snap, path = found
            self.load_state(snap)
            self.resumed_from = path
            self._print(f"resuming from {path} (step {self.state.step}, {self.state.nimg / 1000:.3f} kimg)")
        else:
            if not cfg.resume and list_snapshots(self.run_dir):
                raise SnapshotError(
                    f"{self.run_dir} already holds snapshots ({list_snapshots(self.run_dir)[0].name}); pass --resume "
                    "to continue that run, or choose another --run-dir"
                )
            if cfg.resume:
                self._print(f"--resume: no snapshot in {self.run_dir} yet; starting a new run there")
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "train_config.json").write_text(cfg.to_json() + "\n")
            self._truncate_metrics(self.state.step)
            if self.state.step == 0:
                reals, _ = self.data.batch(0, min(cfg.grid, 64))
                save_image(make_grid(reals), self.run_dir / "samples" / "reals.png")
        self.dist.barrier()

    def _truncate_metrics(self, step: int) -> None:
        """Drop log lines written after ``step`` (by a run that died after its last snapshot)."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(k + "\n" for k in keep))
        os.replace(tmp, path)

    # -------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly; generator states of all ranks (collective call)."""
        rng = {"cpu": self.gen.get_state()}
        if self.noise_gen is not self.gen:
            rng["device"] = self.noise_gen.get_state()
        s = self.state
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "config": self.cfg.to_dict(),
            "step": s.step,
            "nimg": s.nimg,
            "data_cursor": s.data_cursor,
            "wall_s": s.wall_s,
            "stats": {k: list(v) for k, v in s.stats.items()},
            "world_size": self.dist.world_size,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "G_opt": self.G_opt.state_dict(),
            "D_opt": self.D_opt.state_dict(),
            "pl_mean": self.loss.pl_mean.detach().cpu(),
            "rng": {"ranks": self.dist.gather(rng), "global": capture_global_rng()},
        }

    def load_state(self, snap: dict[str, Any]) -> None:
        stored = TrainConfig.from_dict(snap["config"])
        changed = stored.changed_fields(self.cfg)
        if changed:
            lines = [f"  {k}: snapshot {a!r}, now {b!r}" for k, (a, b) in sorted(changed.items())]
            raise ValueError(
                f"cannot resume {self.run_dir}: the options differ from the run's (see {self.run_dir / 'train_config.json'}):\n"
                + "\n".join(lines)
                + f"\nOnly {', '.join(sorted(RUN_CONTROL_FIELDS))} may change on resume."
            )
        self.G.load_state_dict(snap["G"])
        self.D.load_state_dict(snap["D"])
        self.G_ema.load_state_dict(snap["G_ema"])
        self.G_opt.load_state_dict(snap["G_opt"])
        self.D_opt.load_state_dict(snap["D_opt"])
        self.loss.pl_mean = snap["pl_mean"].to(self.device)
        self.state = TrainState(
            step=snap["step"], nimg=snap["nimg"], data_cursor=snap["data_cursor"], wall_s=snap["wall_s"],
            stats={k: list(v) for k, v in snap.get("stats", {}).items()},
        )  # fmt: skip
        ranks = snap["rng"]["ranks"]
        if len(ranks) == self.dist.world_size:
            self.gen.set_state(ranks[self.dist.rank]["cpu"])
            if "device" in ranks[self.dist.rank] and self.noise_gen is not self.gen:
                self.noise_gen.set_state(ranks[self.dist.rank]["device"])
        else:
            self._warn(
                f"snapshot was written by {len(ranks)} processes, this run has {self.dist.world_size}: "
                "random streams are reseeded, so the run continues but not bit-exactly"
            )
            self.gen.manual_seed(_derived_seed(self.cfg.seed, self.dist.rank, snap["step"]))
            self.noise_gen.manual_seed(_derived_seed(self.cfg.seed, self.dist.rank, snap["step"], 1))
        restore_global_rng(snap["rng"]["global"])

    # --------------------------------------------------------------------------------------------- step
    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn([n, self.G.z_dim], generator=self.gen).to(self.device)

    def _phase_step(self, module: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(module.parameters())
        opt.step()

    def train_step(self) -> dict[str, float]:
        """One step of all four phases on the next real batch; returns this rank's statistics."""
        cfg, s, n = self.cfg, self.state, self.batch_per_rank
        real, real_c = self.data.batch(s.data_cursor + self.dist.rank * n, n)
        real = real.to(self.device)
        real_c = real_c.to(self.device) if real_c is not None else None
        gen_c = real_c  # fakes get the class distribution of the reals
        stats: dict[str, float] = {}

        # G main: fool D.
        self.D.requires_grad_(False)
        loss, ws = self.loss.generator_loss(self._latents(n), gen_c, self.gen, self.noise_gen)
        self._phase_step(self.G, self.G_opt, loss)
        self.G.update_w_avg(self.dist.mean(ws[:, :1].mean(dim=0, keepdim=True)))
        stats["loss/G"] = float(loss.detach())

        # G reg: path length, lazily.
        if self.G_reg_interval and s.step % self.G_reg_interval == 0:
            pl_loss, pl_len = self.loss.path_length_loss(self._latents(n), gen_c, self.gen, self.noise_gen)
            self._phase_step(self.G, self.G_opt, pl_loss * self.G_reg_interval)
            stats["loss/pl"], stats["pl_length"] = float(pl_loss.detach()), float(pl_len)
        self.D.requires_grad_(True)

        # D main: tell real from fake.
        self.G.requires_grad_(False)
        loss, d_stats = self.loss.discriminator_loss(real, real_c, self._latents(n), gen_c, self.gen, self.noise_gen)
        self._phase_step(self.D, self.D_opt, loss)
        stats["loss/D"] = float(loss.detach())
        stats.update(d_stats)

        # D reg: R1 on reals, lazily.
        if self.D_reg_interval and s.step % self.D_reg_interval == 0:
            r1_loss, r1_pen = self.loss.r1_loss(real, real_c, self.gen)
            self._phase_step(self.D, self.D_opt, r1_loss * self.D_reg_interval)
            stats["loss/r1"], stats["r1_penalty"] = float(r1_loss.detach()), float(r1_pen)
        self.G.requires_grad_(True)

        s.step += 1
        s.nimg += cfg.batch
        s.data_cursor += cfg.batch
        self._update_ema()
        return stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        """``G_ema ← β G_ema + (1 − β) G`` with β for a half-life of ``ema_kimg`` (ramped up early on)."""
        cfg = self.cfg
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup > 0:
            ema_nimg = min(ema_nimg, self.state.nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ------------------------------------------------------------------------------------------ outputs
    def log_line(self, interval_s: float, interval_nimg: int) -> dict[str, Any]:
        """Average the statistics since the last line over ranks and reset them (collective call)."""
        s = self.state
        names = sorted(s.stats)
        sums = self.dist.mean(torch.tensor([s.stats[k][0] / max(s.stats[k][1], 1) for k in names], dtype=torch.float64))
        line: dict[str, Any] = {"step": s.step, "kimg": round(s.nimg / 1000, 6)}
        line.update({k: float(v) for k, v in zip(names, sums.tolist())})
        line["pl_mean"] = float(self.loss.pl_mean)
        line["img_per_s"] = round(interval_nimg / max(interval_s, 1e-9), 3)
        line["sec_per_kimg"] = round(interval_s / max(interval_nimg, 1) * 1000, 3)
        line["wall_s"] = round(s.wall_s, 2)
        line["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        s.stats = {}
        return line

    def write_metrics(self, line: dict[str, Any]) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")

    def save_snapshot(self) -> Path | None:
        """Snapshot (collective: gathers every rank's random state); rank 0 writes and exports."""
        snap = self.state_dict()
        checksums = {"G": self.dist.checksums(self.G), "D": self.dist.checksums(self.D)}
        if any(len(set(v)) != 1 for v in checksums.values()):
            raise RuntimeError(f"data-parallel replicas diverged at step {self.state.step}: {checksums}")
        if not self.dist.is_main:
            return None
        path = atomic_torch_save(snap, snapshot_path(self.run_dir, self.state.step))
        prune_snapshots(self.run_dir, self.cfg.keep_snapshots)
        kimg = self.state.nimg / 1000
        facts = {
            "trained_with": "regiongan.training",
            "kimg": round(kimg, 3),
            "step": self.state.step,
            "batch": self.cfg.batch,
            "resolution": self.cfg.resolution,
            "precision": self.cfg.precision,
            "data": self.data.describe(),
            "train_config": self.cfg.to_dict(),
        }
        save_pretrained(self.G_ema, self.run_dir / "model", dtype=torch.float16, overwrite=True, extra=facts)
        self.sample_grid().save(self.run_dir / "samples" / f"fakes-step{self.state.step:08d}.png")
        self.write_metrics({"step": self.state.step, "kimg": round(kimg, 6), "event": "snapshot",
                            "file": path.name, "param_checksums": checksums})  # fmt: skip
        return path

    @torch.no_grad()
    def sample_grid(self) -> Image.Image:
        """G_ema on seeds ``0 .. grid-1`` (the ``regiongan generate`` convention), const noise, ψ = 1."""
        z = z_from_seeds(range(self.cfg.grid), self.G_ema.z_dim).to(self.device)
        c = None
        if self.G_ema.c_dim:
            c = torch.nn.functional.one_hot(torch.arange(self.cfg.grid) % self.G_ema.c_dim, self.G_ema.c_dim).float()
            c = c.to(self.device)
        images = []
        for lo in range(0, self.cfg.grid, 16):
            ws = self.G_ema.map(z[lo : lo + 16], c[lo : lo + 16] if c is not None else None)
            images.append(self.G_ema.synthesize(self.G_ema.styles(ws), noise_mode="const").image.cpu())
        return make_grid(torch.cat(images), ncols=min(8, self.cfg.grid))

    # ---------------------------------------------------------------------------------------------- run
    def run(self) -> Path:
        cfg, s = self.cfg, self.state
        total_nimg = int(round(cfg.kimg * 1000))
        snap_nimg = max(int(round(cfg.snap_kimg * 1000)), 1)
        next_snap = (s.nimg // snap_nimg + 1) * snap_nimg
        self._print(
            f"training {cfg.resolution}² on {cfg.data}: batch {cfg.batch} over {self.dist.world_size} process(es), "
            f"G {_count(self.G) / 1e6:.2f}M / D {_count(self.D) / 1e6:.2f}M params, {cfg.precision}, {self.device}"
        )
        bar = None
        if self.dist.is_main and cfg.progress:
            bar = tqdm(
                total=total_nimg / 1000, initial=s.nimg / 1000, unit="kimg", dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 30.0,
                bar_format="{l_bar}{bar}| {n:.3f}/{total:.1f} kimg [{elapsed}<{remaining}]{postfix}",
            )  # fmt: skip
        last_log_t, last_log_nimg = time.perf_counter(), s.nimg
        while s.nimg < total_nimg:
            t0 = time.perf_counter()
            stats = self.train_step()
            s.wall_s += time.perf_counter() - t0
            for k, v in stats.items():
                acc = s.stats.setdefault(k, [0.0, 0.0])
                acc[0] += v
                acc[1] += 1
            done = s.nimg >= total_nimg
            if s.step % cfg.log_every == 0 or done:
                now = time.perf_counter()
                line = self.log_line(now - last_log_t, s.nimg - last_log_nimg)
                last_log_t, last_log_nimg = now, s.nimg
                if self.dist.is_main:
                    self.write_metrics(line)
                    if bar is not None:
                        bar.set_postfix_str(
                            f"{line['img_per_s'] / 1000:.4f} kimg/s ({line['img_per_s']:.1f} img/s), "
                            f"G {line.get('loss/G', float('nan')):.3f} D {line.get('loss/D', float('nan')):.3f}",
                            refresh=False,
                        )  # fmt: skip
            if bar is not None:
                bar.update(cfg.batch / 1000)
            if s.nimg >= next_snap or done:
                self.save_snapshot()
                next_snap = (s.nimg // snap_nimg + 1) * snap_nimg
        if bar is not None:
            bar.close()
        self._print(f"done: {s.nimg / 1000:.3f} kimg in {s.wall_s / 3600:.2f} h of training; model in {self.run_dir / 'model'}")
        return self.run_dir

    # ------------------------------------------------------------------------------------------ helpers
    def _print(self, msg: str) -> None:
        if self.dist.is_main:
            print(msg, file=sys.stderr, flush=True)

    def _warn(self, msg: str) -> None:
        if self.dist.is_main:
            warnings.warn(msg, stacklevel=2)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def train(cfg: TrainConfig) -> Path:
    """Train (or, with ``cfg.resume``, continue) a StyleGAN2 run; returns ``cfg.run_dir``.

    Under ``torchrun`` every process calls this; they split each batch, average gradients and only rank 0
    writes. Raises ValueError for bad options and :class:`~regiongan.training.snapshot.SnapshotError` when
    snapshots exist but none can be read, or when a new run would overwrite one.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"train() takes a TrainConfig, got {type(cfg).__name__}; use TrainConfig(**options)")
    dist = init_distributed(cfg.device)
    num_threads = torch.get_num_threads()
    try:
        if dist.device.type == "cpu":
            torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // dist.local_world_size))
        trainer = Trainer(cfg, dist)
        trainer.prepare_run_dir()
        return trainer.run()
    finally:
        torch.set_num_threads(num_threads)
        dist.close()
