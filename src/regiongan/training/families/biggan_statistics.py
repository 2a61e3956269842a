"""BigGAN-deep's batch norm in training, and the statistics an exported generator carries.

:class:`~regiongan.generators.biggan.BigGANDeep` is an inference network: every BN uses stored statistics,
one row per truncation value (the package's layout). Training normalises by the statistics of the
current batch instead, as BigGAN does. :func:`forward_batch_statistics` is that forward: the same modules
and parameters as ``G.synthesize``, with each BN's mean and variance taken over the batch (and, with
``record``, handed back). A parity test pins it to ``G.synthesize``: with the recorded statistics stored in
G's rows, G reproduces the batch-statistics images.

An exported generator gets *standing statistics* (Brock et al. 2019, appendix C.2): for every truncation row
``k`` (``ψ_k = k / (n_stats − 1)``), the batch mean and variance of each BN averaged over batches of the
training batch size drawn at ``ψ_k`` — :func:`standing_statistics`. Before that, :func:`refine_spectral_norm`
runs power iterations on the EMA weights: the EMA copies G's u, v vectors, which belong to G's weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...generators.biggan import BigGANDeep, GenBlock

__all__ = ["forward_batch_statistics", "standing_statistics", "refine_spectral_norm", "bn_layers"]

#: One BN's batch statistics: (mean [C], biased variance [C]).
Stats = tuple[torch.Tensor, torch.Tensor]


def bn_layers(G: BigGANDeep) -> list[nn.Module]:
    """Every BN of G in forward order: each block's bn_0 … bn_3, then the output BN."""
    return [norm for layer in G.generator.layers if isinstance(layer, GenBlock) for norm in layer.norms()] + [
        G.generator.bn
    ]


def _normalise(x: torch.Tensor, eps: float, record: list[Stats] | None) -> torch.Tensor:
    """``(x − mean) / sqrt(var + eps)`` over batch and pixels of ``x [N, C, H, W]`` (float32 statistics)."""
    xf = x.float()
    if record is not None:
        var, mean = torch.var_mean(xf.detach(), dim=[0, 2, 3], correction=0)
        record.append((mean, var))
    return F.batch_norm(xf, None, None, training=True, momentum=0.0, eps=eps).to(x.dtype)


def forward_batch_statistics(
    G: BigGANDeep,
    z: torch.Tensor,
    c: torch.Tensor | None,
    psi: float = 1.0,
    record: list[Stats] | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """``z [N, z_dim]`` (standard normal), classes ``c`` -> images ``[N, 3, R, R]`` float32 with batch-statistics BN.

    The condition is ``[ψ·z, embed(c)]`` (``psi`` only for standing statistics; training uses 1). Spectral
    norm iterates when G is in training mode, as in ``G.synthesize``. ``record``: a list that receives each
    BN's ``(mean, var)`` in :func:`bn_layers` order. ``precision="bf16"`` runs under bfloat16 autocast.
    """
    trunk = G.generator
    n = z.shape[0]
    with torch.autocast(G.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        cond = torch.cat([z.to(G.device) * psi, G.embeddings(G.class_input(c, n))], dim=1)
        x = trunk.gen_z(cond).view(n, 4, 4, -1).permute(0, 3, 1, 2)
        for layer in trunk.layers:
            if not isinstance(layer, GenBlock):
                x = layer(x)  # self-attention
                continue
            h = x
            for k, (norm, conv) in enumerate(zip(layer.norms(), [layer.conv_0, layer.conv_1, layer.conv_2, layer.conv_3])):
                gain, bias = 1 + norm.scale(cond), norm.offset(cond)
                h = F.relu(_normalise(h, norm.eps, record) * gain[:, :, None, None] + bias[:, :, None, None])
                if k == 1 and layer.up_sample:
                    h = F.interpolate(h, scale_factor=2, mode="nearest")
                h = conv(h)
            skip = x[:, : layer.c_in // 2] if layer.c_out != layer.c_in else x
            if layer.up_sample:
                skip = F.interpolate(skip, scale_factor=2, mode="nearest")
            x = h + skip
        bn = trunk.bn
        x = F.relu(_normalise(x, bn.eps, record) * bn.weight[:, None, None] + bn.bias[:, None, None])
        img = torch.tanh(trunk.conv_to_rgb(x, out_channels=3))
    return img.float()


def store_statistics(G: BigGANDeep, row: int, stats: list[Stats]) -> None:
    """Write one BN statistics row (``stats`` in :func:`bn_layers` order) into G's buffers."""
    layers = bn_layers(G)
    if len(stats) != len(layers):
        raise ValueError(f"expected statistics for {len(layers)} BN layers, got {len(stats)}")
    with torch.no_grad():
        for norm, (mean, var) in zip(layers, stats):
            norm.running_means[row].copy_(mean)
            norm.running_vars[row].copy_(var)


@torch.no_grad()
def standing_statistics(G: BigGANDeep, batch: int, samples: int, seed: int) -> None:
    """Fill every statistics row of G with standing statistics (in place; G should be in eval mode).

    Row ``k`` holds, for each BN, the mean over ``ceil(samples / batch)`` batches of ``batch`` samples at
    truncation ``ψ_k = k / (n_stats − 1)`` of the batch mean and (biased) variance. Classes cycle through
    all classes; z comes from a generator seeded by ``seed``, the same for every row.
    """
    batches = -(-samples // batch)
    for row in range(G.n_stats):
        psi = row / (G.n_stats - 1)
        gen = torch.Generator().manual_seed(seed)
        total: list[Stats] | None = None
        for b in range(batches):
            z = torch.randn([batch, G.z_dim], generator=gen)
            c = None
            if G.c_dim:
                c = F.one_hot(torch.arange(b * batch, (b + 1) * batch) % G.c_dim, G.c_dim).float()
            record: list[Stats] = []
            forward_batch_statistics(G, z, c, psi, record)
            total = record if total is None else [(m0 + m, v0 + v) for (m0, v0), (m, v) in zip(total, record)]
        store_statistics(G, row, [(m / batches, v / batches) for m, v in total])


@torch.no_grad()
def refine_spectral_norm(module: nn.Module, iterations: int) -> None:
    """Run ``iterations`` power iterations on every spectrally normalised weight of ``module`` (the
    ``weight_orig``/``weight_u``/``weight_v`` layout), updating u and v in place."""
    for m in module.modules():
        if not all(hasattr(m, name) for name in ("weight_orig", "weight_u", "weight_v")):
            continue
        mat = m.weight_orig.detach().float().flatten(1)
        u, v = m.weight_u, m.weight_v
        for _ in range(iterations):
            v = F.normalize(mat.t() @ u, dim=0, eps=m.eps)
            u = F.normalize(mat @ v, dim=0, eps=m.eps)
        m.weight_u.copy_(u)
        m.weight_v.copy_(v)
