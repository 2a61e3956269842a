"""StyleGAN2 in the training loop: the four phases of :class:`~regiongan.training.losses.StyleGAN2Loss`.

    G main (non-saturating logistic, style mixing) -> G reg (path length, lazy) -> D main -> D reg (R1, lazy)

z is standard normal, fakes take the classes of the step's reals, and ``w_avg`` follows the mapped latents
after every G main step. With ``d_steps > 1`` D main runs once per real batch and R1 on the last one.
Adam's lr and betas carry the lazy-regularisation correction (:func:`make_adam`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Iterable

import torch
import torch.nn as nn
from torch.autograd.graph import increment_version

from ...discriminators import StyleGAN2Discriminator
from ...generators.stylegan2 import StyleGAN2
from ..config import TrainConfig
from ..losses import StyleGAN2Loss
from .base import CardFacts, Objective, Phase, RealBatch, StepContext, TrainingFamily

__all__ = ["StyleGAN2Family", "StyleGAN2Objective", "make_adam"]


def make_adam(params: Iterable[torch.nn.Parameter], lr: float, beta1: float, beta2: float, reg_interval: int | None) -> torch.optim.Adam:
    """Adam with StyleGAN2's lazy-regularisation correction: with a regulariser every k steps, the
    optimiser runs k+1 times per k steps, so lr and betas are rescaled by ``k / (k + 1)`` (Appendix B).

    Fused (one kernel over all tensors, about 3× faster than the per-tensor loop on CPU) where torch has it
    for the parameters' device. The fused kernel writes the parameters without bumping their version
    counters, so a step hook does it: caches keyed by the version (the generator's demodulation sums) must
    see every update."""
    params = list(params)
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    opt = torch.optim.Adam(params, lr=lr * ratio, betas=(beta1**ratio, beta2**ratio), eps=1e-8, fused=fused or None)
    if fused:
        opt.register_step_post_hook(_bump_versions)
    return opt


def _bump_versions(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    increment_version([p for group in opt.param_groups for p in group["params"]])


def _reg_intervals(cfg: TrainConfig) -> tuple[int | None, int | None]:
    """(G's path-length interval, D's R1 interval); None for a disabled regulariser."""
    return (cfg.pl_interval if cfg.pl_weight > 0 else None), (cfg.r1_interval if cfg.r1_gamma > 0 else None)


class StyleGAN2Objective(Objective):
    """Phases of one StyleGAN2 step; its state is the path-length mean ``pl_mean``."""

    def __init__(self, cfg: TrainConfig, G: StyleGAN2, D: nn.Module, ctx: StepContext) -> None:
        self.G, self.ctx = G, ctx
        self.G_reg_interval, self.D_reg_interval = _reg_intervals(cfg)
        self.loss = StyleGAN2Loss(
            G, D, ctx.augment, precision=cfg.precision, style_mixing=cfg.style_mixing, r1_gamma=cfg.r1_gamma,
            pl_weight=cfg.pl_weight, pl_decay=cfg.pl_decay, pl_batch_shrink=cfg.pl_batch_shrink,
            reduce_mean=ctx.reduce_mean,
        )  # fmt: skip

    def _z(self, n: int) -> torch.Tensor:
        return self.ctx.latents(n, self.G.z_dim)

    def phases(self, step: int, reals: list[RealBatch]) -> list[Phase]:
        gen_c = reals[0].c  # fakes get the class distribution of the reals
        out = [Phase("G", "G", partial(self._g_main, gen_c), self._after_g_main)]
        if self.G_reg_interval and step % self.G_reg_interval == 0:
            out.append(Phase("G_reg", "G", partial(self._g_reg, gen_c)))
        out += [Phase("D", "D", partial(self._d_main, real, real.c)) for real in reals]
        if self.D_reg_interval and step % self.D_reg_interval == 0:
            out.append(Phase("D_reg", "D", partial(self._d_reg, reals[-1])))
        return out

    # ------------------------------------------------------------------------------------------- phases
    def _g_main(self, c: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        ctx = self.ctx
        loss, self._ws = self.loss.generator_loss(self._z(ctx.batch_per_rank), c, ctx.generator, ctx.noise_generator)
        return loss, {"loss/G": float(loss.detach())}

    def _after_g_main(self) -> None:
        """``w_avg`` follows the (unmixed) first row of the mapped latents, averaged over processes."""
        self.G.update_w_avg(self.ctx.reduce_mean(self._ws[:, :1].mean(dim=0, keepdim=True)))
        self._ws = None

    def _g_reg(self, c: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        ctx = self.ctx
        pl_loss, pl_len = self.loss.path_length_loss(self._z(ctx.batch_per_rank), c, ctx.generator, ctx.noise_generator)
        return pl_loss * self.G_reg_interval, {"loss/pl": float(pl_loss.detach()), "pl_length": float(pl_len)}

    def _d_main(self, real: RealBatch, gen_c: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        ctx = self.ctx
        z = self._z(ctx.batch_per_rank)
        loss, stats = self.loss.discriminator_loss(real.images, real.c, z, gen_c, ctx.generator, ctx.noise_generator)
        return loss, {"loss/D": float(loss.detach()), **stats}

    def _d_reg(self, real: RealBatch) -> tuple[torch.Tensor, dict[str, float]]:
        r1_loss, r1_pen = self.loss.r1_loss(real.images, real.c, self.ctx.generator)
        return r1_loss * self.D_reg_interval, {"loss/r1": float(r1_loss.detach()), "r1_penalty": float(r1_pen)}

    # -------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"pl_mean": self.loss.pl_mean.detach().cpu()}

    def load_state_dict(self, snapshot: dict[str, Any]) -> None:
        self.loss.pl_mean = snapshot["pl_mean"].to(self.ctx.device)

    def log_values(self) -> dict[str, float]:
        return {"pl_mean": float(self.loss.pl_mean)}


class StyleGAN2Family(TrainingFamily):
    """StyleGAN2 G (:class:`~regiongan.generators.stylegan2.StyleGAN2`) and its resnet D."""

    name = "stylegan2"

    def build_networks(self, cfg: TrainConfig, c_dim: int) -> tuple[StyleGAN2, StyleGAN2Discriminator]:
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

    def make_optimizers(self, cfg: TrainConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
        g_interval, d_interval = _reg_intervals(cfg)
        return (
            make_adam(G.parameters(), cfg.g_lr, cfg.beta1, cfg.beta2, g_interval),
            make_adam(D.parameters(), cfg.d_lr, cfg.beta1, cfg.beta2, d_interval),
        )

    def check_batch(self, cfg: TrainConfig, batch_per_rank: int) -> None:
        group = min(cfg.mbstd_group, batch_per_rank)
        if batch_per_rank % group:
            raise ValueError(
                f"per-process batch {batch_per_rank} is not divisible by the minibatch-stddev group {group}; "
                "change --batch or --mbstd-group"
            )

    def card(self, cfg: TrainConfig, G: nn.Module) -> CardFacts:
        kind = "class-conditional StyleGAN2" if G.c_dim else "StyleGAN2"
        return CardFacts(
            title=kind,
            config=f"z/w {G.z_dim}/{G.w_dim}, {cfg.mapping_layers} mapping layers, channels {G.config.get('channels')}",
            kimg_note="StyleGAN2 usually needs hundreds of kimg at 64²",
        )

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, ctx: StepContext) -> StyleGAN2Objective:
        return StyleGAN2Objective(cfg, G, D, ctx)
