"""ReSeFa — region-based semantic factorization (Zhu et al., ICML 2022) on the generator interface.

Given a generator, a latent space and a region, find latent directions ``n`` that change the region and
leave the rest of the image alone (METHODS.md §3). With ``J = ∂G/∂x`` at a sample and the region Grams
``A = J_fᵀ J_f``, ``B = J_bᵀ J_b`` (rows inside / outside the region, averaged over samples; see
:mod:`regiongan.jacobian` for the soft-mask weighting), the directions maximise the generalized Rayleigh
quotient ``nᵀAn / nᵀ(B + αI)n`` (paper Eq. 7), i.e. they are the top eigenvectors of

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
that the largest-magnitude entry is positive).

Latent spaces (``space=``):

* ``"w"`` (default): one ``w [w_dim]`` offset applied to the W+ rows selected by ``layers`` (all by default).
  The Jacobian w.r.t. ``w`` is the sum over those rows of the W+ Jacobians — one tangent through all of them.
* ``"w+"``: the selected W+ rows, concatenated: ``d = len(rows) · w_dim``.
* ``"z"``: the input of the mapping network (``d = z_dim``, truncation included).

``layers`` uses :func:`regiongan.methods.itan.select_layers` (``"fine"``, ``(16, 64)``, names …) and
moves the W+ rows that feed the selected control points.

    dirs = region_directions(G, "box:16,36,48,56", samples=8)          # W space, Cholesky
    dirs.save("mouth.safetensors"); dirs = load_directions("mouth.safetensors")
    images = edit(G, z, dirs, index=0, strengths=[-3, 0, 3])            # [N, 3 strengths, 3, H, W]
"""

from __future__ import annotations

import inspect
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence, Union

import torch

from .. import __version__
from ..jacobian import (
    DEFAULT_MAX_JACOBIAN_BYTES,
    EmptyRegionError,
    GramAccumulator,
    NonFiniteOutputError,
    TangentFn,
    area_downsample,
    sample_grams,
)
from ..ops.masks import resize_mask
from ..recipes import model_digest, register_method, resolve_code
from ..regions import Region, RegionError, parse_region
from .itan import LayerSpec, select_layers

__all__ = [
    "Directions",
    "EigenSolution",
    "RegionSource",
    "region_directions",
    "tangent_function",
    "load_directions",
    "edit",
    "apply_direction",
    "solve_cholesky",
    "solve_woodbury",
    "solve",
    "woodbury_inverse",
    "regularization",
    "latent_rows",
    "image_function",
    "check_model_matches",
    "directions_summary",
    "EmptyRegionError",
    "NonFiniteOutputError",
]

Space = Literal["w", "w+", "z"]
Solver = Literal["cholesky", "woodbury"]
#: images ``[N, 3, H, W]`` -> soft masks ``[N, 1, H, W]`` (e.g. a part parser).
RegionSource = Callable[[torch.Tensor], torch.Tensor]
RegionLike = Union[Region, torch.Tensor, str, RegionSource]

_SPACES = ("w", "w+", "z")
_SOLVERS = ("cholesky", "woodbury")
FORMAT = "regiongan-directions"
FORMAT_VERSION = 1
DEFAULT_PARSER = "parser-faces-64"


# --------------------------------------------------------------------------------------------------
# Solvers: A n = λ (B + αI) n


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


def _check_k(k: int | None, d: int) -> int:
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


def _check_tau(tau: float) -> float:
    try:
        t = float(tau)
    except (TypeError, ValueError):
        raise ValueError(f"tau must be a number, got {tau!r}") from None
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"tau must be a finite number >= 0 (paper default 1e-3), got {tau!r}")
    return t


def regularization(B: torch.Tensor, tau: float) -> float:
    """α = τ · tr(B) (Eq. 10). τ must be a finite number ≥ 0."""
    return _check_tau(tau) * float(torch.diagonal(B).sum())


def _finish(lam: torch.Tensor, N: torch.Tensor, k: int, alpha: float) -> EigenSolution:
    """Top-k of ascending ``lam`` / columns ``N`` -> descending, unit-norm rows with a fixed sign."""
    order = torch.argsort(lam, descending=True)[:k]
    vecs = N[:, order].t()  # [k, d]
    vecs = vecs / vecs.norm(dim=1, keepdim=True).clamp_min(1e-300)
    pivot = vecs.abs().argmax(dim=1)
    signs = torch.sign(vecs.gather(1, pivot[:, None]))
    signs[signs == 0] = 1
    return EigenSolution(eigenvalues=lam[order].clone(), vectors=(vecs * signs).contiguous(), alpha=alpha)


def solve_cholesky(A: torch.Tensor, B: torch.Tensor, k: int | None = None, tau: float = 1e-3) -> EigenSolution:
    """Top-k solutions of ``A n = λ (B + αI) n`` via the Cholesky factor of ``B + αI`` (float64).

    A, B: symmetric positive semi-definite ``[d, d]``.
    """
    A = _check_square(A, "A")
    d = A.shape[0]
    B = _check_square(B, "B", d)
    k = _check_k(k, d)
    alpha = regularization(B, tau)
    M = B + alpha * torch.eye(d, dtype=B.dtype, device=B.device)
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        raise ValueError(
            f"B + αI is not positive definite (α = τ·tr(B) = {alpha:.3g}): B is singular and τ = {tau!r} adds "
            "too little; use tau > 0 (default 1e-3)"
            + (" — tr(B) is 0: the background does not change at all, is the region the whole image?" if alpha == 0 and float(torch.diagonal(B).sum()) == 0 else "")
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
    """``(B + αI)⁻¹ = (1/α)(I − V diag(s²/(s²+α)) Vᵀ)`` for ``B = V diag(s²) Vᵀ`` (paper Eq. 12). ``[d, d]``."""
    d = V.shape[0]
    return (torch.eye(d, dtype=V.dtype, device=V.device) - (V * (s2 / (s2 + alpha))) @ V.t()) / alpha


def solve_woodbury(
    A: torch.Tensor,
    B: torch.Tensor | None = None,
    *,
    Jb: torch.Tensor | None = None,
    k: int | None = None,
    tau: float = 1e-3,
    rank: int | None = None,
) -> EigenSolution:
    """Top-k solutions of ``A n = λ (B + αI) n`` via the Woodbury form of ``(B + αI)^{-1/2}`` (float64).

    Give the background as ``B = J_bᵀ J_b`` ``[d, d]`` or as its rows ``Jb [P_b, d]`` (then B is never formed:
    a truncated SVD of ``Jb``, rank ``rank``, randomized when ``rank`` is small). ``rank=None`` keeps all
    singular values (exact); a smaller rank ignores the background's weakest directions. Needs τ > 0.
    """
    A = _check_square(A, "A")
    d = A.shape[0]
    k = _check_k(k, d)
    V, s2, trace = _svd_factors(B, Jb, rank, d)
    alpha = _check_tau(tau) * trace
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
    A: torch.Tensor, B: torch.Tensor, k: int | None = None, tau: float = 1e-3, solver: Solver = "cholesky",
    rank: int | None = None,
) -> EigenSolution:
    """Dispatch to :func:`solve_cholesky` or :func:`solve_woodbury` (``rank`` only for Woodbury)."""
    if solver == "cholesky":
        if rank is not None:
            raise ValueError("rank= truncates the Woodbury path only; the Cholesky solver is always exact")
        return solve_cholesky(A, B, k=k, tau=tau)
    if solver == "woodbury":
        return solve_woodbury(A, B, k=k, tau=tau, rank=rank)
    raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")


# --------------------------------------------------------------------------------------------------
# Latent spaces


def _check_model(G) -> None:
    if getattr(G, "c_dim", 0) > 0:
        raise ValueError("ReSeFa does not take class labels yet: this model is class-conditional (c_dim > 0)")
    if getattr(G, "z_dim", 0) <= 0:
        raise ValueError(
            f"this model has no z input (z_dim={getattr(G, 'z_dim', None)}), so samples cannot be drawn from seeds"
        )


def latent_rows(G, space: str, layers: LayerSpec = None) -> tuple[int, ...]:
    """The W+ rows (indices into ``ws``) a direction in ``space`` moves: those feeding the control points
    selected by ``layers``. ``()`` for ``"z"`` (which moves all of them through the mapping)."""
    if space not in _SPACES:
        raise ValueError(
            f"unknown latent space {space!r}; this model's latent spaces are 'w' (w_dim={G.w_dim}), "
            f"'w+' ({G.num_ws} x {G.w_dim}) and 'z' (z_dim={G.z_dim})"
        )
    if space == "z":
        if getattr(G, "z_dim", 0) <= 0:
            raise ValueError(f"this model has no z latent space (z_dim={getattr(G, 'z_dim', None)}); use space='w'")
        if layers not in (None, "all"):
            raise ValueError(
                "layers= cannot be used with space='z': a z offset moves every layer through the mapping; "
                "use space='w' or 'w+' to restrict a direction to some layers"
            )
        return ()
    if getattr(G, "w_dim", 0) <= 0 or getattr(G, "num_ws", 0) <= 0:
        raise ValueError(f"this model has no W latent space, so space={space!r} is not available")
    points = G.control_points()
    return tuple(sorted({points[i].w_index for i in select_layers(G, layers)}))


def _latent_dim(G, space: str, rows: Sequence[int]) -> int:
    return {"z": G.z_dim, "w": G.w_dim, "w+": len(rows) * G.w_dim}[space]


def image_function(
    G, space: str, ws: torch.Tensor, z: torch.Tensor | None, rows: Sequence[int], truncation_psi: float = 1.0,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """``(f, x0)``: the image ``[3, H, W]`` as a function of one sample's latent ``x [d]`` in ``space``, and
    the sample's own latent ``x0`` (``f(x0)`` is the sample's image).

    ws: ``[1, num_ws, w_dim]`` the sample's W+ code; z: ``[1, z_dim]`` its z (for ``"z"``); rows: from
    :func:`latent_rows`. Offsets are added to the sample's rows, so rows that differ (truncation cutoff,
    style mixing) keep their differences.
    """
    if space == "z":
        assert z is not None

        def f_z(x: torch.Tensor) -> torch.Tensor:
            return G.synthesize(G.styles(G.map(x[None], None, truncation_psi)), noise_mode="const").image[0]

        return f_z, z[0].clone()
    idx = torch.tensor(list(rows), dtype=torch.long)
    if space == "w":
        sel = torch.zeros(1, G.num_ws, 1, dtype=ws.dtype, device=ws.device)
        sel[0, idx] = 1.0
        x0 = ws[0, idx[0]].clone()

        def f_w(x: torch.Tensor) -> torch.Tensor:
            return G.synthesize(G.styles(ws + sel * (x - x0)), noise_mode="const").image[0]

        return f_w, x0
    # w+: a one-hot [num_ws, L] scatter keeps this functional (no in-place writes under vmap/jvp).
    scatter = torch.zeros(G.num_ws, len(idx), dtype=ws.dtype, device=ws.device)
    scatter[idx, torch.arange(len(idx))] = 1.0
    x0 = ws[0, idx].reshape(-1).clone()

    def f_wp(x: torch.Tensor) -> torch.Tensor:
        delta = scatter @ (x - x0).reshape(len(idx), G.w_dim)
        return G.synthesize(G.styles(ws + delta[None]), noise_mode="const").image[0]

    return f_wp, x0


def tangent_function(G, space: str, ws: torch.Tensor, rows: Sequence[int]) -> TangentFn | None:
    """The model's own forward-mode tangents for :func:`image_function`'s ``f`` in ``space`` (the rows
    of ``V [c, d]`` are offsets of ``x``), or None when the model has none (``G.synthesize_jvp``) or the
    space is ``"z"``: the engine then uses ``vmap(jvp(f))``. Output ``[c, 3, H, W]``."""
    if space == "z" or not hasattr(G, "synthesize_jvp"):
        return None
    idx = torch.tensor(list(rows), dtype=torch.long, device=ws.device)
    L = len(idx)

    def columns(V: torch.Tensor) -> torch.Tensor:
        dws = torch.zeros(V.shape[0], G.num_ws, G.w_dim, dtype=ws.dtype, device=ws.device)
        if space == "w":
            dws[:, idx] = V[:, None, :]
        else:
            dws[:, idx] = V.reshape(V.shape[0], L, G.w_dim)
        return G.synthesize_jvp(ws, dws, noise_mode="const")[1]

    return columns


# --------------------------------------------------------------------------------------------------
# Regions per sample


def _part_source(spec: str, size: tuple[int, int], parser) -> RegionSource:
    """Masks for a spec with ``part:`` terms, from ``parser`` run on each sample's image."""
    if parser is None or isinstance(parser, str):
        name = parser or DEFAULT_PARSER
        try:
            from ..parser import load_parser

            parser = load_parser(name)
        except Exception as e:  # noqa: BLE001 - any failure: no parser, say so and how to fix it
            raise RegionError(
                f"region {spec!r} uses part: terms, which need a part parser, but parser {name!r} cannot be "
                f"loaded ({type(e).__name__}: {e}). Train or install one (python -m regiongan.parser train ...), "
                "pass parser=load_parser(PATH) (CLI: --parser PATH), or use box:/poly:/mask: regions"
            ) from None
    part_names: dict[str, Any] = {n: i for i, n in enumerate(parser.part_names)}
    if "eyes" not in part_names and {"eye_left", "eye_right"} <= set(part_names):
        part_names["eyes"] = [part_names["eye_left"], part_names["eye_right"]]  # a convenient union

    # Validate the spec once on a label map that contains every part: a typo or a bad box fails here with
    # its own message, so that a failure on a real sample can only mean "this part is not visible there".
    every_part = (torch.arange(size[0] * size[1]) % len(parser.part_names)).reshape(size)
    parse_region(spec, size, labels=every_part, part_names=part_names)

    def mask_of(labels: torch.Tensor) -> torch.Tensor:
        try:
            return parse_region(spec, size, labels=labels, part_names=part_names).mask
        except RegionError:
            return torch.zeros(1, 1, *size)  # part absent in this sample: skipped as an empty region

    def source(images: torch.Tensor) -> torch.Tensor:
        labels = parser.parse(images)
        return torch.cat([mask_of(labels[i]) for i in range(len(labels))])

    return source


def _resolve_region(region: RegionLike, size: tuple[int, int], parser) -> tuple[torch.Tensor | None, RegionSource | None, str | None]:
    """-> (fixed masks [1|N, 1, H, W] or None, per-image source or None, spec string or None)."""
    if isinstance(region, str):
        if "part:" in region:
            return None, _part_source(region, size, parser), region
        return parse_region(region, size).mask, None, region
    if isinstance(region, Region):
        mask = region.mask
    elif isinstance(region, torch.Tensor):
        mask = Region(region if region.ndim == 4 else Region.from_tensor(region).mask).mask
    elif callable(region):
        return None, region, None
    else:
        raise RegionError(
            f"region must be a Region, a mask tensor [N, 1, H, W], a spec string ('box:…', 'part:mouth') or a "
            f"function images -> masks, got {type(region).__name__}"
        )
    if tuple(mask.shape[-2:]) != size:
        raise RegionError(
            f"the region is {mask.shape[-2]}x{mask.shape[-1]} but the model makes {size[0]}x{size[1]} images; "
            f"resize it first (region.resize({size}))"
        )
    return mask, None, None


def _check_mask_sides(mask: torch.Tensor, what: str) -> None:
    inside = float(mask.sum())
    outside = float((1 - mask).sum())
    if inside <= 1e-6:
        raise EmptyRegionError(
            f"{what} has no pixel inside: the foreground Gram A would be empty. Give a region with at least one "
            "pixel (check the coordinates, or that the part is visible)"
        )
    if outside <= 1e-6:
        raise EmptyRegionError(
            f"{what} covers the whole image: the background Gram B would be empty and nothing is kept fixed. "
            "Give a region smaller than the image"
        )


# --------------------------------------------------------------------------------------------------
# Directions


@dataclass
class Directions:
    """Local directions found by :func:`region_directions`.

    vectors: ``[k, d]`` float32 unit rows, best first; eigenvalues: ``[k]`` float64 (the Rayleigh quotient
    ``nᵀAn / nᵀ(B+αI)n``: mean squared change per pixel inside / outside the region); space: ``"w"``,
    ``"w+"`` or ``"z"``; rows: the W+ rows the directions move (``()`` for z); region: the masks used
    ``[1|N, 1, H, W]`` (one per sample for part regions); model: fingerprint (``name``, ``digest``,
    ``config``, ``z_dim``, ``w_dim``, ``num_ws``, ``img_resolution``); meta: how they were computed.
    """

    vectors: torch.Tensor
    eigenvalues: torch.Tensor
    space: str
    rows: tuple[int, ...]
    region: torch.Tensor
    model: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.eigenvalues.shape != (self.vectors.shape[0],):
            raise ValueError(
                f"Directions: vectors must be [k, d] and eigenvalues [k], got {tuple(self.vectors.shape)} and "
                f"{tuple(self.eigenvalues.shape)}"
            )
        if self.space not in _SPACES:
            raise ValueError(f"Directions: unknown space {self.space!r}")
        self.rows = tuple(int(r) for r in self.rows)

    @property
    def k(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the control points the moved W+ rows feed (``()`` for z)."""
        return tuple(self.meta.get("layers") or ())

    def vector(self, index: int) -> torch.Tensor:
        """Direction ``index`` ``[d]`` (0 = the most local)."""
        if not isinstance(index, int) or isinstance(index, bool) or not -self.k <= index < self.k:
            raise IndexError(f"direction index {index!r} out of range: there are {self.k} directions (0..{self.k - 1})")
        return self.vectors[index]

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write a safetensors file (tensors + JSON metadata; never a pickle). Refuses to replace a file
        unless ``overwrite=True``."""
        from ..checkpoints.files import atomic_write, check_overwrite, safetensors_writer

        path = Path(path)
        check_overwrite([path], overwrite)
        info = {"space": self.space, "rows": list(self.rows), "model": self.model, "meta": self.meta}
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "regiongan_version": __version__,
            "directions": json.dumps(info, allow_nan=False),
        }
        tensors = {
            "vectors": self.vectors.detach().to(torch.float32).cpu().contiguous(),
            "eigenvalues": self.eigenvalues.detach().to(torch.float64).cpu().contiguous(),
            "region": self.region.detach().to(torch.float32).cpu().contiguous(),
        }
        atomic_write(path.parent, {path.name: safetensors_writer(tensors, metadata)})
        return path


def load_directions(path: str | Path) -> Directions:
    """Read a file written by :meth:`Directions.save`."""
    from ..checkpoints.files import check_version, read_safetensors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"directions file not found: '{path}'")
    tensors, metadata = read_safetensors(path, ValueError)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a regiongan directions file (format {metadata.get('format')!r}, expected {FORMAT!r})")
    check_version(metadata, path, FORMAT_VERSION, ValueError)
    missing = [k for k in ("vectors", "eigenvalues", "region") if k not in tensors]
    if missing or "directions" not in metadata:
        raise ValueError(f"{path}: incomplete directions file (missing {missing or ['metadata']})")
    info = json.loads(metadata["directions"])
    return Directions(
        vectors=tensors["vectors"], eigenvalues=tensors["eigenvalues"], space=info["space"], rows=tuple(info["rows"]),
        region=tensors["region"], model=info.get("model", {}), meta=info.get("meta", {}),
    )  # fmt: skip


def _check_int(value: Any, name: str, lo: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


def region_directions(
    G,
    region: RegionLike,
    samples: int = 8,
    space: Space = "w",
    layers: LayerSpec = None,
    k: int = 10,
    tau: float = 1e-3,
    solver: Solver = "cholesky",
    seed: int = 0,
    truncation_psi: float = 1.0,
    downsample: int | None = None,
    chunk: int = 32,
    mode: Literal["forward", "reverse"] = "forward",
    parser: Any = None,
    rank: int | None = None,
    max_jacobian_bytes: int = DEFAULT_MAX_JACOBIAN_BYTES,
    model_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Directions:
    """Find ``k`` local directions for ``region`` (ReSeFa, METHODS.md §3).

    Args:
        G: a generator (StyleGAN2).
        region: a :class:`Region` / mask ``[1|samples, 1, H, W]`` at the image size, a spec string
            (``"box:16,36,48,56"``; ``"part:mouth"`` runs the part parser on every sample and uses that
            sample's mask), or a function ``images [N, 3, H, W] -> masks [N, 1, H, W]``.
        samples: images whose Grams are averaged (z from seeds ``seed … seed + samples − 1``).
        space / layers: the latent space (module docstring).
        k: number of directions (≤ the latent size d).
        tau: α = τ · tr(B).
        solver: ``"cholesky"`` or ``"woodbury"`` (``rank`` truncates the latter).
        truncation_psi: the samples' truncation (and, in z, part of the function differentiated).
        downsample: area-average the image to this side before taking the Jacobian rows (None: full size).
        chunk: basis vectors per vmapped jvp (forward mode) or rows per backward (reverse mode).
        mode: ``"forward"`` (fast) or ``"reverse"`` (the official per-row approach; slow, for comparison).
        parser: for ``part:`` specs: a parser object or name (default ``"parser-faces-64"``).
        max_jacobian_bytes: memory bound for one sample's J (rows are split into blocks above it).
        model_name: stored in the fingerprint (the CLI passes ``--model``).
        progress: called as ``progress(done, total)`` after each sample.

    Returns:
        :class:`Directions`. Samples whose (per-sample) mask is empty or full are skipped with a warning;
        if every sample is, :class:`EmptyRegionError`. NaN/inf in the model output raise
        :class:`NonFiniteOutputError`.
    """
    rows = latent_rows(G, space, layers)  # first: an unknown / absent space is the clearest message
    _check_model(G)
    samples = _check_int(samples, "samples")
    seed = _check_int(seed, "seed", lo=0)
    chunk = _check_int(chunk, "chunk")
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")
    if mode not in ("forward", "reverse"):
        raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    psi = float(truncation_psi)
    if not math.isfinite(psi) or psi <= 0:
        raise ValueError(f"truncation_psi must be a finite number > 0, got {truncation_psi!r}")
    d = _latent_dim(G, space, rows)
    k = _check_k(k, d)
    _check_tau(tau)  # before the expensive part
    res = G.img_resolution
    if downsample is not None:
        _check_int(downsample, "downsample")
        if downsample > res:
            raise ValueError(f"downsample={downsample} is larger than the model's {res}x{res} images")
    fixed, source, spec = _resolve_region(region, (res, res), parser)
    if fixed is not None and fixed.shape[0] not in (1, samples):
        raise RegionError(f"the region has {fixed.shape[0]} masks; give 1 (shared) or samples={samples} (one per sample)")
    if fixed is not None and fixed.shape[0] == 1:
        _check_mask_sides(fixed if downsample is None else resize_mask(fixed, downsample, downsample), "the region")

    from ..images import z_from_seeds

    seeds = list(range(seed, seed + samples))
    z_all = z_from_seeds(seeds, G.z_dim).to(G.mapping.w_avg.device)
    with torch.no_grad():
        ws_all = G.map(z_all, None, psi)
        if source is not None:
            images = torch.cat([G.synthesize(G.styles(ws_all[i : i + 8]), noise_mode="const").image for i in range(0, samples, 8)])
            if not bool(torch.isfinite(images).all()):
                raise NonFiniteOutputError("the model's images contain NaN/inf; cannot compute part masks")
            masks = Region(source(images)).mask
            if masks.shape != (samples, 1, res, res):
                raise RegionError(f"the region function returned masks {tuple(masks.shape)}, expected {(samples, 1, res, res)}")
        else:
            masks = fixed.expand(samples, -1, -1, -1)

    acc = GramAccumulator(d, device=z_all.device)
    skipped: list[int] = []
    t0 = time.perf_counter()
    for i in range(samples):
        f, x0 = image_function(G, space, ws_all[i : i + 1], z_all[i : i + 1], rows, psi)
        columns = tangent_function(G, space, ws_all[i : i + 1], rows) if mode == "forward" else None
        m = masks[i]  # [1, H, W]
        if downsample is not None:
            f = area_downsample(f, downsample)
            columns = area_downsample(columns, downsample) if columns is not None else None
            m = resize_mask(m[None], downsample, downsample)[0]
        try:
            sample_grams(
                f, x0, m, acc, mode=mode, chunk=chunk, max_jacobian_bytes=max_jacobian_bytes,
                label=f"seed {seeds[i]}", columns=columns,
            )
        except EmptyRegionError as e:
            if fixed is not None and fixed.shape[0] == 1:
                raise
            skipped.append(seeds[i])
            warnings.warn(f"skipping seed {seeds[i]}: {e}", stacklevel=2)
        if progress is not None:
            progress(i + 1, samples)
    if not acc.samples:
        raise EmptyRegionError(
            f"the region is empty (or covers everything) in every one of the {samples} samples "
            f"(seeds {seeds[0]}…{seeds[-1]}); nothing to factorize"
        )
    t_jac = time.perf_counter() - t0
    grams = acc.result()
    t1 = time.perf_counter()
    sol = solve(grams.A, grams.B, k=k, tau=tau, solver=solver, rank=rank)
    t_solve = time.perf_counter() - t1

    points = G.control_points()
    meta = {
        "samples": acc.samples, "seeds": seeds, "skipped_seeds": skipped, "tau": float(tau), "alpha": sol.alpha,
        "solver": solver, "rank": rank, "mode": mode, "chunk": chunk, "downsample": downsample,
        "truncation_psi": psi, "region_spec": spec, "fg_fraction": grams.fg_fraction,
        "layers": [p.name for p in points if p.w_index in set(rows)] if space != "z" else None,
        "jacobian_seconds_per_sample": t_jac / samples, "solve_seconds": t_solve,
    }  # fmt: skip
    model = {
        "name": model_name, "digest": model_digest(G), "model_type": getattr(G, "model_type", type(G).__name__),
        "config": getattr(G, "config", None), "z_dim": G.z_dim, "w_dim": G.w_dim, "num_ws": G.num_ws,
        "img_resolution": res,
    }  # fmt: skip
    region_t = masks[:1] if (fixed is not None and fixed.shape[0] == 1) else masks
    return Directions(
        vectors=sol.vectors.to(torch.float32), eigenvalues=sol.eigenvalues, space=space, rows=rows,
        region=region_t.detach().cpu().clone(), model=model, meta=meta,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Editing


def _strengths(strengths: Sequence[float] | float) -> list[float]:
    values = [strengths] if isinstance(strengths, (int, float)) else list(strengths)
    if not values:
        raise ValueError("strengths must contain at least one number, e.g. [-3, 0, 3]")
    out = []
    for s in values:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(float(s)):
            raise ValueError(f"strengths must be finite numbers, got {s!r}")
        out.append(float(s))
    return out


def apply_direction(
    G,
    code: torch.Tensor,
    direction: torch.Tensor,
    space: Space,
    rows: Sequence[int],
    strengths: Sequence[float] | float,
    truncation_psi: float = 1.0,
    batch: int = 16,
) -> torch.Tensor:
    """Images ``[N, S, 3, H, W]`` of ``code`` moved by ``t · direction`` for each of the S strengths.

    code: ``z [N, z_dim]`` (mapped with ``truncation_psi``) or ``ws [N, num_ws, w_dim]`` (used as is);
    direction: ``[d]`` in ``space``; rows: the W+ rows it moves (``w``: the same ``[w_dim]`` offset on each,
    ``w+``: ``[len(rows) · w_dim]`` split over them; ignored for ``z``, which needs a z code).
    """
    strengths = _strengths(strengths)
    if space not in _SPACES:
        raise ValueError(f"unknown latent space {space!r}; use one of {_SPACES}")
    if not isinstance(code, torch.Tensor) or code.ndim not in (2, 3):
        raise ValueError(f"code must be z [N, {G.z_dim}] or ws [N, {G.num_ws}, {G.w_dim}], got {getattr(code, 'shape', code)!r}")
    if not bool(torch.isfinite(code).all()):
        raise ValueError("code contains NaN or inf values")
    direction = direction.reshape(-1).to(torch.float32)
    rows = [int(r) for r in rows]
    d = _latent_dim(G, space, rows)
    if space != "z" and (not rows or min(rows) < 0 or max(rows) >= G.num_ws):
        raise ValueError(f"rows must be W+ row indices in 0..{G.num_ws - 1}, got {rows}")
    if direction.shape[0] != d:
        raise ValueError(
            f"the direction has {direction.shape[0]} entries but space {space!r} of this model "
            f"({len(rows)} rows) has d={d}: was it computed for another model or other layers?"
        )
    device = G.mapping.w_avg.device
    code = code.to(device=device, dtype=torch.float32)
    direction = direction.to(device)
    t = torch.tensor(strengths, dtype=torch.float32, device=device)
    n_codes, n_str = code.shape[0], t.shape[0]
    with torch.no_grad():
        if space == "z":
            if code.ndim != 2 or code.shape[1] != G.z_dim:
                raise ValueError(f"a z direction edits z codes [N, {G.z_dim}], got {tuple(code.shape)}")
            z = (code[:, None] + t[None, :, None] * direction).reshape(-1, G.z_dim)
            ws = G.map(z, None, truncation_psi)
        else:
            if code.ndim == 2:
                if code.shape[1] != G.z_dim:
                    raise ValueError(f"a z code must be [N, {G.z_dim}], got {tuple(code.shape)}")
                base = G.map(code, None, truncation_psi)
            else:
                if tuple(code.shape[1:]) != (G.num_ws, G.w_dim):
                    raise ValueError(f"ws must be [N, {G.num_ws}, {G.w_dim}], got {tuple(code.shape)}")
                base = code
            offset = torch.zeros(G.num_ws, G.w_dim, device=device)
            offset[rows] = direction.reshape(len(rows), G.w_dim) if space == "w+" else direction
            ws = (base[:, None] + t[None, :, None, None] * offset).reshape(-1, G.num_ws, G.w_dim)
        images = torch.cat([
            G.synthesize(G.styles(ws[i : i + batch]), noise_mode="const").image for i in range(0, ws.shape[0], batch)
        ])  # fmt: skip
    return images.reshape(n_codes, n_str, *images.shape[1:])


def edit(
    G,
    code: torch.Tensor,
    directions: Directions,
    index: int = 0,
    strengths: Sequence[float] | float = (-3.0, -1.5, 0.0, 1.5, 3.0),
    truncation_psi: float | None = None,
    layers: LayerSpec = None,
) -> torch.Tensor:
    """Apply direction ``index`` of ``directions`` to ``code`` at each strength -> images ``[N, S, 3, H, W]``.

    ``z' = z + t·n`` (z space) or ``w'_l = w_l + t·n`` on the directions' W+ rows (w / w+). code: z
    ``[N, z_dim]`` or ws ``[N, num_ws, w_dim]``; truncation_psi: for z codes (default: the value the
    directions were computed with); layers: for W-space directions only, apply them to other layers than
    they were computed for (the official ReSeFa scripts compute in W and edit chosen layers).
    """
    if not isinstance(directions, Directions):
        raise TypeError(f"directions must be a Directions (see load_directions), got {type(directions).__name__}")
    check_model_matches(G, directions)
    rows = directions.rows
    if layers is not None:
        if directions.space != "w":
            raise ValueError(f"layers= re-targets W-space directions only; these are in {directions.space!r}")
        rows = latent_rows(G, "w", layers)
    psi = directions.meta.get("truncation_psi", 1.0) if truncation_psi is None else truncation_psi
    return apply_direction(G, code, directions.vector(index), directions.space, rows, strengths, psi)


def check_model_matches(G, directions: Directions) -> None:
    """Raise a ValueError when ``G``'s latent sizes or resolution differ from the model the directions
    were computed for (the weights may differ: directions transfer between fine-tunes)."""
    m = directions.model
    for key in ("z_dim", "w_dim", "num_ws", "img_resolution"):
        if key in m and m[key] is not None and getattr(G, key, None) != m[key]:
            raise ValueError(
                f"these directions were computed for a model with {key}={m[key]}, this model has "
                f"{key}={getattr(G, key, None)} (model {m.get('name')!r}); load the model they were made for"
            )


# --------------------------------------------------------------------------------------------------
# Recipe method (regiongan.recipes): replays an edit from the stored direction vector.


def _recipe_params() -> list[str]:
    return [p for p in inspect.signature(apply_direction).parameters if p not in ("G", "batch")]


@register_method("resefa.edit", required=("code", "direction", "space", "rows", "strengths"), allowed=_recipe_params())
def _recipe_edit(G, params: dict) -> torch.Tensor:
    """ReSeFa edit: codes moved along one direction -> [N · S, 3, H, W] (sample-major: all strengths of a code)."""
    params["code"] = resolve_code(G, params["code"])
    images = apply_direction(G, **params)
    return images.reshape(-1, *images.shape[2:])


def directions_summary(directions: Directions) -> Mapping[str, Any]:
    """A short JSON-able description (for the CLI)."""
    return {
        "k": directions.k, "dim": directions.dim, "space": directions.space, "rows": list(directions.rows),
        "eigenvalues": [round(float(v), 6) for v in directions.eigenvalues], "model": directions.model.get("name"),
        **{key: directions.meta.get(key) for key in ("samples", "solver", "tau", "region_spec", "jacobian_seconds_per_sample")},
    }  # fmt: skip
