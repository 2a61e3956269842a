"""What a generator family brings to the one training loop (:mod:`regiongan.training.loop`).

The loop owns everything shared: data, processes, optimiser steps, the EMA, snapshots, logging and
outputs. A family (one module per family, registered in :mod:`regiongan.training.families`) supplies:

    build_networks(cfg, c_dim) -> (G, D)            seeded from cfg.seed, global RNG untouched
    make_optimizers(cfg, G, D) -> (G_opt, D_opt)
    check_batch(cfg, batch_per_rank)                 ValueError when the per-process batch cannot work
    objective(cfg, G, D, ctx) -> Objective           the loss, its regularisers and how z / c are drawn
    export(cfg, G_ema, ctx) -> Generator             what ``model/`` and the sample grids get

An :class:`Objective` turns one step into :class:`Phase` s — each a loss for G or for D, stepped by that
network's optimiser — and carries the objective's own state (e.g. StyleGAN2's path-length mean), which
goes into the snapshot so a resumed run continues exactly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal

import numpy as np
import torch
import torch.nn as nn

from ..augment import DiffAugment
from ..config import TrainConfig
from ..samples import grid_columns, seed_images

__all__ = ["RealBatch", "Phase", "StepContext", "Objective", "TrainingFamily", "CardFacts", "derived_seed"]


@dataclass
class RealBatch:
    """This process' share of one real batch: images ``[n, 3, R, R]`` in [-1, 1], classes ``[n, c_dim]``
    (one-hot; None when unconditional) and, for families that declare :attr:`TrainingFamily.needs_labels`,
    the images' label maps ``[n, R, R]`` int64 part ids (None otherwise), on the training device."""

    images: torch.Tensor
    c: torch.Tensor | None
    labels: torch.Tensor | None = None


@dataclass
class Phase:
    """One optimiser step: ``loss()`` returns the scalar to back-propagate and statistics to log; the loop
    freezes the other network, steps ``net``'s optimiser on the gradients (averaged over processes) and
    then calls ``after()``, if any."""

    name: str
    net: Literal["G", "D"]
    loss: Callable[[], tuple[torch.Tensor, dict[str, float]]]
    after: Callable[[], None] | None = None


@dataclass
class StepContext:
    """What the objective may use besides the networks.

    ``generator`` (CPU) draws latents, classes, mixing and augmentation; ``noise_generator`` (the device's)
    draws noise. ``reduce_mean`` averages a tensor over processes (identity in one process).
    """

    device: torch.device
    generator: torch.Generator
    noise_generator: torch.Generator
    reduce_mean: Callable[[torch.Tensor], torch.Tensor]
    augment: DiffAugment
    batch_per_rank: int

    def latents(self, n: int, z_dim: int) -> torch.Tensor:
        """Standard normal ``z [n, z_dim]`` from :attr:`generator`, on the device (no truncation)."""
        return torch.randn([n, z_dim], generator=self.generator).to(self.device)


class Objective(ABC):
    """A family's loss over one step. ``loss`` is its loss object (e.g. :class:`StyleGAN2Loss`)."""

    loss: Any

    @abstractmethod
    def phases(self, step: int, reals: list[RealBatch]) -> list[Phase]:
        """The phases of step ``step`` (0-based), given ``cfg.d_steps`` real batches in stream order."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Objective state for the snapshot (top-level snapshot keys); none by default."""
        return {}

    def load_state_dict(self, snapshot: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` wrote, reading it from the snapshot."""

    def log_values(self) -> dict[str, float]:
        """Extra values for each metrics line (e.g. the path-length mean)."""
        return {}


@dataclass
class CardFacts:
    """What a family says about a trained generator on its model card (:mod:`regiongan.training.ship`).

    title: the model in a few words (``"class-conditional BigGAN-deep"``); config: the size-setting facts
    (``"z 128, channel width 32, …"``); kimg_note: what a usual run of this family needs, for the status.
    """

    title: str
    config: str
    kimg_note: str


class TrainingFamily(ABC):
    """One generator family's pieces for the loop (see the module docstring). Stateless: one instance per family."""

    name: ClassVar[str]
    #: The family trains on label maps (:attr:`RealBatch.labels`): only data that has them will do.
    needs_labels: ClassVar[bool] = False

    @abstractmethod
    def build_networks(self, cfg: TrainConfig, c_dim: int) -> tuple[nn.Module, nn.Module]:
        """G and D for ``cfg`` (``c_dim`` classes, 0 when unconditional), initialised from ``cfg.seed``."""

    @abstractmethod
    def make_optimizers(self, cfg: TrainConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """G's and D's optimisers."""

    def check_batch(self, cfg: TrainConfig, batch_per_rank: int) -> None:
        """Raise a ValueError naming the fix when ``batch_per_rank`` does not suit the networks."""

    @abstractmethod
    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, ctx: StepContext) -> Objective:
        """The objective of a run (fresh state; the loop restores it on resume)."""

    @abstractmethod
    def card(self, cfg: TrainConfig, G: nn.Module) -> CardFacts:
        """The family's facts for the model card of the trained generator ``G``."""

    def export(self, cfg: TrainConfig, G_ema: nn.Module, ctx: StepContext) -> nn.Module:
        """The generator written to ``model/`` and drawn in the sample grids; ``G_ema`` itself by default.
        Must not change ``G_ema`` (it is part of the training state) nor draw from ``ctx``'s generators."""
        return G_ema

    def sample_grid_images(self, G: nn.Module, count: int, reals: RealBatch | None) -> tuple[torch.Tensor, int]:
        """The tiles of a sample grid of ``G`` (the exported generator) and its column count: by default
        seeds ``0 .. count-1`` (:func:`~regiongan.training.samples.seed_images`). ``reals`` is the first
        ``count`` images of the data stream with their label maps (given only when :attr:`needs_labels`)."""
        return seed_images(G, count), grid_columns(G, count)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers (numpy's SeedSequence), for independent reproducible streams."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)
