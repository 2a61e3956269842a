"""ReSeFa's eigenproblem: the directions that change the region most per unit of change elsewhere.

With the region Grams ``A`` (foreground) and ``B`` (background), both ``[d, d]`` symmetric positive
semi-definite, the directions maximise the generalized Rayleigh quotient ``nᵀAn / nᵀ(B + αI)n`` (paper
Eq. 7), i.e. they are the top eigenvectors of

    A n = λ (B + α I) n,        α = τ · tr(B),  τ = 1e-3        (Eq. 10, 11)

α keeps the problem well posed when B is rank-deficient (a latent direction that does not move the
background at all). Two solvers, which agree to float precision (tested against ``scipy.linalg.eigh``):

* ``"cholesky"`` — ``B + αI = LLᵀ`` and the standard symmetric problem ``L⁻¹ A L⁻ᵀ u = λ u``, ``n = L⁻ᵀu``
  (paper §3.3, "standard solution");
* ``"woodbury"`` — the paper's fast path (Eq. 12): from a truncated SVD ``J_b ≈ U S Vᵀ`` (or, equivalently,
  the eigendecomposition ``B = V S² Vᵀ`` when only the averaged Gram is at hand),
  ``(B + αI)⁻¹ = (1/α)(I − V diag(s²/(s²+α)) Vᵀ)``. We need a *symmetric* eigenproblem, so we use the
  square root of the same Woodbury form, ``W = (B + αI)^{-1/2} = (1/√α)(I − V diag(1 − √(α/(s²+α))) Vᵀ)``
  (on span V it scales by ``1/√(s²+α)``, elsewhere by ``1/√α``), solve ``W A W u = λ u`` and take ``n = W u``.
  No Cholesky and no explicit inverse; with ``rank`` < rank(B) it is an approximation that ignores B's
  weakest directions.

Eigenvalues are returned in descending order; directions have unit norm in the latent space (sign fixed so
that the largest-magnitude entry is positive). Everything is float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ...jacobian import NonFiniteOutputError
from ...validate import finite

__all__ = [
    "Solver",
    "SOLVERS",
    "DEFAULT_TAU",
    "DEFAULT_SOLVER",
    "EigenSolution",
    "regularization",
    "solve_cholesky",
    "solve_woodbury",
    "woodbury_inverse",
    "solve",
]

Solver = Literal["cholesky", "woodbury"]
SOLVERS: tuple[str, ...] = ("cholesky", "woodbury")
#: τ in α = τ · tr(B): the paper's value.
DEFAULT_TAU = 1e-3
#: The largest τ: at τ = 10⁶ the regulariser is a million times the background's whole Gram, so the
#: directions no longer see B at all (a larger τ changes nothing, and τ · tr(B) can overflow to inf).
MAX_TAU = 1e6
DEFAULT_SOLVER: Solver = "cholesky"


@dataclass
class EigenSolution:
    """eigenvalues: ``[k]`` descending (float64); vectors: ``[k, d]`` unit rows (float64); alpha: the
    regulariser ``τ · tr(B)`` that was used."""

    eigenvalues: torch.Tensor
    vectors: torch.Tensor
    alpha: float


def _check_square(M: torch.Tensor, name: str, d: int | None = None) -> torch.Tensor:
    if not isinstance(M, torch.Tensor) or M.ndim != 2 or M.shape[0] != M.shape[1]:
        shape = tuple(M.shape) if isinstance(M, torch.Tensor) else type(M).__name__
        raise ValueError(f"{name} must be a square matrix [d, d], got {shape}")
    if d is not None and M.shape[0] != d:
        raise ValueError(f"{name} is {M.shape[0]}x{M.shape[0]} but A is {d}x{d}")
    M = M.to(torch.float64)
    if not bool(torch.isfinite(M).all()):
        raise NonFiniteOutputError(f"{name} contains NaN/inf; the Jacobian it came from was not finite")
    return (M + M.t()) / 2


def check_k(k: int | None, d: int) -> int:
    """The number of directions ``k`` (None: all ``d``), or a ValueError when it is not in 1..d."""
    if k is None:
        return d
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int (number of directions), got {k!r}")
    if k > d:
        raise ValueError(
            f"k={k} directions asked for, but the latent has only d={d} dimensions (at most d independent "
            f"directions exist); use k <= {d}"
        )
    return k


def check_tau(tau: float) -> float:
    """τ as a float, or a ValueError: a finite number in ``[0, MAX_TAU]``."""
    try:
        return finite(tau, "tau", 0, MAX_TAU)
    except ValueError:
        raise ValueError(
            f"tau must be a finite number >= 0 and <= {MAX_TAU:g} (paper default {DEFAULT_TAU:g}), got {tau!r}"
        ) from None


def regularization(B: torch.Tensor, tau: float) -> float:
    """α = τ · tr(B) (Eq. 10). τ must be a finite number ≥ 0."""
    return check_tau(tau) * float(torch.diagonal(B).sum())


def _finish(lam: torch.Tensor, N: torch.Tensor, k: int, alpha: float) -> EigenSolution:
    """Top-k of ascending ``lam`` / columns ``N`` -> descending, unit-norm rows with a fixed sign."""
    order = torch.argsort(lam, descending=True)[:k]
    vecs = N[:, order].t()  # [k, d]
    vecs = vecs / vecs.norm(dim=1, keepdim=True).clamp_min(1e-300)
    pivot = vecs.abs().argmax(dim=1)
    signs = torch.sign(vecs.gather(1, pivot[:, None]))
    signs[signs == 0] = 1
    return EigenSolution(eigenvalues=lam[order].clone(), vectors=(vecs * signs).contiguous(), alpha=alpha)


def solve_cholesky(A: torch.Tensor, B: torch.Tensor, k: int | None = None, tau: float = DEFAULT_TAU) -> EigenSolution:
    """Top-k solutions of ``A n = λ (B + αI) n`` via the Cholesky factor of ``B + αI`` (float64).

    A, B: symmetric positive semi-definite ``[d, d]``.
    """
    A = _check_square(A, "A")
    d = A.shape[0]
    B = _check_square(B, "B", d)
    k = check_k(k, d)
    alpha = regularization(B, tau)
    M = B + alpha * torch.eye(d, dtype=B.dtype, device=B.device)
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        whole = alpha == 0 and float(torch.diagonal(B).sum()) == 0
        raise ValueError(
            f"B + αI is not positive definite (α = τ·tr(B) = {alpha:.3g}): B is singular and τ = {tau!r} adds "
            "too little; use tau > 0 (default 1e-3)"
            + (" — tr(B) is 0: the background does not change at all, is the region the whole image?" if whole else "")
        )
    # C = L⁻¹ A L⁻ᵀ: two triangular solves (A is symmetric, so (L⁻¹A)ᵀ = A L⁻ᵀ).
    X = torch.linalg.solve_triangular(L, A, upper=False)
    C = torch.linalg.solve_triangular(L, X.t(), upper=False)
    lam, U = torch.linalg.eigh((C + C.t()) / 2)
    N = torch.linalg.solve_triangular(L.t(), U, upper=True)  # n = L⁻ᵀ u
    return _finish(lam, N, k, alpha)


def _svd_factors(
    B: torch.Tensor | None, Jb: torch.Tensor | None, rank: int | None, d: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(V [d, r], s² [r], tr(B))`` from ``J_b`` (truncated SVD) or from ``B`` (eigendecomposition)."""
    if (B is None) == (Jb is None):
        raise ValueError("give exactly one of B (the background Gram [d, d]) or Jb (background Jacobian rows [P_b, d])")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 1):
        raise ValueError(f"rank must be a positive int or None (full), got {rank!r}")
    if Jb is not None:
        if Jb.ndim != 2 or Jb.shape[1] != d:
            raise ValueError(f"Jb must be [P_b, {d}] (rows of the background Jacobian), got {tuple(Jb.shape)}")
        Jb = Jb.to(torch.float64)
        if not bool(torch.isfinite(Jb).all()):
            raise NonFiniteOutputError("Jb contains NaN/inf")
        trace = float(Jb.square().sum())  # tr(JbᵀJb) = ‖Jb‖_F², exact even when the SVD is truncated
        full = min(Jb.shape)
        r = full if rank is None else min(rank, full)
        if r < full // 2:
            # Randomized truncated SVD (Halko et al.): cost ~ P_b · d · r instead of P_b · d · min(P_b, d).
            _, s, V = torch.svd_lowrank(Jb, q=min(full, r + 10), niter=4)
            s, V = s[:r], V[:, :r]
        else:
            _, s, Vh = torch.linalg.svd(Jb, full_matrices=False)
            s, V = s[:r], Vh[:r].t()
        return V, s.square(), trace
    B = _check_square(B, "B", d)
    s2, V = torch.linalg.eigh(B)  # B = V S² Vᵀ: the right singular vectors of any J_b with JbᵀJb = B
    s2, V = s2.flip(0).clamp_min(0), V.flip(1)
    if rank is not None:
        s2, V = s2[:rank], V[:, :rank]
    return V, s2, float(torch.diagonal(B).sum())


def woodbury_inverse(V: torch.Tensor, s2: torch.Tensor, alpha: float) -> torch.Tensor:
    """``(B + αI)⁻¹ = (1/α)(I − V diag(s²/(s²+α)) Vᵀ)`` for ``B = V diag(s²) Vᵀ`` (paper Eq. 12). ``[d, d]``.

    V: ``[d, r]`` orthonormal columns; s2: ``[r]``; alpha > 0.
    """
    d = V.shape[0]
    return (torch.eye(d, dtype=V.dtype, device=V.device) - (V * (s2 / (s2 + alpha))) @ V.t()) / alpha


def solve_woodbury(
    A: torch.Tensor,
    B: torch.Tensor | None = None,
    *,
    Jb: torch.Tensor | None = None,
    k: int | None = None,
    tau: float = DEFAULT_TAU,
    rank: int | None = None,
) -> EigenSolution:
    """Top-k solutions of ``A n = λ (B + αI) n`` via the Woodbury form of ``(B + αI)^{-1/2}`` (float64).

    Give the background as ``B = J_bᵀ J_b`` ``[d, d]`` or as its rows ``Jb [P_b, d]`` (then B is never formed:
    a truncated SVD of ``Jb``, rank ``rank``, randomized when ``rank`` is small). ``rank=None`` keeps all
    singular values (exact); a smaller rank ignores the background's weakest directions. Needs τ > 0.
    """
    A = _check_square(A, "A")
    d = A.shape[0]
    k = check_k(k, d)
    V, s2, trace = _svd_factors(B, Jb, rank, d)
    alpha = check_tau(tau) * trace
    if alpha <= 0:
        raise ValueError(
            f"the Woodbury solver needs α = τ·tr(B) > 0, got τ = {tau!r}, tr(B) = {trace:.3g}"
            + (" (the background does not change at all: is the region the whole image?)" if trace == 0 else "")
        )
    # W = (B + αI)^{-1/2} = (1/√α)(I − V diag(g) Vᵀ), g = 1 − √(α/(s²+α)); W is symmetric.
    g = 1.0 - torch.sqrt(alpha / (s2 + alpha))

    def apply_w(X: torch.Tensor) -> torch.Tensor:
        return (X - V @ (g[:, None] * (V.t() @ X))) / math.sqrt(alpha)

    C = apply_w(apply_w(A).t())  # W A W
    lam, U = torch.linalg.eigh((C + C.t()) / 2)
    return _finish(lam, apply_w(U), k, alpha)


def solve(
    A: torch.Tensor,
    B: torch.Tensor,
    k: int | None = None,
    tau: float = DEFAULT_TAU,
    solver: Solver = DEFAULT_SOLVER,
    rank: int | None = None,
) -> EigenSolution:
    """Dispatch to :func:`solve_cholesky` or :func:`solve_woodbury` (``rank`` only for Woodbury)."""
    if solver == "cholesky":
        if rank is not None:
            raise ValueError("rank= truncates the Woodbury path only; the Cholesky solver is always exact")
        return solve_cholesky(A, B, k=k, tau=tau)
    if solver == "woodbury":
        return solve_woodbury(A, B, k=k, tau=tau, rank=rank)
    raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
