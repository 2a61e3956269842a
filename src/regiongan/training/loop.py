"""``train(cfg)``: the training loop of every generator family (NVlabs ``training_loop``, rewritten around
explicit state).

The family (``cfg.family``, :mod:`regiongan.training.families`) builds G and D and their optimisers and
turns a step into phases; the loop does the rest. One step takes ``cfg.d_steps`` real batches of
``cfg.batch`` images (split over processes) and runs the family's phases — StyleGAN2: G main, lazy G reg,
D main, lazy D reg; BigGAN-deep: D × d_steps, then G — each with its own optimiser step, then updates the
EMA generator. Everything a step depends on is in :class:`TrainState` or derived from the step counter,
which is what makes resuming exact:

    models + optimisers + objective state (StyleGAN2's pl_mean) + step/nimg/data cursor
    + per-rank torch.Generator states

Outputs in ``run_dir``: ``snapshot-step*.pt`` (last ``keep_snapshots``), ``model/`` (EMA generator in the
regiongan format, fp16), ``samples/fakes-step*.png`` (fixed seeds), ``metrics.jsonl`` and ``train_config.json``.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm import tqdm

from ..checkpoints import save_pretrained
from ..images import make_grid, save_image
from .augment import DiffAugment
from .config import RUN_CONTROL_FIELDS, TrainConfig
from .data import RealImages, open_real_images
from .distributed import Distributed, init_distributed
from .families import Objective, RealBatch, StepContext, derived_seed, get_family, make_adam
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


def build_networks(cfg: TrainConfig, c_dim: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D of ``cfg.family`` for ``cfg``, initialised from ``cfg.seed`` (the global RNG is forked, so left
    untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return get_family(cfg.family).build_networks(cfg, c_dim)


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
        self.family = get_family(cfg.family)
        self.family.check_batch(cfg, self.batch_per_rank)
        self.device = dist.device
        self.data: RealImages = open_real_images(
            cfg.data, cfg.resolution, cfg.data_seed, cfg.seed, cfg.conditional, labels=self.family.needs_labels
        )
        self._grid_reals: RealBatch | None = None  # the sample grid's real batch (label-map families)
        G, D = build_networks(cfg, self.data.c_dim)
        self.G, self.D = G.to(self.device).train(), D.to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G_opt, self.D_opt = self.family.make_optimizers(cfg, self.G, self.D)
        # All training randomness: latents, mixing, augmentation on the CPU generator; noise on the device one.
        self.gen = torch.Generator().manual_seed(derived_seed(cfg.seed, dist.rank))
        self.noise_gen = self.gen
        if self.device.type != "cpu":
            self.noise_gen = torch.Generator(self.device).manual_seed(derived_seed(cfg.seed, dist.rank, 1))
        self.ctx = StepContext(
            device=self.device, generator=self.gen, noise_generator=self.noise_gen, reduce_mean=dist.mean,
            augment=DiffAugment(cfg.augment_ops()), batch_per_rank=self.batch_per_rank,
        )  # fmt: skip
        self.objective: Objective = self.family.objective(cfg, self.G, self.D, self.ctx)
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
            **self.objective.state_dict(),
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
        self.objective.load_state_dict(snap)
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
            self.gen.manual_seed(derived_seed(self.cfg.seed, self.dist.rank, snap["step"]))
            self.noise_gen.manual_seed(derived_seed(self.cfg.seed, self.dist.rank, snap["step"], 1))
        restore_global_rng(snap["rng"]["global"])

    # --------------------------------------------------------------------------------------------- step
    @property
    def loss(self) -> Any:
        """The family's loss object (e.g. :class:`~regiongan.training.losses.StyleGAN2Loss`)."""
        return self.objective.loss

    def _real_batch(self, k: int) -> RealBatch:
        """This rank's share of the step's ``k``-th real batch (global stream order, so resumable)."""
        n = self.batch_per_rank
        start = self.state.data_cursor + k * self.cfg.batch + self.dist.rank * n
        if self.family.needs_labels:
            images, c, labels = self.data.batch_with_labels(start, n)
            return RealBatch(images.to(self.device), c.to(self.device) if c is not None else None, labels.to(self.device))
        images, c = self.data.batch(start, n)
        return RealBatch(images.to(self.device), c.to(self.device) if c is not None else None)

    def _phase_step(self, module: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.dist.average_gradients(module.parameters())
        opt.step()

    def train_step(self) -> dict[str, float]:
        """One step: the family's phases on the next ``d_steps`` real batches; returns this rank's statistics
        (each averaged over the phases that report it)."""
        cfg, s = self.cfg, self.state
        reals = [self._real_batch(k) for k in range(cfg.d_steps)]
        sums: dict[str, list[float]] = {}
        phases = self.objective.phases(s.step, reals)
        if s.nimg < cfg.d_warmup_kimg * 1000:  # D catches up with a G trained elsewhere before G learns from it
            phases = [phase for phase in phases if phase.net == "D"]
        for phase in phases:
            net, other, opt = (self.G, self.D, self.G_opt) if phase.net == "G" else (self.D, self.G, self.D_opt)
            other.requires_grad_(False)
            loss, stats = phase.loss()
            self._phase_step(net, opt, loss)
            if phase.after is not None:
                phase.after()
            other.requires_grad_(True)
            for k, v in stats.items():
                acc = sums.setdefault(k, [0.0, 0])
                acc[0] += v
                acc[1] += 1
        s.step += 1
        s.nimg += cfg.batch * cfg.d_steps
        s.data_cursor += cfg.batch * cfg.d_steps
        self._update_ema()
        return {k: total if count == 1 else total / count for k, (total, count) in sums.items()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        """``G_ema ← β G_ema + (1 − β) G`` with β for a half-life of ``ema_kimg`` (ramped up early on)."""
        cfg = self.cfg
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup > 0:
            ema_nimg = min(ema_nimg, self.state.nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch * cfg.d_steps / max(ema_nimg, 1e-8))
        # one multi-tensor op each instead of a lerp and a copy per tensor
        torch._foreach_lerp_(list(self.G_ema.parameters()), [p.detach() for p in self.G.parameters()], 1.0 - beta)
        torch._foreach_copy_(list(self.G_ema.buffers()), list(self.G.buffers()))

    # ------------------------------------------------------------------------------------------ outputs
    def log_line(self, interval_s: float, interval_nimg: int) -> dict[str, Any]:
        """Average the statistics since the last line over ranks and reset them (collective call)."""
        s = self.state
        names = sorted(s.stats)
        sums = self.dist.mean(torch.tensor([s.stats[k][0] / max(s.stats[k][1], 1) for k in names], dtype=torch.float64))
        line: dict[str, Any] = {"step": s.step, "kimg": round(s.nimg / 1000, 6)}
        line.update({k: float(v) for k, v in zip(names, sums.tolist())})
        line.update(self.objective.log_values())
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
            "family": self.cfg.family,
            "kimg": round(kimg, 3),
            "step": self.state.step,
            "batch": self.cfg.batch,
            "resolution": self.cfg.resolution,
            "precision": self.cfg.precision,
            "data": self.data.describe(),
            "train_config": self.cfg.to_dict(),
        }
        exported = self.family.export(self.cfg, self.G_ema, self.ctx)
        save_pretrained(exported, self.run_dir / "model", dtype=torch.float16, overwrite=True, extra=facts)
        samples = self.run_dir / "samples"  # absent when a snapshot was copied into a new folder
        samples.mkdir(exist_ok=True)
        self.sample_grid(exported).save(samples / f"fakes-step{self.state.step:08d}.png")
        self.write_metrics({"step": self.state.step, "kimg": round(kimg, 6), "event": "snapshot",
                            "file": path.name, "param_checksums": checksums})  # fmt: skip
        return path

    @torch.no_grad()
    def sample_grid(self, G: Any = None) -> Image.Image:
        """``G`` (default: G_ema) on seeds ``0 .. grid-1`` (:func:`~.samples.seed_images`), one column per
        class when conditional; a label-map family draws on the stream's first ``grid`` label maps
        (:meth:`~.families.TrainingFamily.sample_grid_images`)."""
        G = self.G_ema if G is None else G
        if self.family.needs_labels and self._grid_reals is None:
            images, c, labels = self.data.batch_with_labels(0, self.cfg.grid)
            self._grid_reals = RealBatch(images, c, labels)
        tiles, ncols = self.family.sample_grid_images(G, self.cfg.grid, self._grid_reals)
        return make_grid(tiles, ncols=ncols)

    # ---------------------------------------------------------------------------------------------- run
    def run(self) -> Path:
        cfg, s = self.cfg, self.state
        total_nimg = int(round(cfg.kimg * 1000))
        snap_nimg = max(int(round(cfg.snap_kimg * 1000)), 1)
        next_snap = (s.nimg // snap_nimg + 1) * snap_nimg
        self._print(
            f"training {cfg.family} {cfg.resolution}² on {cfg.data}: batch {cfg.batch} over {self.dist.world_size} process(es), "
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
                bar.update(cfg.batch * cfg.d_steps / 1000)
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
    """Train (or, with ``cfg.resume``, continue) a run of ``cfg.family``; returns ``cfg.run_dir``.

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
