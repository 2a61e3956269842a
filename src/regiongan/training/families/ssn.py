"""SSN in the training loop (docs/ssn.md "Training"): StyleGAN2's objective and discriminator around an
:class:`~regiongan.generators.ssn.SSNGenerator`, plus the low-distortion regulariser.

    G main (non-saturating logistic, style mixing) -> G reg (path length and/or low distortion, lazy)
    -> D main -> D reg (R1, lazy)

The low-distortion regulariser (:func:`~regiongan.training.losses.low_distortion_loss`, weight
``distortion_weight`` λ_D, ramped from 0 over ``distortion_ramp_kimg``) runs every ``distortion_interval``
steps, scaled by that interval; on a step where
the path-length regulariser is also due both terms form one G reg phase. G's Adam carries the lazy
correction of the more frequent of the two regularisers (:func:`make_adam`).

``init_from`` (``--init-from faces-64``): G starts as the transfer of that StyleGAN2
(:func:`~regiongan.generators.ssn_transfer.transfer_state`; the spatial encoder and global gate are fresh).
Shipped models carry no discriminator, so D starts fresh. ``--init-from RUN_DIR`` (an SSN training run)
takes both G and D from that run's newest snapshot instead (:func:`init_from_ssn_run`).
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ...checkpoints import load_model
from ...discriminators import StyleGAN2Discriminator
from ...generators.ssn import SSNGenerator
from ...generators.ssn_transfer import ssn_config_from_stylegan2, transfer_state
from ...generators.stylegan2 import StyleGAN2
from ..config import TrainConfig
from ..losses import low_distortion_loss
from .base import CardFacts, Phase, RealBatch, StepContext
from .stylegan2 import StyleGAN2Family, StyleGAN2Objective, make_adam

__all__ = ["SSNFamily", "SSNObjective", "ssn_generator_config", "init_from_stylegan2"]


def _intervals(cfg: TrainConfig) -> tuple[int | None, int | None, int | None]:
    """(path-length interval, distortion interval, R1 interval); None for a disabled regulariser."""
    pl = cfg.pl_interval if cfg.pl_weight else None
    dist = cfg.distortion_interval if cfg.distortion_weight else None
    r1 = cfg.r1_interval if cfg.r1_gamma else None
    return pl, dist, r1


def _g_adam_interval(cfg: TrainConfig) -> int | None:
    """The interval of G's lazy-regularisation correction: the more frequent active G regulariser."""
    active = [i for i in _intervals(cfg)[:2] if i]
    return min(active) if active else None


def ssn_generator_config(cfg: TrainConfig) -> dict[str, Any]:
    """The :class:`SSNGenerator` config of a run (``z_dim`` / ``w_dim`` are per-block channels)."""
    return dict(
        z_channels=cfg.z_dim, w_channels=cfg.w_dim, block_grid=cfg.block_grid, img_resolution=cfg.resolution,
        encoder_global=bool(cfg.encoder_global), gate_lr_multiplier=float(cfg.gate_lr_multiplier or 1.0),
        mapping_layers=cfg.mapping_layers, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
        channels=cfg.g_channels,
    )  # fmt: skip


def _widths_text(config: dict[str, Any]) -> str:
    """``--z-dim 256 --w-dim 256 --mapping-layers 4 --g-channels 4:256,…`` for an SSN config."""
    SSNGenerator.config_cost(dict(config))  # one-line errors before anything is built
    with torch.device("meta"):  # widths from a build that allocates nothing
        net = SSNGenerator(**config)
    chans = ",".join(f"{res}:{blk.out_channels}" for res, blk in net.synthesis.blocks())
    return (
        f"--z-dim {config['z_channels']} --w-dim {config['w_channels']} --mapping-layers {config['mapping_layers']} "
        f"--g-channels {chans} --resolution {config['img_resolution']}"
    )


def init_from_stylegan2(cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``cfg.init_from`` -> (the SSN config, the transferred state for ``load_state_dict(strict=False)``).

    The model must be an unconditional skip StyleGAN2 whose widths are the run's; otherwise a one-line
    ValueError that names the options the model needs.
    """
    src = load_model(str(cfg.init_from))
    if not isinstance(src, StyleGAN2):
        raise ValueError(f"--init-from {cfg.init_from}: a {type(src).__name__} is not a StyleGAN2; SSN transfers from StyleGAN2 only")
    try:
        config = ssn_config_from_stylegan2(
            src.config, cfg.block_grid, z_channels=src.config.get("z_dim"), encoder_global=bool(cfg.encoder_global),
            gate_lr_multiplier=float(cfg.gate_lr_multiplier or 1.0),
        )
    except ValueError as e:
        raise ValueError(f"--init-from {cfg.init_from}: {e}") from None
    want, have = _widths_text(ssn_generator_config(cfg)), _widths_text(config)
    if want != have:
        raise ValueError(
            f"--init-from {cfg.init_from}: its widths ({have}) differ from the run's ({want}); give its widths"
        )
    return config, transfer_state(src.state_dict(), config)


def _is_run_dir(path: str) -> bool:
    """True for a training run folder (``train_config.json`` next to snapshots), not a model."""
    return Path(path).is_dir() and (Path(path) / "train_config.json").is_file()


def init_from_ssn_run(cfg: TrainConfig) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``cfg.init_from`` is an SSN training run: (G state, D state) of its newest snapshot, for a fine-tune
    with other options (a stronger λ_D, say) that keeps the trained discriminator. The run's networks must
    have this run's shapes; otherwise a one-line ValueError naming the options that differ."""
    from ..config import load_config
    from ..snapshot import load_latest_snapshot

    src = load_config(Path(cfg.init_from) / "train_config.json")
    if src.family != "ssn":
        raise ValueError(f"--init-from {cfg.init_from}: a {src.family} run; an SSN fine-tune starts from an SSN run")
    found = load_latest_snapshot(cfg.init_from)
    if found is None:
        raise ValueError(f"--init-from {cfg.init_from}: the run has no snapshot yet")
    snap = found[0]
    shape_fields = ("resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "g_channels",
                    "d_channels", "block_grid", "encoder_global", "gate_lr_multiplier", "mbstd_group")  # fmt: skip
    differ = [
        f"--{f.replace('_', '-')} {getattr(src, f)!r} there, {getattr(cfg, f)!r} here"
        for f in shape_fields
        if getattr(src, f) != getattr(cfg, f)
    ]
    if differ:
        raise ValueError(f"--init-from {cfg.init_from}: its networks differ from this run's ({'; '.join(differ)})")
    return snap["G"], snap["D"]


class SSNObjective(StyleGAN2Objective):
    """StyleGAN2's phases with the low-distortion regulariser in the G reg phase; state ``pl_mean``."""

    def __init__(self, cfg: TrainConfig, G: SSNGenerator, D: nn.Module, ctx: StepContext) -> None:
        super().__init__(cfg, G, D, ctx)  # type: ignore[arg-type]
        self.pl_interval, self.dist_interval, self.D_reg_interval = _intervals(cfg)
        self.distortion_weight, self.precision = float(cfg.distortion_weight or 0.0), cfg.precision
        self.ramp_kimg, self.batch = float(cfg.distortion_ramp_kimg or 0.0), cfg.batch

    def distortion_weight_at(self, step: int) -> float:
        """λ_D at step ``step``: ``--distortion-weight``, times ``kimg / --distortion-ramp-kimg`` while that is < 1."""
        if not self.ramp_kimg:
            return self.distortion_weight
        return self.distortion_weight * min(1.0, step * self.batch / (1000.0 * self.ramp_kimg))

    def phases(self, step: int, reals: list[RealBatch]) -> list[Phase]:
        out = [Phase("G", "G", partial(self._g_main, None), self._after_g_main)]
        pl_due = bool(self.pl_interval) and step % self.pl_interval == 0  # type: ignore[operator]
        dist_due = bool(self.dist_interval) and step % self.dist_interval == 0  # type: ignore[operator]
        if pl_due or dist_due:
            out.append(Phase("G_reg", "G", partial(self._g_reg_ssn, pl_due, dist_due, self.distortion_weight_at(step))))
        out += [Phase("D", "D", partial(self._d_main, real, None)) for real in reals]
        if self.D_reg_interval and step % self.D_reg_interval == 0:
            out.append(Phase("D_reg", "D", partial(self._d_reg, reals[-1])))
        return out

    def _g_reg_ssn(self, pl_due: bool, dist_due: bool, weight: float) -> tuple[torch.Tensor, dict[str, float]]:
        ctx, stats = self.ctx, {}
        total = torch.zeros([], device=ctx.device)
        if pl_due:
            pl_loss, pl_len = self.loss.path_length_loss(ctx.latents(ctx.batch_per_rank, self.G.z_dim), None, ctx.generator, ctx.noise_generator)
            total = total + pl_loss * self.pl_interval
            stats.update({"loss/pl": float(pl_loss.detach()), "pl_length": float(pl_len)})
        if dist_due:
            d_loss, dist = low_distortion_loss(
                self.G, ctx.batch_per_rank, weight, ctx.generator, ctx.noise_generator, self.precision  # type: ignore[arg-type]
            )
            total = total + d_loss * self.dist_interval
            stats.update({"loss/distortion": float(d_loss.detach()), "distortion": float(dist), "distortion_weight": weight})
        return total, stats


class SSNFamily(StyleGAN2Family):
    """:class:`~regiongan.generators.ssn.SSNGenerator` and StyleGAN2's resnet D."""

    name = "ssn"

    def build_networks(self, cfg: TrainConfig, c_dim: int) -> tuple[SSNGenerator, StyleGAN2Discriminator]:  # type: ignore[override]
        if c_dim:
            raise ValueError("SSN is unconditional; leave out --conditional with --family ssn")
        config, state, d_state = ssn_generator_config(cfg), None, None
        if cfg.init_from and _is_run_dir(cfg.init_from):
            state, d_state = init_from_ssn_run(cfg)
        elif cfg.init_from:
            config, state = init_from_stylegan2(cfg)
        G = SSNGenerator(**config)
        if d_state is not None:  # a fine-tune of an SSN run: both networks, exactly
            G.load_state_dict(state)
            D = self._discriminator(cfg)
            D.load_state_dict(d_state)
            if os.environ.get("RANK", "0") == "0":
                print(f"SSN G and D initialised from the newest snapshot of run {cfg.init_from!r}", file=sys.stderr, flush=True)
            return G, D
        if state is not None:
            missing, unexpected = G.load_state_dict(state, strict=False)
            assert not unexpected and all(k.startswith("mapping.encoder") for k in missing), (missing, unexpected)
            if os.environ.get("RANK", "0") == "0":
                print(
                    f"SSN G initialised from StyleGAN2 {cfg.init_from!r} (spatial encoder fresh); "
                    "no discriminator is shipped with it, so D starts fresh",
                    file=sys.stderr, flush=True,
                )  # fmt: skip
        return G, self._discriminator(cfg)

    @staticmethod
    def _discriminator(cfg: TrainConfig) -> StyleGAN2Discriminator:
        return StyleGAN2Discriminator(
            c_dim=0, img_resolution=cfg.resolution, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
            channels=cfg.d_channels or cfg.g_channels, mbstd_group_size=cfg.mbstd_group,
        )  # fmt: skip

    def make_optimizers(self, cfg: TrainConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
        return (
            make_adam(G.parameters(), cfg.g_lr, cfg.beta1, cfg.beta2, _g_adam_interval(cfg)),  # type: ignore[arg-type]
            make_adam(D.parameters(), cfg.d_lr, cfg.beta1, cfg.beta2, _intervals(cfg)[2]),  # type: ignore[arg-type]
        )

    def card(self, cfg: TrainConfig, G: nn.Module) -> CardFacts:
        init = f", transfer-initialised from {cfg.init_from}" if cfg.init_from else ""
        return CardFacts(
            title=f"SSN (spatially stochastic network, {G.block_grid}×{G.block_grid} latent grid)",
            config=(
                f"z/w {G.z_channels}/{G.w_channels} per block, {cfg.mapping_layers} mapping layers, channels "
                f"{G.config.get('channels')}, λ_D {cfg.distortion_weight}{init}"
            ),
            kimg_note="SSN from a StyleGAN2 transfer needs tens of kimg to make the blocks coherent",
        )

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, ctx: StepContext) -> SSNObjective:  # type: ignore[override]
        return SSNObjective(cfg, G, D, ctx)  # type: ignore[arg-type]
