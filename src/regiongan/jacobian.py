"""Jacobians of a differentiable image function and the region Gram matrices ReSeFa needs (docs/resefa.md).

Everything here is model-agnostic: ``f`` is any differentiable function ``latent [d] -> image`` (any
output shape; it is flattened to ``P`` rows, e.g. ``[C, H, W] -> [C·H·W]``). The generator-specific part —
which latent, which layers — lives in :mod:`regiongan.methods.resefa.spaces`.

Two ways to get ``J = ∂f/∂x`` ``[P, d]``:

* :func:`forward_jacobian` — forward mode: ``torch.func.jvp`` vmapped over chunks of the latent basis, one
  Jacobian *column* per basis vector, so ``d`` tangent passes. Under ``vmap`` the primal is not batched: it
  is computed once and only the tangents carry the chunk dimension. This is the fast path when ``d ≪ P``
  (ReSeFa in W: d = 256 against P = 3·64² = 12,288).
* :func:`reverse_jacobian` — reverse mode, one ``autograd.grad`` per output row: what
  ``torch.autograd.functional.jacobian`` does and what the official ReSeFa code runs (P backward passes).
  Kept as the reference and the speed baseline; ``rows=`` computes a subset, for timing.

ReSeFa never needs ``J`` itself, only two ``[d, d]`` Grams per sample, rows weighted by a soft region mask
``m`` (1 inside the region, 0 outside):

    A = Jᵀ diag(m) J / Σ m                (foreground: how much the region changes)
    B = Jᵀ diag(1 − m) J / Σ (1 − m)      (background: how much the rest changes)

For a hard mask this is exactly the row split ``A = J_fᵀ J_f``, ``B = J_bᵀ J_b`` of the paper (Eq. 8). The
division by the (weighted) row counts is what the official code does; for one sample or one shared mask it
does not change the directions (α = τ·tr(B) scales with B) but makes the eigenvalue λ read as "mean
squared change per pixel inside / outside", comparable across regions and resolutions; with per-sample
masks it also weights every sample equally. :class:`GramAccumulator` adds rows block by block,
so ``J`` is never held whole when it would be large, and averages the per-sample Grams over samples.

Images can be area-downsampled before flattening (:func:`area_downsample`): fewer rows, cheaper Grams and
a smaller reverse-mode baseline; forward mode costs the same (its cost is ``d`` tangent passes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch.func import jvp, vmap

__all__ = [
    "ImageFn",
    "TangentFn",
    "JacobianMode",
    "forward_jacobian",
    "tangent_jacobian",
    "reverse_jacobian",
    "jacobian",
    "area_downsample",
    "GramAccumulator",
    "RegionGrams",
    "sample_grams",
    "NonFiniteOutputError",
    "EmptyRegionError",
]

#: ``f(x)``: latent ``[d]`` -> image of any shape (flattened to ``[P]`` rows).
ImageFn = Callable[[torch.Tensor], torch.Tensor]
#: ``columns(V)``: the derivatives of ``f`` at a fixed point along the rows of ``V [c, d]`` -> ``[c, *S]``
#: (``J Vᵀ``, transposed): a batch of forward-mode tangents. A model family can supply its own, faster than
#: functorch (:func:`regiongan.generators.base.tangent_pass`); :func:`forward_jacobian` builds one with
#: ``vmap(jvp)``.
TangentFn = Callable[[torch.Tensor], torch.Tensor]
JacobianMode = Literal["forward", "reverse"]

#: Above this many bytes for one sample's ``J``, :func:`sample_grams` splits the rows into blocks (forward
#: mode then recomputes the tangents once per block: memory traded for time).
DEFAULT_MAX_JACOBIAN_BYTES = 1 << 30


class NonFiniteOutputError(ValueError):
    """The model produced NaN / inf (in the image or its derivatives)."""


class EmptyRegionError(ValueError):
    """A region mask with no pixel inside (A is empty) or none outside (B is empty)."""


# --------------------------------------------------------------------------------------------------
# Jacobians


def _check_latent(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 1 or x.numel() == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"the latent must be one vector [d], got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"the latent must be floating point, got {x.dtype}")
    return x


def _check_finite(t: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise NonFiniteOutputError(
            f"{what} contains {n_bad} NaN/inf values out of {t.numel()}: the model's output is not finite at "
            "this latent (check the checkpoint, the truncation and the latent itself)"
        )


def tangent_jacobian(
    columns: TangentFn, d: int, chunk: int = 32, rows: slice | torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``J [P, d]`` (or ``J[rows]``) from a tangent function: ``columns`` gets the latent basis ``chunk``
    vectors at a time. Returns a transposed view of a contiguous ``[d, P]`` buffer (matmuls read it
    without a copy)."""
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int (basis vectors per tangent batch), got {chunk!r}")
    basis = torch.eye(d, dtype=dtype, device=device)
    cols = []
    with torch.no_grad():  # forward-mode derivatives do not need the autograd graph
        for i in range(0, d, chunk):
            c = columns(basis[i : i + chunk]).reshape(min(chunk, d - i), -1)
            cols.append(c if rows is None else c[:, rows])
    jt = torch.cat(cols) if len(cols) > 1 else cols[0]  # [d, P]
    return jt.t()


def forward_jacobian(
    f: ImageFn, x: torch.Tensor, chunk: int = 32, rows: slice | torch.Tensor | None = None
) -> torch.Tensor:
    """Forward-mode Jacobian ``J [P, d]`` (or ``J[rows]``) of ``f`` at ``x [d]``, by ``vmap(jvp)``.

    ``chunk`` basis vectors go through one vmapped ``jvp`` (memory ~ ``chunk`` activations of the model;
    16–32 is the sweet spot on CPU).
    """
    x = _check_latent(x)
    columns = vmap(lambda v: jvp(f, (x,), (v,))[1])
    return tangent_jacobian(columns, x.shape[0], chunk, rows, x.dtype, x.device)


def reverse_jacobian(
    f: ImageFn, x: torch.Tensor, rows: slice | torch.Tensor | None = None, chunk: int = 1
) -> torch.Tensor:
    """Reverse-mode Jacobian ``J [P, d]`` (or ``J[rows]``) of ``f`` at ``x [d]``: one backward per output row.

    With ``chunk=1`` this is exactly ``torch.autograd.functional.jacobian(f, x)`` (a Python loop of
    ``autograd.grad`` over the flattened outputs, graph retained) — the official ReSeFa approach. ``chunk > 1``
    vmaps the backward over that many rows (``vectorize=True`` style), a stronger baseline.
    """
    x = _check_latent(x)
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int (rows per backward), got {chunk!r}")
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        y = f(xg).reshape(-1)
        index = torch.arange(y.shape[0], device=y.device)
        index = index if rows is None else index[rows]
        out = torch.empty(index.shape[0], x.shape[0], dtype=x.dtype, device=x.device)
        if chunk == 1:
            for j, r in enumerate(index.tolist()):
                (out[j],) = torch.autograd.grad(y[r], xg, retain_graph=True)
        else:
            for s in range(0, index.shape[0], chunk):
                idx = index[s : s + chunk]
                seeds = torch.zeros(idx.shape[0], y.shape[0], dtype=y.dtype, device=y.device)
                seeds[torch.arange(idx.shape[0]), idx] = 1.0
                (out[s : s + chunk],) = torch.autograd.grad(y, xg, seeds, retain_graph=True, is_grads_batched=True)
    return out


def jacobian(
    f: ImageFn, x: torch.Tensor, mode: JacobianMode = "forward", chunk: int | None = None,
    rows: slice | torch.Tensor | None = None,
) -> torch.Tensor:
    """``J [P, d]`` by ``mode`` (``"forward"``: :func:`forward_jacobian`, ``"reverse"``: :func:`reverse_jacobian`)."""
    if mode == "forward":
        return forward_jacobian(f, x, chunk=chunk or 32, rows=rows)
    if mode == "reverse":
        return reverse_jacobian(f, x, rows=rows, chunk=chunk or 1)
    raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")


def area_downsample(f: ImageFn, size: int | None) -> ImageFn:
    """Wrap ``f`` (image ``[C, H, W]`` or ``[1, C, H, W]``) to return it area-averaged to ``size × size``.

    ``None`` (or the image's own size) returns ``f`` unchanged.
    """
    if size is None:
        return f
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"downsample must be a positive int (output side in pixels) or None, got {size!r}")

    def g(x: torch.Tensor) -> torch.Tensor:
        img = f(x)
        if img.ndim not in (3, 4):
            raise ValueError(f"area_downsample needs images [C, H, W] or [1, C, H, W], got {tuple(img.shape)}")
        if img.shape[-1] == size and img.shape[-2] == size:
            return img
        if size > img.shape[-1] or size > img.shape[-2]:
            raise ValueError(f"downsample={size} is larger than the image ({img.shape[-2]}x{img.shape[-1]})")
        batched = img if img.ndim == 4 else img[None]
        out = F.adaptive_avg_pool2d(batched, (size, size))
        return out if img.ndim == 4 else out[0]

    return g


# --------------------------------------------------------------------------------------------------
# Gram matrices


@dataclass
class RegionGrams:
    """Mean region Grams over samples. A, B: ``[d, d]`` float64 (see the module docstring); samples:
    how many samples were averaged; fg_fraction: mean fraction of rows inside the region (Σm / P)."""

    A: torch.Tensor
    B: torch.Tensor
    samples: int
    fg_fraction: float


class GramAccumulator:
    """Running mean over samples of ``A = Jᵀ diag(m) J / Σm`` and ``B = Jᵀ diag(1−m) J / Σ(1−m)``.

    Per sample: :meth:`add` row blocks ``J_rows [r, d]`` with their mask values ``m [r]`` (any number of
    blocks, any order), then :meth:`finish_sample`. Products are fp32 matmuls (the Jacobian's precision),
    sums are kept in float64.
    """

    def __init__(self, dim: int, device: torch.device | str = "cpu") -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        self.dim = dim
        self.device = torch.device(device)
        self._A = torch.zeros(dim, dim, dtype=torch.float64, device=self.device)
        self._B = torch.zeros_like(self._A)
        self._a = torch.zeros_like(self._A)  # current sample, unnormalised
        self._b = torch.zeros_like(self._A)
        self._wf = self._wb = 0.0
        self._rows = 0
        self.samples = 0
        self._fg_fraction_sum = 0.0

    def add(self, J_rows: torch.Tensor, m: torch.Tensor) -> None:
        """Add rows ``J_rows [r, d]`` weighted by ``m [r]`` in [0, 1] to the current sample."""
        if J_rows.ndim != 2 or J_rows.shape[1] != self.dim:
            raise ValueError(f"J_rows must be [r, {self.dim}], got {tuple(J_rows.shape)}")
        m = m.reshape(-1).to(J_rows)
        if m.shape[0] != J_rows.shape[0]:
            raise ValueError(f"mask has {m.shape[0]} rows but J_rows has {J_rows.shape[0]}")
        _check_finite(J_rows, "the Jacobian")
        # Rows with m = 0 contribute nothing to A, rows with m = 1 nothing to B: skip them (a hard mask
        # then costs one P·d² product in total instead of two).
        fg, bg = m > 0, m < 1
        if bool(fg.any()):
            Jf = J_rows[fg]
            self._a += ((Jf * m[fg, None]).t() @ Jf).double()
        if bool(bg.any()):
            Jb = J_rows[bg]
            self._b += ((Jb * (1 - m[bg])[:, None]).t() @ Jb).double()
        self._wf += float(m.double().sum())
        self._wb += float((1 - m.double()).sum())
        self._rows += m.shape[0]

    def finish_sample(self, label: str = "") -> None:
        """Normalise the current sample's Grams and add them to the mean. Raises :class:`EmptyRegionError`
        when the sample's mask has no pixel inside or none outside."""
        where = f" ({label})" if label else ""
        if self._rows == 0:
            raise ValueError(f"finish_sample{where}: no rows were added for this sample")
        # A mask needs a tiny but real amount of both sides; 1e-6 of a row is rounding noise.
        if self._wf <= 1e-6:
            self._reset_sample()
            raise EmptyRegionError(
                f"the region covers no pixel of the image{where}: the foreground Gram A is empty. Give a region "
                "with at least one pixel inside (check the box coordinates, or that the part is visible)"
            )
        if self._wb <= 1e-6:
            self._reset_sample()
            raise EmptyRegionError(
                f"the region covers the whole image{where}: the background Gram B is empty, so there is nothing "
                "to keep unchanged and 'local' means nothing. Give a region smaller than the image"
            )
        self._A += self._a / self._wf
        self._B += self._b / self._wb
        self._fg_fraction_sum += self._wf / self._rows
        self.samples += 1
        self._reset_sample()

    def _reset_sample(self) -> None:
        self._a.zero_()
        self._b.zero_()
        self._wf = self._wb = 0.0
        self._rows = 0

    def result(self) -> RegionGrams:
        """The mean Grams over the finished samples."""
        if self.samples == 0:
            raise EmptyRegionError("no sample was accumulated (every sample's region was empty or full)")
        n = self.samples
        # Symmetrise: the two triangles of an fp32 matmul can differ in the last bits.
        A, B = self._A / n, self._B / n
        return RegionGrams(A=(A + A.t()) / 2, B=(B + B.t()) / 2, samples=n, fg_fraction=self._fg_fraction_sum / n)


def _row_blocks(n_rows: int, d: int, max_bytes: int) -> Iterator[slice]:
    per_block = max(1, max_bytes // max(1, 4 * d))
    for s in range(0, n_rows, per_block):
        yield slice(s, min(n_rows, s + per_block))


def sample_grams(
    f: ImageFn,
    x: torch.Tensor,
    mask: torch.Tensor,
    acc: GramAccumulator | None = None,
    mode: JacobianMode = "forward",
    chunk: int | None = None,
    max_jacobian_bytes: int = DEFAULT_MAX_JACOBIAN_BYTES,
    label: str = "",
    columns: TangentFn | None = None,
) -> GramAccumulator:
    """Add one sample's region Grams to ``acc`` (a new accumulator when None) and return it.

    Args:
        f: latent ``[d]`` -> image (any shape ``S``).
        x: the sample's latent ``[d]``.
        mask: soft mask in [0, 1] broadcastable to ``S`` (e.g. ``[1, H, W]`` for ``S = [C, H, W]``).
        mode / chunk: see :func:`jacobian`.
        max_jacobian_bytes: when ``P·d·4`` exceeds it, rows are processed in blocks that fit (forward mode
            recomputes the tangents per block; reverse mode is row-wise anyway).
        label: names the sample in error messages.
        columns: the model's own tangent function at ``x`` (:data:`TangentFn`); used instead of
            ``vmap(jvp(f))`` in forward mode.
    """
    x = _check_latent(x)
    with torch.no_grad():
        image = f(x)
    _check_finite(image, f"the image{f' ({label})' if label else ''}")
    try:
        m = torch.broadcast_to(mask.to(image), image.shape).reshape(-1)
    except RuntimeError:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the image shape {tuple(image.shape)}"
        ) from None
    if acc is None:
        acc = GramAccumulator(x.shape[0], device=x.device)
    n_rows, d = m.shape[0], x.shape[0]
    blocks = [slice(0, n_rows)] if n_rows * d * 4 <= max_jacobian_bytes else list(_row_blocks(n_rows, d, max_jacobian_bytes))
    for rows in blocks:
        block = None if len(blocks) == 1 else rows
        if columns is not None and mode == "forward":
            J = tangent_jacobian(columns, d, chunk or 32, block, x.dtype, x.device)
        else:
            J = jacobian(f, x, mode=mode, chunk=chunk, rows=block)
        acc.add(J, m[rows])
        del J
    acc.finish_sample(label)
    return acc
