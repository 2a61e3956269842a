"""ReSeFa's solvers (regiongan.methods.resefa.solvers): Cholesky and Woodbury against scipy's generalized
eigh, rank-deficient backgrounds (what α is for), Eq. 12 itself, and clear input errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from regiongan.methods.resefa import DEFAULT_TAU, solve, solve_cholesky, solve_woodbury, woodbury_inverse


def _problem(d: int, p_f: int, p_b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    Jf = torch.randn(p_f, d, generator=g, dtype=torch.float64)
    Jb = torch.randn(p_b, d, generator=g, dtype=torch.float64) * torch.linspace(0.1, 3, d, dtype=torch.float64)
    return Jf.T @ Jf, Jb.T @ Jb, Jb


def _scipy_top(A, B, tau, k):
    alpha = tau * float(torch.trace(B))
    lam, vec = scipy.linalg.eigh(A.numpy(), B.numpy() + alpha * np.eye(A.shape[0]))
    return lam[::-1][:k], vec[:, ::-1][:, :k].T


def _assert_matches(sol, lam_ref, vec_ref):
    np.testing.assert_allclose(sol.eigenvalues.numpy(), lam_ref, rtol=1e-4)
    for got, ref in zip(sol.vectors.numpy(), vec_ref):
        cos = abs(got @ ref) / (np.linalg.norm(got) * np.linalg.norm(ref))
        assert cos > 0.999, cos
    torch.testing.assert_close(sol.vectors.norm(dim=1), torch.ones(len(sol.vectors), dtype=torch.float64))


@pytest.mark.parametrize("tau", [DEFAULT_TAU, 0.05])
def test_both_solvers_match_scipy_generalized_eigh(tau):
    A, B, Jb = _problem(d=24, p_f=30, p_b=200)
    lam_ref, vec_ref = _scipy_top(A, B, tau, k=6)
    for sol in (
        solve_cholesky(A, B, k=6, tau=tau),
        solve_woodbury(A, B, k=6, tau=tau),
        solve_woodbury(A, Jb=Jb, k=6, tau=tau),  # truncated SVD of J_b, B never formed
        solve(A, B, k=6, tau=tau, solver="woodbury"),
    ):
        _assert_matches(sol, lam_ref, vec_ref)
    assert (solve_cholesky(A, B, tau=tau).eigenvalues.diff() <= 0).all()  # descending


def test_rank_deficient_background_is_what_alpha_is_for():
    # 5 background rows for a 16-d latent: B has rank 5, 11 directions leave the background untouched.
    A, B, Jb = _problem(d=16, p_f=40, p_b=5, seed=1)
    assert int(torch.linalg.matrix_rank(B)) == 5
    with pytest.raises(ValueError, match="not positive definite.*tau > 0"):
        solve_cholesky(A, B, tau=0.0)
    lam_ref, vec_ref = _scipy_top(A, B, 1e-3, k=4)
    _assert_matches(solve_cholesky(A, B, k=4), lam_ref, vec_ref)
    _assert_matches(solve_woodbury(A, B, k=4), lam_ref, vec_ref)
    _assert_matches(solve_woodbury(A, Jb=Jb, k=4, rank=5), lam_ref, vec_ref)  # rank(B) singular values: exact
    # Eq. 12 itself: the Woodbury inverse of B + αI from B's 5 nonzero singular values
    _, s, Vh = torch.linalg.svd(Jb, full_matrices=False)
    alpha = 1e-3 * float(torch.trace(B))
    eye = torch.eye(16, dtype=B.dtype)
    torch.testing.assert_close(woodbury_inverse(Vh.T, s**2, alpha) @ (B + alpha * eye), eye)


def test_solver_input_errors():
    A, B, _ = _problem(d=8, p_f=10, p_b=20)
    with pytest.raises(ValueError, match="k=9 directions asked for, but the latent has only d=8"):
        solve_cholesky(A, B, k=9)
    with pytest.raises(ValueError, match="tau must be a finite number >= 0"):
        solve_cholesky(A, B, tau=-1)
    with pytest.raises(ValueError, match="needs α = τ·tr\\(B\\) > 0"):
        solve_woodbury(A, B, tau=0.0)
    with pytest.raises(ValueError, match="exactly one of B"):
        solve_woodbury(A)
    with pytest.raises(ValueError, match="square"):
        solve_cholesky(A[:3], B)
    with pytest.raises(ValueError, match="solver must be one of"):
        solve(A, B, solver="qr")
    with pytest.raises(ValueError, match="rank= truncates the Woodbury path only"):
        solve(A, B, rank=2)
