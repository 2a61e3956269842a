"""Part transfer (Collins et al. 2020, Eq. 3): mix two codes' styles channel by channel, one synthesis pass.

At every control point (convs and ToRGBs) the target's style ``σ_S`` moves towards the reference's
``σ_R`` by that layer's query ``q`` (:mod:`.queries`):

    σ_G = σ_S + Q (σ_R − σ_S),   Q = diag(q),   q ∈ [0, 1]^C

No spatial mask and no optimisation: the part is selected by *which channels* move. Where ``q_c = 0`` the
target's value is kept bit-for-bit, so ``q = 0`` everywhere, or a reference equal to the target, gives
exactly the target's image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

__all__ = ["PartTransferOutput", "transfer_styles"]


@dataclass
class PartTransferOutput:
    """image: ``[N, 3, R, R]`` the edited targets; styles: what entered each control point ``[N, C_l]``;
    target_styles / reference_styles: ``σ_S`` / ``σ_R`` per control point, ``[N, C_l]``; features: the
    edited pass's conv activations ``{name: [N, C, h, w]}`` (only with ``return_features=True``)."""

    image: torch.Tensor
    styles: list[torch.Tensor]
    target_styles: list[torch.Tensor]
    reference_styles: list[torch.Tensor]
    features: dict[str, torch.Tensor]


def transfer_styles(
    G, ws_target: torch.Tensor, ws_reference: torch.Tensor, queries: Mapping[str, torch.Tensor],
    return_features: bool = False,
) -> PartTransferOutput:
    """Eq. 3 at every control point, then one synthesis pass with the model's constant noise.

    Args:
        G: any generator (:class:`~regiongan.generators.base.Generator`).
        ws_target, ws_reference: ``[N|1, num_ws, w_dim]`` (batch 1 broadcasts).
        queries: ``{control point name: q [C_l]}`` for every control point of ``G``.

    Returns:
        :class:`PartTransferOutput` with ``image [N, 3, R, R]``.
    """
    points = G.control_points()
    missing = [p.name for p in points if p.name not in queries]
    wrong = [f"{p.name}: {tuple(queries[p.name].shape)} != ({p.channels},)" for p in points
             if p.name in queries and tuple(queries[p.name].shape) != (p.channels,)]  # fmt: skip
    if missing or wrong:
        raise ValueError(f"queries must hold q [C_l] for every control point; missing {missing}, wrong shape {wrong}")
    nt, nr = ws_target.shape[0], ws_reference.shape[0]
    if nt != nr and 1 not in (nt, nr):
        raise ValueError(f"target has batch {nt} and reference {nr}; give the same N, or 1 to broadcast")
    n = max(nt, nr)
    s_t = [s.expand(n, -1) for s in G.styles(ws_target)]
    s_r = [s.expand(n, -1) for s in G.styles(ws_reference)]
    styles = []
    for p, st, sr in zip(points, s_t, s_r):
        q = queries[p.name].to(st)
        styles.append(torch.where(q > 0, st + q * (sr - st), st))  # q = 0 keeps the target's value exactly
    out = G.synthesize(styles, noise_mode="const", return_features=return_features)
    return PartTransferOutput(image=out.image, styles=styles, target_styles=s_t, reference_styles=s_r, features=out.features)
