"""Editing in Style (Collins et al., CVPR 2020) on the generator interface (METHODS.md §2, steps 3–4).

Transfer the look of one semantic part (eyes, nose, mouth, hair) from a reference image to a target
image by interpolating the *style vectors* of every control point, channel by channel:

    σ_G = σ_S + Q (σ_R − σ_S),   Q = diag(q),   q ∈ [0, 1]^C       (Eq. 3, per control point)

The query ``q`` picks the channels whose activations live in the part, from the catalog's contribution
matrix ``M_l`` (:mod:`regiongan.methods.catalog`):

    simultaneous   q_c = min(1, λ M[k', c])                                            (Eq. 4)
    sequential     channels sorted by M[k', c] descending get q_c = 1 while
                   Σ q_c (1 − M[k', c]) ≤ ε, and only where M[k', c] > ρ / (1 + ρ)      (Eq. 5)

``M[k', c]`` of a part made of several clusters is the sum of their rows. Queries are computed per
control point (so ``ε`` is a budget per layer, as in the paper's per-layer query). The edit is one
forward pass: no optimisation, no spatial mask.

    simultaneous_query(m, lam) / sequential_query(m, eps, rho)     one layer's q [C]
    part_queries(catalog, part, method, ...)                       {control point: q [C_l]}
    transfer_part(G, target, reference, part, catalog, ...)        -> PartTransferOutput (image [N, 3, R, R])

``ρ`` is the paper's ρ (Eq. 5's objective weight); the channel threshold is ``ρ / (1 + ρ)``. We validate
``ρ`` itself: it must be a finite number > 0, which is exactly the condition for the threshold to lie in
the open interval (0, 1). The paper's setting ``ρ / (1 + ρ) = 0.1`` is ``ρ = 1/9`` (our default).
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Union

import numpy as np
import torch

from ..recipes import register_method, resolve_code
from .catalog import Catalog, CatalogError, PartSpec
from .itan import Space, codes_to_ws

__all__ = [
    "DEFAULT_EPS",
    "DEFAULT_LAMBDA",
    "DEFAULT_RHO",
    "PartTransferOutput",
    "simultaneous_query",
    "sequential_query",
    "part_queries",
    "transfer_part",
    "resolve_catalog",
]

QueryMethod = Literal["sequential", "simultaneous"]
CatalogLike = Union[Catalog, str, os.PathLike, Mapping[str, Any]]

#: Eq. 5 budget per layer (the paper tunes 20 ≤ ε ≤ 100 for 512-channel layers).
DEFAULT_EPS = 50.0
#: Eq. 4 strength: a channel with 20 % of its energy in the part is copied fully.
DEFAULT_LAMBDA = 5.0
#: Eq. 5 ρ with ρ / (1 + ρ) = 0.1, the paper's setting.
DEFAULT_RHO = 1.0 / 9.0
_METHODS = ("sequential", "simultaneous")


# --------------------------------------------------------------------------------------------------
# Queries (Eq. 4, 5)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    return float(value)


def _check_lambda(lam: Any) -> float:
    v = _number(lam, "lam (λ, Eq. 4)")
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"lam (λ, Eq. 4) must be a finite number >= 0 (0 keeps the target), got {lam!r}")
    return v


def _check_eps(eps: Any) -> float:
    v = _number(eps, "eps (ε, Eq. 5)")
    if not math.isfinite(v) or v < 0:
        raise ValueError(
            f"eps (ε, Eq. 5) must be a finite number >= 0: the per-layer budget Σ q_c (1 − M[k', c]) ≤ ε; got {eps!r}"
        )
    return v


def _check_rho(rho: Any) -> float:
    v = _number(rho, "rho (ρ, Eq. 5)")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(
            f"rho is the paper's ρ (Eq. 5); channels need M[k', c] > ρ/(1+ρ), so ρ must be a finite number > 0 "
            f"(the threshold ρ/(1+ρ) then lies in (0, 1)); got rho={rho!r}. The paper's threshold 0.1 is rho=1/9"
        )
    return v


def _check_row(m: torch.Tensor) -> torch.Tensor:
    if not isinstance(m, torch.Tensor) or m.ndim != 1:
        raise ValueError(f"a contribution row must be a 1-D tensor [C], got {getattr(m, 'shape', type(m).__name__)}")
    return m


def simultaneous_query(m: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq. 4: ``q_c = min(1, λ M[k', c])`` for one layer's contribution row ``m [C]`` -> ``q [C]``."""
    lam = _check_lambda(lam)
    return (_check_row(m) * lam).clamp(0.0, 1.0)


def sequential_query(m: torch.Tensor, eps: float, rho: float = DEFAULT_RHO) -> torch.Tensor:
    """Eq. 5, greedily: ``m [C]`` -> binary ``q [C]``.

    Channels in order of decreasing ``M[k', c]`` (ties: lower index first) get ``q_c = 1`` as long as the
    total cost ``Σ q_c (1 − M[k', c])`` stays ``≤ ε``; the first channel that would exceed the budget ends
    the selection, and no channel with ``M[k', c] ≤ ρ / (1 + ρ)`` is selected.
    """
    eps, rho = _check_eps(eps), _check_rho(rho)
    m = _check_row(m)
    threshold = rho / (1.0 + rho)
    # numpy (float64): a handful of tiny ops per layer, where torch's per-op overhead would dominate
    values = m.detach().cpu().double().numpy()
    order = np.argsort(-values, kind="stable")
    ms = values[order]
    # Costs 1 − M are >= 0 (M ≤ 1), so both conditions hold on a prefix of the sorted channels.
    chosen = (np.cumsum(1.0 - ms) <= eps) & (ms > threshold)
    n = len(chosen) if chosen.all() else int(np.argmin(chosen))
    q = torch.zeros_like(m)
    q[torch.from_numpy(order[:n].copy()).to(m.device)] = 1.0
    return q


def part_queries(
    catalog: Catalog,
    part: PartSpec,
    method: QueryMethod = "sequential",
    lam: float = DEFAULT_LAMBDA,
    eps: float = DEFAULT_EPS,
    rho: float = DEFAULT_RHO,
) -> dict[str, torch.Tensor]:
    """The query ``q [C_l]`` of every control point for ``part`` (a name, a cluster id or a list of ids)."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    rows = catalog.part_contributions(part)
    if method == "simultaneous":
        lam = _check_lambda(lam)
        return {name: simultaneous_query(m, lam) for name, m in rows.items()}
    eps, rho = _check_eps(eps), _check_rho(rho)
    return {name: sequential_query(m, eps, rho) for name, m in rows.items()}


# --------------------------------------------------------------------------------------------------
# Transfer (Eq. 3)


@dataclass
class PartTransferOutput:
    """image: ``[N, 3, R, R]`` the edited targets; queries: ``{control point: q [C_l]}``; styles: what
    entered each control point ``[N, C_l]``; target_styles / reference_styles: ``σ_S`` / ``σ_R``."""

    image: torch.Tensor
    queries: dict[str, torch.Tensor]
    styles: list[torch.Tensor]
    target_styles: list[torch.Tensor]
    reference_styles: list[torch.Tensor]


def resolve_catalog(catalog: CatalogLike) -> Catalog:
    """A :class:`Catalog`, a catalog directory, or the dict form a recipe stores (:meth:`Catalog.to_dict`)."""
    if isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, (str, os.PathLike)):
        return Catalog.load(catalog)
    if isinstance(catalog, Mapping):
        return Catalog.from_dict(catalog)
    raise CatalogError(f"catalog must be a Catalog, a catalog directory or its dict form, got {type(catalog).__name__}")


def transfer_part(
    G,
    target: torch.Tensor,
    reference: torch.Tensor,
    part: PartSpec,
    catalog: CatalogLike,
    method: QueryMethod = "sequential",
    lam: float = DEFAULT_LAMBDA,
    eps: float = DEFAULT_EPS,
    rho: float = DEFAULT_RHO,
    space: Space = "z",
    c: torch.Tensor | None = None,
    truncation_psi: float = 1.0,
) -> PartTransferOutput:
    """Copy ``part`` from ``reference`` into ``target`` (Eq. 3 with the query of Eq. 4 or 5).

    Args:
        G: the generator the catalog was built from (checked by fingerprint).
        target, reference: codes ``[N|1, ...]`` in ``space`` (z, w or w+; batch 1 broadcasts).
        part: a catalog part name, a cluster id or a list of ids.
        catalog: a :class:`~regiongan.methods.catalog.Catalog`, its directory or its dict form.
        method: ``"sequential"`` (Eq. 5: ``eps``, ``rho``) or ``"simultaneous"`` (Eq. 4: ``lam``).
        lam: λ ≥ 0. eps: ε ≥ 0, the budget per layer. rho: the paper's ρ > 0 (threshold ρ/(1+ρ)).
        c, truncation_psi: as for plain generation (the same for both codes).

    Returns:
        :class:`PartTransferOutput` with ``image [N, 3, R, R]``. With every ``q = 0`` or
        ``reference == target`` the image is exactly the target's.
    """
    cat = resolve_catalog(catalog)
    cat.check_model(G)
    queries = part_queries(cat, part, method, lam, eps, rho)
    ws_t = codes_to_ws(G, target, space, c, truncation_psi, what="target")
    ws_r = codes_to_ws(G, reference, space, c, truncation_psi, what="reference")
    if ws_t.shape[0] != ws_r.shape[0] and 1 not in (ws_t.shape[0], ws_r.shape[0]):
        raise ValueError(
            f"target has batch {ws_t.shape[0]} and reference {ws_r.shape[0]}; give the same N, or 1 to broadcast"
        )
    n = max(ws_t.shape[0], ws_r.shape[0])
    s_t = [s.expand(n, -1) for s in G.styles(ws_t)]
    s_r = [s.expand(n, -1) for s in G.styles(ws_r)]
    styles = []
    for p, st, sr in zip(G.control_points(), s_t, s_r):
        q = queries[p.name].to(st)
        # where q = 0 the target's value is kept bit-for-bit
        styles.append(torch.where(q > 0, st + q * (sr - st), st))
    image = G.synthesize(styles, noise_mode="const").image
    return PartTransferOutput(image=image, queries=queries, styles=styles, target_styles=s_t, reference_styles=s_r)


# --------------------------------------------------------------------------------------------------
# Recipe method (regiongan.recipes): the parameters are exactly the keyword arguments above; the catalog is
# stored inline (its dict form: JSON + tensors in the sidecar), so a recipe replays without the catalog files.


def _kwargs_of(fn) -> list[str]:
    return [name for name in inspect.signature(fn).parameters if name != "G"]


@register_method(
    "editing_in_style.transfer_part",
    required=("target", "reference", "part", "catalog"),
    allowed=_kwargs_of(transfer_part),
)
def _recipe_transfer_part(G, params: dict) -> torch.Tensor:
    """Editing in Style part transfer -> [N, 3, R, R]."""
    params["target"] = resolve_code(G, params["target"], "target")
    params["reference"] = resolve_code(G, params["reference"], "reference")
    return transfer_part(G, **params).image
