"""The factorization pipeline: samples -> Jacobians -> region Grams -> eigenproblem -> :class:`Directions`.

For each of ``samples`` images (z from seeds ``seed, seed + 1, …``), the generator's Jacobian
``J = ∂image/∂x`` in the chosen latent space is taken by forward mode (:mod:`regiongan.jacobian`; the
family's own tangent pass when it has one) and reduced on the fly to the two region Grams ``A`` (inside)
and ``B`` (outside), which are averaged over the samples; :mod:`.solvers` then finds the directions.
Regions take the same forms as in every method (:mod:`regiongan.methods.inputs`); a ``part:`` region is
found on each sample's own image, so a mouth region follows the mouth.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import Any, Callable, Union

import torch

from ...hardware import resolve_precision
from ...identity import model_record
from ...jacobian import (
    DEFAULT_MAX_JACOBIAN_BYTES,
    EmptyRegionError,
    GramAccumulator,
    JacobianMode,
    NonFiniteOutputError,
    area_downsample,
    sample_grams,
)
from ...latents import check_latent_model, check_truncation_psi, class_vector, codes_to_ws, z_from_seeds
from ...layer_selection import LayerSpec
from ...limits import check_count
from ...ops.masks import resize_mask
from ...regions import Region, RegionError
from ...validate import MAX_SEED, integer
from ...validate import seed as check_seed
from ..inputs import RegionLike, RegionSource, needs_images, region_source, resolve_region
from ..sampling import render
from .directions import Directions
from .solvers import DEFAULT_SOLVER, DEFAULT_TAU, SOLVERS, Solver, check_k, check_tau, solve
from .spaces import (
    DEFAULT_SPACE,
    check_model,
    image_function,
    latent_dim,
    latent_rows,
    moved_layers,
    tangent_function,
    warn_spill,
)

__all__ = [
    "find_directions",
    "DEFAULT_SAMPLES",
    "DEFAULT_K",
    "DEFAULT_CHUNK",
    "DEFAULT_MAX_JACOBIAN_BYTES",
    "Progress",
]

#: Images the region Grams are averaged over.
DEFAULT_SAMPLES = 8
#: Directions returned.
DEFAULT_K = 10
#: Latent basis vectors per batched tangent pass (16–32 is the sweet spot on CPU; docs/resefa.md).
DEFAULT_CHUNK = 32
#: ``progress(done, total)`` after each sample.
Progress = Callable[[int, int], None]
#: A region in any form of :data:`regiongan.methods.inputs.RegionLike`, or images -> masks.
FactorRegion = Union[RegionLike, RegionSource]


def _check_mask_sides(mask: torch.Tensor, what: str) -> None:
    if float(mask.sum()) <= 1e-6:
        raise EmptyRegionError(
            f"{what} has no pixel inside: the foreground Gram A would be empty. Give a region with at least one "
            "pixel (check the coordinates, or that the part is visible)"
        )
    if float((1 - mask).sum()) <= 1e-6:
        raise EmptyRegionError(
            f"{what} covers the whole image: the background Gram B would be empty and nothing is kept fixed. "
            "Give a region smaller than the image"
        )


def _region_masks(
    G, region: FactorRegion, parser: Any, samples: int
) -> tuple[torch.Tensor | None, RegionSource | None, str | None]:
    """-> (fixed masks ``[1|samples, 1, R, R]`` or None, a per-image source or None, the spec string or None)."""
    if isinstance(region, dict) and set(region) == {"spec"}:
        region = region["spec"]  # the recipe form of regiongan 0.1
    spec = region if isinstance(region, str) else None
    if spec is not None and needs_images(spec):
        return None, region_source(G, spec, parser), spec
    if callable(region) and not isinstance(region, (str, Region, torch.Tensor)):
        return None, region, None
    fixed, _ = resolve_region(G, region, None, parser)
    if fixed.batch not in (1, samples):
        raise RegionError(f"the region has {fixed.batch} masks; give 1 (shared) or samples={samples} (one per sample)")
    return fixed.mask, None, spec


def _class_record(c: int | torch.Tensor | None) -> int | None:
    """The samples' class as the directions' meta keeps it: the index, or None (no class, or class vectors)."""
    return int(c) if isinstance(c, numbers.Integral) and not isinstance(c, bool) else None


def find_directions(
    G,
    region: FactorRegion,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    space: str = DEFAULT_SPACE,
    layers: LayerSpec = None,
    k: int = DEFAULT_K,
    tau: float = DEFAULT_TAU,
    solver: Solver = DEFAULT_SOLVER,
    truncation_psi: float = 1.0,
    c: int | torch.Tensor | None = None,
    downsample: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    mode: JacobianMode = "forward",
    parser: Any = None,
    rank: int | None = None,
    max_jacobian_bytes: int = DEFAULT_MAX_JACOBIAN_BYTES,
    progress: Progress | None = None,
    precision: str = "fp32",
) -> Directions:
    """Find ``k`` directions that change ``region`` and leave the rest of the image alone (ReSeFa).

    Args:
        G: a generator (:class:`~regiongan.generators.base.Generator`).
        region: a :class:`~regiongan.regions.Region` / mask ``[1|samples, 1, H, W]`` at the image size, a
            spec string (``"box:16,36,48,56"``; ``"part:mouth"`` runs the part parser — ``parser``, else the
            model's companion parser — on every sample and uses that sample's mask), or a function
            ``images [N, 3, H, W] -> masks [N, 1, H, W]``.
        samples: images whose Grams are averaged; seed: the first one's seed (seeds ``seed … seed +
            samples − 1``).
        space: ``"w"`` (default, as in the paper), ``"w+"``, ``"z"``, or a space the model's family declares
            (``"class"``: BigGAN's class embedding; :func:`~.spaces.model_spaces` lists a model's spaces, and an
            unavailable one is a one-line error naming them); layers: which W+ rows move, w / w+ only
            (:mod:`regiongan.layer_selection`; a :class:`LayerSpillWarning` names control points that share
            those rows).
        k: number of directions (≤ the latent size d); tau: α = τ · tr(B).
        solver: ``"cholesky"`` or ``"woodbury"`` (``rank`` truncates the latter).
        truncation_psi: the samples' truncation, ``w̄ + ψ (w − w̄)`` (in z also part of the function
            differentiated).
        c: the samples' class for a conditional model (an index or ``[samples|1, c_dim]``).
        downsample: area-average the image to this side before taking Jacobian rows (None: full size).
        chunk: basis vectors per tangent batch (forward mode) or rows per backward (reverse mode).
        mode: ``"forward"`` (fast) or ``"reverse"`` (the official per-row approach; slow, for comparison).
        max_jacobian_bytes: memory bound for one sample's J (rows are split into blocks above it).
        progress: called as ``progress(done, total)`` after each sample.
        precision: the tangents' precision in the family's own tangent pass (StyleGAN2, W / W+ / family
            spaces): ``"fp32"``, ``"bf16"`` (about 2x faster with native bf16; top directions within
            |cos| >= 0.99 of fp32's, docs/resefa.md) or ``"auto"`` (bf16 where the CPU has it). Grams and the
            solve are float64 either way; the generic ``vmap(jvp)`` and reverse mode always run in float32.

    Returns:
        :class:`Directions` (``vectors [k, d]``, ``eigenvalues [k]``). Samples whose own mask is empty or
        full are skipped with a warning; if every sample is, :class:`EmptyRegionError`. NaN/inf in the
        model's output raise :class:`NonFiniteOutputError`.
    """
    check_latent_model(G, "find_directions")  # a label-map model: say so before anything about spaces
    rows = latent_rows(G, space, layers)  # then an unknown / absent space is the clearest message
    check_model(G)
    samples = check_count(samples, "samples", "samples")
    seed = check_seed(seed)
    if seed + samples - 1 > MAX_SEED:
        raise ValueError(f"the samples' seeds {seed}..{seed + samples - 1} pass {MAX_SEED}; use seed <= {MAX_SEED - samples + 1}")
    chunk = integer(chunk, "chunk", 1)
    max_jacobian_bytes = integer(max_jacobian_bytes, "max_jacobian_bytes", 1)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if mode not in ("forward", "reverse"):
        raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    psi = check_truncation_psi(truncation_psi)
    precision = resolve_precision(precision, G.device)
    d = latent_dim(G, space, rows)
    k = check_k(k, d)
    check_tau(tau)  # before the expensive part
    res = G.img_resolution
    if downsample is not None:
        downsample = integer(downsample, "downsample", 1)
        if downsample > res:
            raise ValueError(f"downsample={downsample} is larger than the model's {res}x{res} images")
    if space in ("w", "w+") and layers is not None:
        warn_spill(G, layers)
    fixed, source, spec = _region_masks(G, region, parser, samples)
    shared = fixed is not None and fixed.shape[0] == 1
    if shared:
        _check_mask_sides(fixed if downsample is None else resize_mask(fixed, downsample, downsample), "the region")

    seeds = list(range(seed, seed + samples))
    z_all = z_from_seeds(seeds, G.z_dim).to(G.device)
    with torch.no_grad():
        c_all = class_vector(G, c, samples)
        ws_all = codes_to_ws(G, z_all, "z", c_all, psi)
        if source is not None:
            images = render(G, ws_all)
            if not bool(torch.isfinite(images).all()):
                raise NonFiniteOutputError("the model's images contain NaN/inf; cannot compute part masks")
            masks = Region(source(images)).mask
            if masks.shape != (samples, 1, res, res):
                raise RegionError(f"the region function returned masks {tuple(masks.shape)}, expected {(samples, 1, res, res)}")
        else:
            masks = fixed.expand(samples, -1, -1, -1)
    masks = masks.to(G.device)

    acc = GramAccumulator(d, device=G.device)
    skipped: list[int] = []
    t0 = time.perf_counter()
    for i in range(samples):
        f, x0 = image_function(G, space, ws_all[i : i + 1], z_all[i : i + 1], rows, psi, None if c_all is None else c_all[i : i + 1])
        columns = tangent_function(G, space, ws_all[i : i + 1], rows, precision) if mode == "forward" else None
        m = masks[i]  # [1, H, W]
        if downsample is not None:
            f = area_downsample(f, downsample)
            columns = area_downsample(columns, downsample) if columns is not None else None
            m = resize_mask(m[None], downsample, downsample)[0]
        try:
            sample_grams(
                f, x0, m, acc, mode=mode, chunk=chunk, max_jacobian_bytes=max_jacobian_bytes,
                label=f"seed {seeds[i]}", columns=columns,
            )  # fmt: skip
        except EmptyRegionError as e:
            if shared:
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

    meta = {
        "samples": acc.samples, "seeds": seeds, "skipped_seeds": skipped, "tau": float(tau), "alpha": sol.alpha,
        "solver": solver, "rank": rank, "mode": mode, "chunk": chunk, "downsample": downsample,
        "truncation_psi": psi, "class": _class_record(c), "region_spec": spec, "fg_fraction": grams.fg_fraction,
        "layers": moved_layers(G, space, rows), "jacobian_seconds_per_sample": t_jac / samples,
        "solve_seconds": t_solve, "precision": precision if columns is not None else "fp32",
    }  # fmt: skip
    return Directions(
        vectors=sol.vectors.to(torch.float32).cpu(), eigenvalues=sol.eigenvalues.cpu(), space=space, rows=rows,
        region=(masks[:1] if shared else masks).detach().cpu().clone(), model=model_record(G), meta=meta,
    )  # fmt: skip
