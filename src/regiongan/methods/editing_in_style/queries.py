"""Queries (Collins et al. 2020, Eq. 4 and 5): which style channels of each layer carry a part.

A query ``q ∈ [0, 1]^C`` per control point says how much of each channel the transfer copies from the
reference (Eq. 3, :mod:`.transfer`). It is read from the part's contribution row ``M[k', c]`` — the
fraction of channel c's energy inside the part; for a part made of several clusters the sum of their rows:

    simultaneous   q_c = min(1, λ M[k', c])                                            (Eq. 4)
    sequential     channels sorted by M[k', c] descending get q_c = 1 while
                   Σ q_c (1 − M[k', c]) ≤ ε, and only where M[k', c] > ρ / (1 + ρ)      (Eq. 5)

Queries are computed per control point, so ``ε`` is a budget per layer. ``ρ`` is the paper's ρ (the
weight in Eq. 5's objective) and the channel threshold is ``ρ / (1 + ρ)``; we validate ρ itself: a finite
number > 0, exactly the condition for the threshold to lie in (0, 1). The paper's threshold 0.1 is
``ρ = 1/9``, our default.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

from .catalog import Catalog, PartSpec

__all__ = [
    "DEFAULT_EPS", "DEFAULT_LAMBDA", "DEFAULT_RHO", "QueryMethod", "QUERY_METHODS", "simultaneous_query",
    "sequential_query", "part_queries",
]  # fmt: skip

QueryMethod = Literal["sequential", "simultaneous"]
QUERY_METHODS: tuple[str, ...] = ("sequential", "simultaneous")

#: Eq. 5 budget per layer (the paper tunes 20 ≤ ε ≤ 100 for 512-channel layers).
DEFAULT_EPS = 50.0
#: Eq. 4 strength: a channel with 20 % of its energy in the part is copied fully.
DEFAULT_LAMBDA = 5.0
#: Eq. 5 ρ with ρ / (1 + ρ) = 0.1, the paper's setting.
DEFAULT_RHO = 1.0 / 9.0


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
    if method not in QUERY_METHODS:
        raise ValueError(f"method must be one of {QUERY_METHODS}, got {method!r}")
    rows = catalog.part_contributions(part)
    if method == "simultaneous":
        lam = _check_lambda(lam)
        return {name: simultaneous_query(m, lam) for name, m in rows.items()}
    eps, rho = _check_eps(eps), _check_rho(rho)
    return {name: sequential_query(m, eps, rho) for name, m in rows.items()}
