"""BigGAN-deep in the training loop (Brock et al. 2019): hinge loss, ``d_steps`` D steps per G step, EMA of G.

    D step (× d_steps, each on its own real batch):  mean relu(1 − D(x, c)) + mean relu(1 + D(G(z, c), c))
    G step:                                           −mean D(G(z, c), c)  [+ orthogonal regularisation]

z is standard normal (no truncation in training) and fakes take the one-hot classes of a real batch, so
they follow the data's class frequencies. G runs with batch-statistics BN
(:func:`~.biggan_statistics.forward_batch_statistics`), G and D with spectral norm iterating once per call.
There is no R1 and no path-length term. Adam with the config's lr and betas, no lazy-regularisation
correction. The exported generator is a copy of the EMA with refined spectral-norm vectors and standing BN
statistics for every truncation row (:func:`~.biggan_statistics.standing_statistics`).

Networks from the config: G has ``blocks_per_resolution`` blocks per upsampling (the last of them
upsamples), widths ``16·ch`` at 4² halved four times to ``ch`` (on the last four upsampling blocks, then on
the earliest plain blocks when there are fewer than four), self-attention before the first block at
resolution ``attention``; D is :class:`~regiongan.discriminators.BigGANDiscriminator`.
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn as nn

from ...discriminators import BigGANDiscriminator
from ...generators.biggan import BigGANDeep
from ..augment import DiffAugment
from ..config import TrainConfig
from ..losses import hinge_discriminator_loss, hinge_generator_loss, orthogonal_penalty
from .base import CardFacts, Objective, Phase, RealBatch, StepContext, TrainingFamily, derived_seed
from .biggan_statistics import forward_batch_statistics, refine_spectral_norm, standing_statistics

__all__ = ["BigGANFamily", "BigGANObjective", "BigGANLoss", "generator_layers", "attention_position"]

#: Batch norm and spectral-norm epsilon of a trained G (the package's value).
G_EPS = 1e-4
#: Power iterations that fit the EMA's spectral-norm vectors to its own weights before export.
EXPORT_POWER_ITERATIONS = 20


def generator_layers(resolution: int, blocks_per_resolution: int) -> list[list]:
    """BigGAN-deep ``layers`` ``[[upsample, in, out], …]`` (multiples of ch) from 4² to ``resolution``.

    >>> generator_layers(32, 2)
    [[False, 16, 8], [True, 8, 4], [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]]
    """
    ups = resolution.bit_length() - 3
    up = [k == blocks_per_resolution - 1 for _ in range(ups) for k in range(blocks_per_resolution)]
    up_blocks = [i for i, u in enumerate(up) if u]
    plain_blocks = [i for i, u in enumerate(up) if not u]
    halve = set(up_blocks[-4:]) | set(plain_blocks[: max(0, 4 - len(up_blocks))])
    if len(halve) != 4:
        raise ValueError(
            f"resolution {resolution} with {blocks_per_resolution} blocks per resolution has {len(up)} blocks; "
            "BigGAN-deep needs 4 to halve 16·ch down to ch"
        )
    layers, width = [], 16
    for i, u in enumerate(up):
        out = width // 2 if i in halve else width
        layers.append([u, width, out])
        width = out
    return layers


def attention_position(layers: list[list], resolution: int) -> int:
    """Index of the first block whose input is at ``resolution`` (-1, no attention, for 0)."""
    if not resolution:
        return -1
    r = 4
    for i, (up, _, _) in enumerate(layers):
        if r == resolution:
            return i
        r *= 2 if up else 1
    raise ValueError(f"no generator block takes {resolution}² inputs (blocks run from 4² to {r // 2}²)")


class BigGANLoss:
    """Hinge loss terms for a BigGAN-deep ``G`` (batch-statistics BN) and a projection ``D``.

    precision ``"bf16"`` runs G and D under bfloat16 autocast; ``ortho_reg`` > 0 adds BigGAN's orthogonal
    regularisation of G's weights to the G loss. All randomness comes from the ``generator`` arguments.
    """

    def __init__(
        self, G: BigGANDeep, D: nn.Module, augment: DiffAugment, precision: str = "fp32", ortho_reg: float = 0.0
    ) -> None:
        self.G, self.D, self.augment, self.precision, self.ortho_reg = G, D, augment, precision, ortho_reg

    def fakes(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """``z [N, z_dim]``, classes ``[N, c_dim]`` -> images ``[N, 3, R, R]`` (G's training forward)."""
        return forward_batch_statistics(self.G, z, c, precision=self.precision)

    def discriminate(self, img: torch.Tensor, c: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Augment and judge: ``img [N, C, R, R] -> logits [N, 1]`` float32."""
        if self.augment:
            img = self.augment(img, generator)
        with torch.autocast(img.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return self.D(img, c).float()

    def generator_loss(
        self, z: torch.Tensor, c: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``−mean D(G(z))`` (+ orthogonal penalty) and its statistics."""
        logits = self.discriminate(self.fakes(z, c), c, generator)
        loss = hinge_generator_loss(logits)
        stats = {"loss/G": float(loss.detach())}
        if self.ortho_reg > 0:
            weights = [m.weight_orig for m in self.G.modules() if hasattr(m, "weight_orig")]
            penalty = orthogonal_penalty(weights)
            stats["loss/ortho"] = float(penalty.detach())
            loss = loss + self.ortho_reg * penalty
        return loss, stats

    def discriminator_loss(
        self, real: torch.Tensor, real_c: torch.Tensor | None, z: torch.Tensor, gen_c: torch.Tensor | None,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Hinge loss on fakes and reals, judged in one D call (one spectral-norm iteration per D step)."""
        with torch.no_grad():
            fake = self.fakes(z, gen_c)
        both_c = None if real_c is None else torch.cat([gen_c, real_c])
        logits = self.discriminate(torch.cat([fake, real]), both_c, generator)
        fake_logits, real_logits = logits.split([fake.shape[0], real.shape[0]])
        return hinge_discriminator_loss(real_logits, fake_logits)


class BigGANObjective(Objective):
    """``d_steps`` D phases, one per real batch, then one G phase; no state beyond the networks."""

    def __init__(self, cfg: TrainConfig, G: BigGANDeep, D: nn.Module, ctx: StepContext) -> None:
        self.G, self.ctx = G, ctx
        self.loss = BigGANLoss(G, D, ctx.augment, cfg.precision, cfg.ortho_reg)

    def phases(self, step: int, reals: list[RealBatch]) -> list[Phase]:
        out = [Phase("D", "D", partial(self._d_step, real)) for real in reals]
        return out + [Phase("G", "G", partial(self._g_step, reals[-1].c))]

    def _z(self) -> torch.Tensor:
        return self.ctx.latents(self.ctx.batch_per_rank, self.G.z_dim)

    def _d_step(self, real: RealBatch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss.discriminator_loss(real.images, real.c, self._z(), real.c, self.ctx.generator)

    def _g_step(self, c: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss.generator_loss(self._z(), c, self.ctx.generator)


class BigGANFamily(TrainingFamily):
    """BigGAN-deep G (:class:`~regiongan.generators.biggan.BigGANDeep`) and the BigGAN-deep D."""

    name = "biggan-deep"

    def build_networks(self, cfg: TrainConfig, c_dim: int) -> tuple[BigGANDeep, BigGANDiscriminator]:
        layers = generator_layers(cfg.resolution, cfg.blocks_per_resolution)
        G = BigGANDeep(
            output_dim=cfg.resolution, z_dim=cfg.z_dim, class_embed_dim=cfg.z_dim, channel_width=cfg.channel_width,
            num_classes=c_dim, layers=layers, attention_layer_position=attention_position(layers, cfg.attention),
            eps=G_EPS, n_stats=cfg.n_stats,
        )  # fmt: skip
        D = BigGANDiscriminator(
            c_dim=c_dim, img_resolution=cfg.resolution, channel_width=cfg.d_channel_width,
            blocks_per_resolution=cfg.blocks_per_resolution, attention=cfg.attention,
        )  # fmt: skip
        return G, D

    def make_optimizers(self, cfg: TrainConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
        betas = (cfg.beta1, cfg.beta2)
        G_opt = torch.optim.Adam(G.parameters(), cfg.g_lr, betas, eps=1e-8)
        return G_opt, torch.optim.Adam(D.parameters(), cfg.d_lr, betas, eps=1e-8)

    def card(self, cfg: TrainConfig, G: nn.Module) -> CardFacts:
        c = G.config
        attention = c["attention_layer_position"] < len(c["layers"])
        return CardFacts(
            title="class-conditional BigGAN-deep" if G.c_dim else "BigGAN-deep",
            config=(
                f"z {G.z_dim}, {G.c_dim} classes, channel width {c['channel_width']}, {len(c['layers'])} blocks, "
                f"self-attention {'at ' + str(cfg.attention) + '²' if attention else 'none'}, "
                f"{c['n_stats']} truncation rows of BN statistics; D channel width {cfg.d_channel_width}"
            ),
            kimg_note="BigGAN usually trains for thousands of kimg",
        )

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, ctx: StepContext) -> BigGANObjective:
        return BigGANObjective(cfg, G, D, ctx)

    def export(self, cfg: TrainConfig, G_ema: nn.Module, ctx: StepContext) -> BigGANDeep:
        """A copy of the EMA in eval mode, its spectral-norm vectors fitted to its weights and its statistics
        rows filled with standing statistics (batches of the training per-process batch size)."""
        G = copy.deepcopy(G_ema).eval().requires_grad_(False)
        refine_spectral_norm(G, EXPORT_POWER_ITERATIONS)
        standing_statistics(G, ctx.batch_per_rank, cfg.standing_samples, derived_seed(cfg.seed, 0x57A7))
        return G
