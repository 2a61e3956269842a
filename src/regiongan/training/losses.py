"""GAN objectives: StyleGAN2's (Karras et al. 2020, NVlabs ``loss.StyleGAN2Loss``), one method per phase, and
the hinge loss and orthogonal regularisation of BigGAN (Brock et al. 2019), used by
:mod:`regiongan.training.families.biggan`.

StyleGAN2:

    G main:  softplus(-D(G(z)))                                  non-saturating logistic loss (GAN paper eq. 1)
    G reg:   pl_weight · (‖J_wᵀ y‖ − a)², a = EMA of the lengths   path-length regulariser (StyleGAN2 eq. 4)
    D main:  softplus(D(G(z))) + softplus(-D(x))
    D reg:   γ/2 · ‖∇_x D(x)‖²                                     R1 (Mescheder et al. 2018)

Regularisers are lazy (StyleGAN2 §3.1): they run every ``interval`` steps, scaled by ``interval``. Style
mixing draws a second latent and switches to it at a random layer with probability ``style_mixing``.
All randomness comes from the ``generator`` arguments.

BigGAN (hinge loss, Lim & Ye 2017; Miyato et al. 2018):

    D:  mean relu(1 − D(x)) + mean relu(1 + D(G(z)))       G:  −mean D(G(z))
    orthogonal regularisation (BigGAN eq. 3):  Σ_W ‖(W Wᵀ) ⊙ (1 − I)‖²_F / 2,   W flattened to [out, in·k·k]

SSN's low-distortion regulariser (SSN paper Eq. 2; docs/ssn.md "Training"), used by
:mod:`regiongan.training.families.ssn`:

    λ_D · E_{z, z', a} mean_{pixels outside image block a} (G(z) − G(z̃^a))²,   z̃^a = z with block a from z'

one random block ``a`` per sample; the same noise in both images, so only the latent change is measured.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..generators.ssn import SSNGenerator
from ..generators.stylegan2 import StyleGAN2
from ..ops.blocks import mix_block
from .augment import DiffAugment

__all__ = [
    "StyleGAN2Loss",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "orthogonal_penalty",
    "block_distortion",
    "low_distortion_loss",
]


class StyleGAN2Loss:
    """Loss terms for generator ``G`` and discriminator ``D``.

    precision ``"bf16"`` runs G's synthesis convolutions in bf16 and D under ``torch.autocast``;
    ``reduce_mean`` averages a scalar over processes (identity without data parallelism) so the
    path-length EMA ``pl_mean`` stays identical on every rank.
    """

    def __init__(
        self,
        G: StyleGAN2,
        D: nn.Module,
        augment: DiffAugment | None = None,
        precision: str = "fp32",
        style_mixing: float = 0.9,
        r1_gamma: float = 1.0,
        pl_weight: float = 0.0,
        pl_decay: float = 0.01,
        pl_batch_shrink: int = 2,
        reduce_mean: Callable[[torch.Tensor], torch.Tensor] = lambda t: t,
    ) -> None:
        self.G, self.D = G, D
        self.augment = augment or DiffAugment([])
        self.precision = precision
        self.style_mixing, self.r1_gamma = style_mixing, r1_gamma
        self.pl_weight, self.pl_decay, self.pl_batch_shrink = pl_weight, pl_decay, pl_batch_shrink
        self.reduce_mean = reduce_mean
        self.device = G.mapping.w_avg.device
        self.pl_mean = torch.zeros([], device=self.device)

    # ----------------------------------------------------------------------------------------- networks
    def map(self, z: torch.Tensor, c: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """``z [N, z_dim] -> ws [N, num_ws, w_dim]`` with style mixing (one cutoff per batch, as NVlabs)."""
        ws = self.G.map(z, c)
        if self.style_mixing > 0:
            # draw all three numbers every time so the random stream does not depend on the outcome
            z2 = torch.randn(z.shape, generator=generator).to(z.device)
            cutoff = int(torch.randint(1, ws.shape[1], [], generator=generator)) if ws.shape[1] > 1 else ws.shape[1]
            mix = float(torch.rand([], generator=generator)) < self.style_mixing
            if mix and cutoff < ws.shape[1]:
                ws2 = self.G.map(z2, c)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return ws

    def synthesize(self, ws: torch.Tensor, noise_generator: torch.Generator) -> torch.Tensor:
        """``ws -> images [N, C, R, R]`` float32 with random noise."""
        return self.G.synthesize(
            self.G.styles(ws), noise_mode="random", generator=noise_generator, precision=self.precision
        ).image

    def discriminate(self, img: torch.Tensor, c: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Augment and judge: ``img [N, C, R, R] -> logits [N, 1]`` float32."""
        if self.augment:
            img = self.augment(img, generator)
        with self._autocast():
            return self.D(img, c).float()

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    # ------------------------------------------------------------------------------------------- phases
    def generator_loss(
        self, z: torch.Tensor, c: torch.Tensor | None, generator: torch.Generator, noise_generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Non-saturating loss ``mean softplus(-D(G(z)))``; also the detached ws (``ws[:, 0]`` is never mixed,
        the loop moves ``w_avg`` with it)."""
        ws = self.map(z, c, generator)
        img = self.synthesize(ws, noise_generator)
        logits = self.discriminate(img, c, generator)
        return F.softplus(-logits).mean(), ws.detach()

    def path_length_loss(
        self, z: torch.Tensor, c: torch.Tensor | None, generator: torch.Generator, noise_generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Path-length penalty (before the lazy ``interval`` factor) and the mean path length."""
        n = max(z.shape[0] // self.pl_batch_shrink, 1)
        z, c = z[:n], (c[:n] if c is not None else None)
        ws = self.map(z, c, generator)
        img = self.synthesize(ws, noise_generator)
        res = img.shape[2] * img.shape[3]
        pl_noise = torch.randn(img.shape, generator=noise_generator, device=img.device) / math.sqrt(res)
        (grads,) = torch.autograd.grad((img * pl_noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()  # [n]
        mean_length = self.reduce_mean(lengths.mean().detach())
        self.pl_mean = self.pl_mean.lerp(mean_length, self.pl_decay)
        penalty = (lengths - self.pl_mean).square().mean()
        # keeps every synthesis parameter in the graph (NVlabs), so gradients exist for all of them
        return penalty * self.pl_weight + img[:, 0, 0, 0].mean() * 0, lengths.mean().detach()

    def discriminator_loss(
        self,
        real: torch.Tensor,
        real_c: torch.Tensor | None,
        z: torch.Tensor,
        gen_c: torch.Tensor | None,
        generator: torch.Generator,
        noise_generator: torch.Generator,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``mean softplus(D(G(z))) + mean softplus(-D(x))``; also logits statistics."""
        with torch.no_grad():
            fake = self.synthesize(self.map(z, gen_c, generator), noise_generator)
        fake_logits = self.discriminate(fake, gen_c, generator)
        real_logits = self.discriminate(real, real_c, generator)
        loss_fake, loss_real = F.softplus(fake_logits).mean(), F.softplus(-real_logits).mean()
        stats = {
            "loss/D_fake": float(loss_fake.detach()),
            "loss/D_real": float(loss_real.detach()),
            "scores/fake": float(fake_logits.detach().mean()),
            "scores/real": float(real_logits.detach().mean()),
        }
        return loss_fake + loss_real, stats

    def r1_loss(self, real: torch.Tensor, real_c: torch.Tensor | None, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``γ/2 · mean ‖∇_x D(x)‖²`` (before the lazy ``interval`` factor) and the mean squared norm."""
        real = real.detach().requires_grad_(True)
        logits = self.discriminate(real, real_c, generator)
        (grads,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        penalty = grads.float().square().sum(dim=[1, 2, 3])
        return penalty.mean() * (self.r1_gamma / 2) + logits.mean() * 0, penalty.mean().detach()


# ------------------------------------------------------------------------------------------------- BigGAN


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """``mean relu(1 − D(x)) + mean relu(1 + D(G(z)))`` from logits ``[N, 1]``; also its parts and the mean scores."""
    loss_real, loss_fake = F.relu(1 - real_logits).mean(), F.relu(1 + fake_logits).mean()
    loss = loss_real + loss_fake
    stats = {
        "loss/D": float(loss.detach()),
        "loss/D_fake": float(loss_fake.detach()),
        "loss/D_real": float(loss_real.detach()),
        "scores/fake": float(fake_logits.detach().mean()),
        "scores/real": float(real_logits.detach().mean()),
    }
    return loss, stats


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``−mean D(G(z))`` from logits ``[N, 1]``."""
    return -fake_logits.mean()


def orthogonal_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """BigGAN's orthogonal regularisation ``Σ ‖(W Wᵀ) ⊙ (1 − I)‖²_F / 2`` over weights flattened to
    ``[out, in·k·k]``: it pushes filters apart without constraining their norms (its gradient is
    ``2 ((W Wᵀ) ⊙ (1 − I)) W``, the term BigGAN adds to the gradient).

    Computed as ``(‖Wᵀ W‖²_F − Σ_i ‖w_i‖⁴) / 2`` with the smaller of the two Gram matrices (``‖W Wᵀ‖_F =
    ‖Wᵀ W‖_F``): G's input layer has ``4·4·16·ch`` rows but only ``2·z_dim`` columns."""
    total = torch.zeros([], device=weights[0].device if weights else "cpu")
    for w in weights:
        mat = w.flatten(1)
        gram = mat.t() @ mat if mat.shape[0] > mat.shape[1] else mat @ mat.t()
        total = total + (gram.square().sum() - mat.square().sum(dim=1).square().sum()) / 2
    return total


# ---------------------------------------------------------------------------------------------------- SSN


def block_distortion(
    G: SSNGenerator,
    z: torch.Tensor,
    z_prime: torch.Tensor,
    a: torch.Tensor,
    noise_generator: torch.Generator | None = None,
    noise_mode: str = "random",
    precision: str = "fp32",
) -> torch.Tensor:
    """Per-sample distortion of resampling one block: the pixel MSE between ``G(z)`` and ``G(z̃^a)`` over
    every image block ``b ≠ a`` (everything outside ``G.block_masks()[a]``), averaged over those pixels and
    the colour channels -> ``[N]``.

    z, z_prime: latent grids ``[N, z_c, n, n]`` (or flat ``[N, z_dim]``); a: int tensor ``[N]`` of flat block
    indices ``i·n + j``. Both images get the same noise maps (drawn once from ``noise_generator`` with
    ``noise_mode``), so the difference is the latent change alone. Differentiable in G's parameters.
    """
    zg, zpg = G.z_grid(z), G.z_grid(z_prime)
    n = zg.shape[0]
    z_mixed = mix_block(zg, zpg, a)
    noise = None
    if noise_mode != "none":
        noise = [None if t is None else torch.cat([t, t]) for t in G.make_noise(n, noise_mode, noise_generator)]  # type: ignore[arg-type]
    ws = G.map(torch.cat([zg, z_mixed]))
    img = G.synthesize(G.styles(ws), noise_mode="none", noise=noise, precision=precision).image  # type: ignore[arg-type]
    outside = 1 - G.block_masks()[a.to(G.device)].unsqueeze(1)  # [N, 1, R, R]
    sq = (img[:n] - img[n:]).square() * outside
    return sq.sum(dim=(1, 2, 3)) / (outside.sum(dim=(1, 2, 3)) * img.shape[1])


def low_distortion_loss(
    G: SSNGenerator,
    batch: int,
    weight: float,
    generator: torch.Generator,
    noise_generator: torch.Generator | None = None,
    precision: str = "fp32",
) -> tuple[torch.Tensor, torch.Tensor]:
    """SSN's low-distortion regulariser (before any lazy ``interval`` factor): ``weight ·`` the mean
    :func:`block_distortion` of ``batch`` samples, each resampling one block ``a`` drawn uniformly; and
    the mean distortion (detached).

    z, z' and a are drawn from ``generator`` (in that order, on the CPU, so the stream - and a resumed
    run - does not depend on the device); noise from ``noise_generator``.
    """
    n = G.block_grid
    z = torch.randn([batch, G.z_channels, n, n], generator=generator).to(G.device)
    z_prime = torch.randn([batch, G.z_channels, n, n], generator=generator).to(G.device)
    a = torch.randint(0, n * n, [batch], generator=generator).to(G.device)
    dist = block_distortion(G, z, z_prime, a, noise_generator, precision=precision)
    mean = dist.mean()
    return mean * weight, mean.detach()
