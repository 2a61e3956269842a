"""SPADE in the training loop (Park et al. 2019; NVlabs' ``pix2pix_model``): label map -> image.

One step, on a real batch ``(x, m)`` (image, one-hot label map), as NVlabs' trainer does it — G first, then D:

    G step:  z = E(x) reparameterised (with the VAE), x̂ = G(m, z), D judges (m, x̂) and (m, x) in one call
             −mean_s mean D_s(m, x̂)                                    hinge, averaged over the D scales
             + λ_feat / num_D · Σ_s Σ_j L1(D_s^j(m, x̂), D_s^j(m, x))    feature matching (real side detached)
             + λ_KLD · KL(E(x) ‖ N(0, I))                              summed over batch and code, as NVlabs
    D step:  x̂ = G(m, E(x)) without gradients;  mean_s [mean relu(1 − D_s(m, x)) + mean relu(1 + D_s(m, x̂))]

The encoder is part of G (``G.encoder``), so G's Adam steps it too (NVlabs: ``G_params += E_params``).
NVlabs' VGG perceptual loss is absent: it needs ImageNet VGG-19 weights, which are not available offline.
D is :class:`~regiongan.discriminators.spade.SPADEDiscriminator` (multi-scale PatchGAN, spectral + instance
norm). ``--augment`` takes only ``color`` (a translation would move the image off its label map), applied
to the images that D sees.

``--label-injection input`` trains the paper's comparison baseline with the same loop and budget: the
label map enters G only at its input (``SPADEModel(label_injection="input")``), and its ``ngf`` is chosen
so that its parameter count matches the SPADE model of ``--ngf`` (:func:`baseline_ngf`, within ~10 %).

G runs with batch norm (``spectralspadebatch3x3``; one process, so sync-batch is the same). The loop keeps
its EMA of G; the exported generator is a copy of the EMA in eval mode with spectral-norm vectors fitted to
its weights and *standing* batch-norm statistics: the running statistics the EMA weights produce on
:data:`STANDING_SAMPLES` label maps of the data stream (the training G's running statistics belong to
other weights).
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data import colorize_labels
from ...data.worlds import get_world, list_worlds
from ...discriminators.spade import SPADEDiscriminator
from ...generators.spade import SPADEModel, kl_divergence
from ...latents import z_from_seeds
from ..augment import DiffAugment
from ..config import TrainConfig
from ..data import open_real_images
from .base import CardFacts, Objective, Phase, RealBatch, StepContext, TrainingFamily, derived_seed
from .biggan_statistics import refine_spectral_norm

__all__ = [
    "SPADEFamily", "SPADEObjective", "SPADELoss", "generator_config", "baseline_ngf", "label_count",
    "standing_bn_statistics", "label_colors", "STANDING_SAMPLES",
]  # fmt: skip

#: Label maps (and prior codes) of the standing batch-norm pass of the exported generator.
STANDING_SAMPLES = 64
#: Smallest batch of that pass (larger batches are faster; the statistics barely depend on it).
STANDING_BATCH = 16
#: Power iterations that fit the EMA's spectral-norm vectors to its own weights before export.
EXPORT_POWER_ITERATIONS = 20


def label_count(cfg: TrainConfig) -> int:
    """The world's part count (the label map's classes, e.g. 12 for ``scenes``); a ValueError for a folder."""
    if cfg.data not in list_worlds():
        raise ValueError(
            f"--family spade trains on label maps, which --data {cfg.data!r} does not have; train on a world "
            f"({', '.join(list_worlds())})"
        )
    return len(get_world(cfg.data).part_names)


def generator_config(cfg: TrainConfig, label_nc: int, ngf: int | None = None, label_injection: str | None = None) -> dict:
    """The :class:`~regiongan.generators.spade.SPADEModel` config of a run: square images at
    ``cfg.resolution``, the encoder at the image size with ``cfg.ngf`` width (the same for both variants)."""
    return dict(
        label_nc=label_nc, ngf=ngf or cfg.ngf, num_upsampling_layers=cfg.num_upsampling_layers,
        crop_size=cfg.resolution, aspect_ratio=1.0, use_vae=cfg.use_vae, z_dim=cfg.z_dim, norm_G=cfg.g_norm,
        norm_E="spectralinstance", encoder_ndf=cfg.ngf, encoder_size=cfg.resolution, with_encoder=None,
        instance_edge=False, label_injection=label_injection or cfg.label_injection,
    )  # fmt: skip


def baseline_ngf(cfg: TrainConfig, label_nc: int) -> int:
    """The baseline's width: the ``ngf`` whose label-at-the-input generator has the parameter count closest
    to the SPADE generator of ``cfg.ngf`` (counted exactly by ``config_cost``, nothing built)."""
    target = SPADEModel.config_cost(generator_config(cfg, label_nc, label_injection="spade")).parameters

    def gap(ngf: int) -> int:
        return abs(SPADEModel.config_cost(generator_config(cfg, label_nc, ngf, "input")).parameters - target)

    return min(range(1, 4 * cfg.ngf + 1), key=gap)


def label_colors(labels: torch.Tensor) -> torch.Tensor:
    """Part ids ``[N, H, W]`` -> the world palette's colours ``[N, 3, H, W]`` in [-1, 1] (for grids)."""
    rgb = torch.from_numpy(colorize_labels(labels.cpu().numpy())).permute(0, 3, 1, 2).float()
    return rgb / 127.5 - 1


@torch.no_grad()
def standing_bn_statistics(G: SPADEModel, labels: torch.Tensor, batch: int, seed: int) -> None:
    """Refill the running statistics of every batch norm of ``G``'s generator (not its encoder) with their
    exact averages (each batch's mean and variance, averaged over the batches) over ``labels [N, H, W]`` and
    prior codes drawn from ``seed``, in batches of ``batch``; a last batch of one image is skipped. ``G`` is
    left in eval mode."""
    bns = [m for name, m in G.named_modules() if isinstance(m, nn.BatchNorm2d) and not name.startswith("encoder.")]
    if not bns:
        return
    G.eval()
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches
        bn.train()
    gen = torch.Generator().manual_seed(seed)
    try:
        for lo in range(0, len(labels), batch):
            part = labels[lo : lo + batch]
            if len(part) < 2:
                break
            z = torch.randn(len(part), G.z_dim, generator=gen) if G.use_vae else None
            G.synthesize_labels(part.to(G.device), z)
    finally:
        for bn, momentum in zip(bns, saved):
            bn.momentum = momentum
        G.eval()


class SPADELoss:
    """NVlabs' SPADE objective for ``G`` (a :class:`SPADEModel`) and a multi-scale ``D``; see the module
    docstring. precision ``"bf16"`` runs G and D under bfloat16 autocast."""

    def __init__(
        self, G: SPADEModel, D: SPADEDiscriminator, augment: DiffAugment, precision: str = "fp32",
        lambda_feat: float = 10.0, lambda_kld: float = 0.05,
    ) -> None:  # fmt: skip
        self.G, self.D, self.augment, self.precision = G, D, augment, precision
        self.lambda_feat, self.lambda_kld = lambda_feat, lambda_kld

    def _autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def fakes(
        self, seg: torch.Tensor, real: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One-hot ``seg [N, label_nc, R, R]``, real images ``[N, 3, R, R]`` -> fakes ``[N, 3, R, R]`` and the
        KL term (None without VAE). With the VAE, z is the real image's code, reparameterised."""
        with self._autocast(seg.device):
            if not self.G.use_vae:
                return self.G.synthesize_labels(seg).float(), None
            mu, logvar = self.G.encode(real)
            z = self.G.reparameterize(mu.float(), logvar.float(), generator)
            return self.G.synthesize_labels(seg, z).float(), kl_divergence(mu.float(), logvar.float())

    def discriminate(
        self, seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor, generator: torch.Generator
    ) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """D on ``(seg, fake)`` and ``(seg, real)`` in one call (as NVlabs) -> per scale the stage outputs of
        the fakes and of the reals (float32)."""
        images = torch.cat([fake, real])
        if self.augment:
            images = self.augment(images, generator)
        with self._autocast(seg.device):
            out = self.D(torch.cat([seg, seg]), images)
        n = fake.shape[0]
        return [[t[:n].float() for t in s] for s in out], [[t[n:].float() for t in s] for s in out]

    def generator_loss(
        self, seg: torch.Tensor, real: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Hinge + feature matching + KL (see the module docstring) and their statistics."""
        fake, kld = self.fakes(seg, real, generator)
        pred_fake, pred_real = self.discriminate(seg, fake, real, generator)
        gan = torch.stack([-s[-1].mean() for s in pred_fake]).mean()
        loss = gan
        stats = {"loss/G": float(gan.detach()), "scores/fake_G": float(-gan.detach())}
        if self.lambda_feat > 0:
            feat = sum(
                F.l1_loss(f, r.detach()) for sf, sr in zip(pred_fake, pred_real) for f, r in zip(sf[:-1], sr[:-1])
            ) / len(pred_fake)
            loss = loss + self.lambda_feat * feat
            stats["loss/G_feat"] = float(feat.detach())
        if kld is not None:
            stats["loss/KLD"] = float(kld.detach())
            if self.lambda_kld > 0:
                loss = loss + self.lambda_kld * kld
        return loss, stats

    def discriminator_loss(
        self, seg: torch.Tensor, real: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The hinge loss on fakes (no gradient to G) and reals, averaged over the scales."""
        with torch.no_grad():
            fake, _ = self.fakes(seg, real, generator)
        pred_fake, pred_real = self.discriminate(seg, fake.detach(), real, generator)
        loss_fake = torch.stack([F.relu(1 + s[-1]).mean() for s in pred_fake]).mean()
        loss_real = torch.stack([F.relu(1 - s[-1]).mean() for s in pred_real]).mean()
        loss = loss_fake + loss_real
        stats = {
            "loss/D": float(loss.detach()),
            "loss/D_fake": float(loss_fake.detach()),
            "loss/D_real": float(loss_real.detach()),
            "scores/fake": float(torch.stack([s[-1].detach().mean() for s in pred_fake]).mean()),
            "scores/real": float(torch.stack([s[-1].detach().mean() for s in pred_real]).mean()),
        }
        return loss, stats


class SPADEObjective(Objective):
    """One G phase on the first real batch, then a D phase on each of the ``d_steps`` batches; no state
    beyond the networks."""

    def __init__(self, cfg: TrainConfig, G: SPADEModel, D: SPADEDiscriminator, ctx: StepContext) -> None:
        self.G, self.ctx = G, ctx
        self.loss = SPADELoss(G, D, ctx.augment, cfg.precision, cfg.lambda_feat, cfg.lambda_kld)

    def phases(self, step: int, reals: list[RealBatch]) -> list[Phase]:
        out = [Phase("G", "G", partial(self._g_step, reals[0]))]
        return out + [Phase("D", "D", partial(self._d_step, real)) for real in reals]

    def _seg(self, real: RealBatch) -> torch.Tensor:
        if real.labels is None:
            raise ValueError("SPADE needs the real images' label maps (RealBatch.labels), got None")
        return self.G.label_input(real.labels)

    def _g_step(self, real: RealBatch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss.generator_loss(self._seg(real), real.images, self.ctx.generator)

    def _d_step(self, real: RealBatch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss.discriminator_loss(self._seg(real), real.images, self.ctx.generator)


class SPADEFamily(TrainingFamily):
    """SPADE G (:class:`~regiongan.generators.spade.SPADEModel`, VAE encoder inside) and NVlabs' multi-scale D,
    or (``--label-injection input``) the same-capacity label-at-the-input baseline."""

    name = "spade"
    needs_labels = True

    def build_networks(self, cfg: TrainConfig, c_dim: int) -> tuple[SPADEModel, SPADEDiscriminator]:
        label_nc = label_count(cfg)
        ngf = baseline_ngf(cfg, label_nc) if cfg.label_injection == "input" else cfg.ngf
        G = SPADEModel(**generator_config(cfg, label_nc, ngf))
        D = SPADEDiscriminator(label_nc, ndf=cfg.ndf, n_layers_D=cfg.d_layers, num_D=cfg.d_scales, norm_D="spectralinstance")
        return G, D

    def make_optimizers(self, cfg: TrainConfig, G: nn.Module, D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
        betas = (cfg.beta1, cfg.beta2)
        return torch.optim.Adam(G.parameters(), cfg.g_lr, betas), torch.optim.Adam(D.parameters(), cfg.d_lr, betas)

    def check_batch(self, cfg: TrainConfig, batch_per_rank: int) -> None:
        if batch_per_rank < 2 and "batch" in cfg.g_norm:
            raise ValueError(
                f"--g-norm {cfg.g_norm} normalises over the batch, which needs >= 2 images per process, got "
                f"{batch_per_rank}; raise --batch or use an instance norm (e.g. spectralspadeinstance3x3)"
            )

    def objective(self, cfg: TrainConfig, G: nn.Module, D: nn.Module, ctx: StepContext) -> SPADEObjective:
        return SPADEObjective(cfg, G, D, ctx)

    def card(self, cfg: TrainConfig, G: nn.Module) -> CardFacts:
        c = G.config
        kind = "SPADE" if c["label_injection"] == "spade" else "label-at-the-input baseline (SPADE's comparison)"
        vae = f"VAE style code {c['z_dim']}-d with its encoder" if c["use_vae"] else "no VAE"
        return CardFacts(
            title=f"{kind}: label map -> image",
            config=(
                f"{c['label_nc']} label classes, ngf {c['ngf']}, {c['num_upsampling_layers']} upsampling, "
                f"{c['norm_G']}, {vae}; D {cfg.d_scales} scales × {cfg.d_layers} layers, ndf {cfg.ndf}; "
                f"λ_feat {cfg.lambda_feat}, λ_KLD {cfg.lambda_kld}, no VGG loss (no offline ImageNet weights)"
            ),
            kimg_note="NVlabs trains SPADE for 50–200 epochs of its datasets (thousands of kimg)",
        )

    def export(self, cfg: TrainConfig, G_ema: nn.Module, ctx: StepContext) -> SPADEModel:
        """A copy of the EMA in eval mode, its spectral-norm vectors fitted to its weights and standing
        batch-norm statistics from the stream's first :data:`STANDING_SAMPLES` label maps."""
        G = copy.deepcopy(G_ema).eval().requires_grad_(False)
        refine_spectral_norm(G, EXPORT_POWER_ITERATIONS)
        data = open_real_images(cfg.data, cfg.resolution, cfg.data_seed, labels=True)
        _, _, labels = data.batch_with_labels(0, STANDING_SAMPLES)
        standing_bn_statistics(G, labels, max(ctx.batch_per_rank, STANDING_BATCH), derived_seed(cfg.seed, 0x5ADE))
        return G

    def sample_grid_images(self, G: nn.Module, count: int, reals: RealBatch | None) -> tuple[torch.Tensor, int]:
        """Per sample three tiles — the label map in the palette's colours, ``G`` on it (z from the sample's
        seed), the real image — four samples to a row."""
        labels, images = reals.labels[:count].cpu(), reals.images[:count].cpu()
        n = len(labels)
        z = z_from_seeds(range(n), G.z_dim).to(G.device) if G.use_vae else None
        with torch.no_grad():
            fakes = torch.cat([G.synthesize_labels(labels[lo : lo + 16].to(G.device), None if z is None else z[lo : lo + 16])
                               for lo in range(0, n, 16)]).cpu()  # fmt: skip
        tiles = torch.stack([label_colors(labels), fakes, images], dim=1).flatten(0, 1)
        return tiles, 3 * min(4, n)
