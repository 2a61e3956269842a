"""Where ReSeFa's directions live: the latent spaces, the W+ rows a direction moves, the image as a
function of one sample's latent (what the Jacobian differentiates) and how an edit moves codes.

Spaces (``space=``, the same words as every method; :mod:`regiongan.latents`):

* ``"w"`` (ReSeFa's default, as in the paper, which factorizes in W): one offset ``[w_dim]`` added to each
  W+ row selected by ``layers`` (all rows by default). The Jacobian w.r.t. ``w`` is the sum over those rows
  of the W+ Jacobians — one tangent through all of them.
* ``"w+"``: the selected W+ rows, concatenated: ``d = len(rows) · w_dim``.
* ``"z"``: the input of the mapping (``d = z_dim``, truncation included); every layer moves.

Rows are shared: a W+ row feeds every control point with that ``w_index`` (in StyleGAN2 ``b{r}.torgb``
shares its row with ``b{2r}.conv0``), so a ``layers`` selection that takes one of them moves the other
too. :func:`warn_spill` says so with a :class:`LayerSpillWarning`.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch

from ...generators.base import tangent_pass
from ...jacobian import ImageFn, TangentFn
from ...latents import SPACES, Space
from ...layer_selection import LayerSpec, layer_rows, select_layers, spilled_layers
from ...validate import strengths as check_strengths  # the one rule for strengths (API, recipes, --strengths)

__all__ = [
    "DEFAULT_SPACE",
    "LayerSpillWarning",
    "check_model",
    "check_space",
    "latent_rows",
    "latent_dim",
    "moved_layers",
    "warn_spill",
    "image_function",
    "tangent_function",
    "check_strengths",
    "direction_offset",
    "edited_ws",
]

#: ReSeFa's paper factorizes in W (one offset for all the rows it moves), so that is the default here;
#: the other methods' codes default to z (seeds).
DEFAULT_SPACE: Space = "w"


class LayerSpillWarning(UserWarning):
    """A ``layers`` selection in W / W+ also moves control points outside it (they share a W+ row)."""


def check_model(G) -> None:
    """Raise a ValueError for models ReSeFa cannot sample: without a z input."""
    if getattr(G, "z_dim", 0) <= 0:
        raise ValueError(
            f"this model has no z input (z_dim={getattr(G, 'z_dim', None)}), so samples cannot be drawn from seeds"
        )


def check_space(G, space: str) -> Space:
    """``space`` if it is a latent space this model has, else a ValueError naming them."""
    if space not in SPACES:
        raise ValueError(
            f"unknown latent space {space!r}; this model's latent spaces are 'w' (w_dim={G.w_dim}), "
            f"'w+' ({G.num_ws} x {G.w_dim}) and 'z' (z_dim={G.z_dim})"
        )
    if space == "z" and getattr(G, "z_dim", 0) <= 0:
        raise ValueError(f"this model has no z latent space (z_dim={getattr(G, 'z_dim', None)}); use space='w'")
    if space != "z" and (getattr(G, "w_dim", 0) <= 0 or getattr(G, "num_ws", 0) <= 0):
        raise ValueError(f"this model has no W latent space, so space={space!r} is not available")
    return space  # type: ignore[return-value]


def latent_rows(G, space: str, layers: LayerSpec = None) -> tuple[int, ...]:
    """The W+ rows (indices into ``ws``) a direction in ``space`` moves: those feeding the control points
    selected by ``layers`` (:func:`regiongan.layer_selection.layer_rows`). ``()`` for ``"z"``, which
    moves all of them through the mapping."""
    check_space(G, space)
    if space == "z":
        if layers not in (None, "all"):
            raise ValueError(
                "layers= cannot be used with space='z': a z offset moves every layer through the mapping; "
                "use space='w' or 'w+' to restrict a direction to some layers"
            )
        return ()
    return layer_rows(G, layers)


def latent_dim(G, space: str, rows: Sequence[int]) -> int:
    """``d``, the size of a direction in ``space``: z_dim, w_dim, or ``len(rows) · w_dim`` for w+."""
    return {"z": G.z_dim, "w": G.w_dim, "w+": len(rows) * G.w_dim}[space]


def moved_layers(G, space: str, rows: Sequence[int]) -> list[str] | None:
    """Names of every control point an edit of ``rows`` moves (None for z: all of them)."""
    if space == "z":
        return None
    chosen = set(rows)
    return [p.name for p in G.control_points() if p.w_index in chosen]


def warn_spill(G, layers: LayerSpec, stacklevel: int = 3) -> None:
    """Warn (:class:`LayerSpillWarning`) when the rows of ``layers`` also feed unselected control points."""
    extra = spilled_layers(G, layers)
    if not extra:
        return
    points = G.control_points()
    everything = [points[i].name for i in sorted(set(select_layers(G, layers)) | {n for n, p in enumerate(points) if p.name in extra})]
    warnings.warn(
        f"layers={layers!r} also moves {', '.join(extra)}: a W+ row feeds every control point that reads it, "
        f"so editing those rows moves them too; select them as well to make this explicit "
        f"(layers={everything!r})",
        LayerSpillWarning,
        stacklevel=stacklevel,
    )


def image_function(
    G, space: str, ws: torch.Tensor, z: torch.Tensor | None, rows: Sequence[int], truncation_psi: float = 1.0,
    c: torch.Tensor | None = None,
) -> tuple[ImageFn, torch.Tensor]:
    """``(f, x0)``: the image ``[3, H, W]`` as a function of one sample's latent ``x [d]`` in ``space``, and
    the sample's own latent ``x0`` (``f(x0)`` is the sample's image).

    ws: ``[1, num_ws, w_dim]`` the sample's W+ code; z: ``[1, z_dim]`` its z (for ``"z"``, mapped with
    ``truncation_psi`` and the class condition ``c [1, c_dim]``); rows: from :func:`latent_rows`. Offsets are added to the sample's rows, so rows
    that differ (truncation cutoff, style mixing) keep their differences.
    """
    if space == "z":
        if z is None:
            raise ValueError("space='z' differentiates through the mapping: give the sample's z [1, z_dim]")

        def f_z(x: torch.Tensor) -> torch.Tensor:
            return G.synthesize(G.styles(G.map(x[None], c, truncation_psi)), noise_mode="const").image[0]

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
    """The family's own forward-mode tangents (:func:`regiongan.generators.base.tangent_pass`) for
    :func:`image_function`'s ``f`` in ``space``: the rows of ``V [c, d]`` are offsets of ``x``; output
    ``[c, 3, H, W]``. None when the family has no tangent pass or the space is ``"z"`` (the Jacobian engine
    then uses ``vmap(jvp(f))``)."""
    fast = tangent_pass(G)
    if space == "z" or fast is None:
        return None
    idx = torch.tensor(list(rows), dtype=torch.long, device=ws.device)
    L = len(idx)

    def columns(V: torch.Tensor) -> torch.Tensor:
        dws = torch.zeros(V.shape[0], G.num_ws, G.w_dim, dtype=ws.dtype, device=ws.device)
        if space == "w":
            dws[:, idx] = V[:, None, :]
        else:
            dws[:, idx] = V.reshape(V.shape[0], L, G.w_dim)
        return fast(ws, dws)[1]

    return columns



def _check_direction(G, direction: torch.Tensor, space: str, rows: Sequence[int]) -> torch.Tensor:
    d = latent_dim(G, space, rows)
    if space != "z" and (not rows or min(rows) < 0 or max(rows) >= G.num_ws):
        raise ValueError(f"rows must be W+ row indices in 0..{G.num_ws - 1}, got {list(rows)}")
    direction = direction.reshape(-1).to(device=G.device, dtype=torch.float32)
    if direction.shape[0] != d:
        raise ValueError(
            f"the direction has {direction.shape[0]} entries but space {space!r} of this model "
            f"({len(rows)} rows) has d={d}: was it computed for another model or other layers?"
        )
    return direction


def direction_offset(G, direction: torch.Tensor, space: str, rows: Sequence[int]) -> torch.Tensor:
    """A W / W+ direction ``[d]`` -> the offset ``[num_ws, w_dim]`` it adds to ws (zero on other rows):
    ``"w"`` the same ``[w_dim]`` vector on each row, ``"w+"`` ``[len(rows) · w_dim]`` split over them."""
    if space not in ("w", "w+"):
        raise ValueError(f"direction_offset takes W / W+ directions, got space {space!r}")
    rows = [int(r) for r in rows]
    direction = _check_direction(G, direction, space, rows)
    offset = torch.zeros(G.num_ws, G.w_dim, device=G.device)
    offset[rows] = direction.reshape(len(rows), G.w_dim) if space == "w+" else direction
    return offset


def edited_ws(
    G,
    base: torch.Tensor,
    direction: torch.Tensor,
    space: str,
    rows: Sequence[int],
    strengths: Sequence[float] | float,
    truncation_psi: float = 1.0,
    c: torch.Tensor | None = None,
) -> torch.Tensor:
    """The codes of an edit: ``base`` moved by ``t · direction`` for each strength t -> ``ws [N·S,
    num_ws, w_dim]``, sample-major (all strengths of code 0 first).

    base: ``z [N, z_dim]`` for a ``"z"`` direction (``z + t·n`` is mapped with ``truncation_psi`` and the
    class condition ``c [N·S, c_dim]``), else
    ``ws [N, num_ws, w_dim]`` (already truncated: ``w_l + t·n`` on ``rows``).
    """
    t = torch.tensor(check_strengths(strengths), dtype=torch.float32, device=G.device)
    base = base.to(device=G.device, dtype=torch.float32)
    if space == "z":
        if base.ndim != 2 or base.shape[1] != G.z_dim:
            raise ValueError(f"a z direction moves z codes [N, {G.z_dim}], got {tuple(base.shape)}")
        n = _check_direction(G, direction, "z", ())
        z = (base[:, None] + t[None, :, None] * n).reshape(-1, G.z_dim)
        with torch.no_grad():
            return G.map(z, c, truncation_psi)
    if base.ndim != 3 or tuple(base.shape[1:]) != (G.num_ws, G.w_dim):
        raise ValueError(f"ws must be [N, {G.num_ws}, {G.w_dim}], got {tuple(base.shape)}")
    offset = direction_offset(G, direction, space, rows)
    return (base[:, None] + t[None, :, None, None] * offset).reshape(-1, G.num_ws, G.w_dim)
