"""Where ReSeFa's directions live: the latent spaces, the W+ rows a direction moves, the image as a
function of one sample's latent (what the Jacobian differentiates) and how an edit moves codes.

Spaces (``space=``, the same words as every method; :mod:`regiongan.latents`):

* ``"w"`` (ReSeFa's default, as in the paper, which factorizes in W): one offset ``[w_dim]`` added to each
  W+ row selected by ``layers`` (all rows by default). The Jacobian w.r.t. ``w`` is the sum over those rows
  of the W+ Jacobians — one tangent through all of them.
* ``"w+"``: the selected W+ rows, concatenated: ``d = len(rows) · w_dim``.
* ``"z"``: the input of the mapping (``d = z_dim``, truncation included); every layer moves.
* a family's own spaces (``G.latent_spaces()``, :func:`regiongan.generators.base.latent_spaces`), e.g.
  ``"class"`` (BigGAN: the class embedding, ``d = z_dim``): a :class:`~regiongan.latents.LatentSpace` says
  its size, a code's coordinates in it and how an offset moves ws; every layer moves. A family can also
  withdraw w / w+ (BigGAN: its rows carry the truncation), with a reason the errors name.

Rows are shared: a W+ row feeds every control point with that ``w_index`` (in StyleGAN2 ``b{r}.torgb``
shares its row with ``b{2r}.conv0``), so a ``layers`` selection that takes one of them moves the other
too. :func:`warn_spill` says so with a :class:`LayerSpillWarning`.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch

from ...generators.base import latent_spaces, tangent_pass
from ...jacobian import ImageFn, TangentFn
from ...latents import DIRECTION_SPACES, SPACES, LatentSpace, check_latent_model
from ...layer_selection import LayerSpec, layer_rows, select_layers, spilled_layers
from ...validate import strengths as check_strengths  # the one rule for strengths (API, recipes, --strengths)

__all__ = [
    "DEFAULT_SPACE",
    "LayerSpillWarning",
    "check_model",
    "check_space",
    "model_spaces",
    "family_space",
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
DEFAULT_SPACE = "w"


class LayerSpillWarning(UserWarning):
    """A ``layers`` selection in W / W+ also moves control points outside it (they share a W+ row)."""


def check_model(G) -> None:
    """Raise a ValueError for models ReSeFa cannot sample: without latent codes, or without a z input."""
    check_latent_model(G, "ReSeFa")
    if getattr(G, "z_dim", 0) <= 0:
        raise ValueError(
            f"this model has no z input (z_dim={getattr(G, 'z_dim', None)}), so samples cannot be drawn from seeds"
        )


def model_spaces(G) -> dict[str, str]:
    """Every latent space directions can live in on this model, with its size in words:
    ``{"w": "w_dim=512", "w+": "18 x 512", "z": "z_dim=512"}`` for StyleGAN2, ``{"z": …, "class": …}`` for a
    conditional BigGAN (generic spaces the family withdraws, or that the model lacks, are left out)."""
    declared = latent_spaces(G)
    out: dict[str, str] = {}
    if getattr(G, "w_dim", 0) > 0 and getattr(G, "num_ws", 0) > 0:
        out["w"] = f"w_dim={G.w_dim}"
        out["w+"] = f"{G.num_ws} x {G.w_dim}"
    if getattr(G, "z_dim", 0) > 0:
        out["z"] = f"z_dim={G.z_dim}"
    out = {name: size for name, size in out.items() if not isinstance(declared.get(name), str)}
    for name, value in declared.items():
        if isinstance(value, LatentSpace):
            out[name] = f"d={value.dim}: {value.description}"
    return out


def _spaces_text(G) -> str:
    spaces = [f"{name!r} ({size})" for name, size in model_spaces(G).items()]
    if not spaces:
        return "this model has no latent space for directions"
    return "this model's latent spaces are " + (
        spaces[0] if len(spaces) == 1 else ", ".join(spaces[:-1]) + " and " + spaces[-1]
    )


def check_space(G, space: str) -> str:
    """``space`` if it is a latent space this model has, else a one-line ValueError naming them."""
    if not isinstance(space, str) or space not in DIRECTION_SPACES:
        raise ValueError(f"unknown latent space {space!r}; {_spaces_text(G)}")
    reason = latent_spaces(G).get(space)
    if isinstance(reason, str):
        raise ValueError(f"space {space!r} is not available for this model: {reason}; {_spaces_text(G)}")
    if space == "z" and getattr(G, "z_dim", 0) <= 0:
        raise ValueError(f"this model has no z latent space (z_dim={getattr(G, 'z_dim', None)}); use space='w'")
    if space in ("w", "w+") and (getattr(G, "w_dim", 0) <= 0 or getattr(G, "num_ws", 0) <= 0):
        raise ValueError(f"this model has no W latent space, so space={space!r} is not available")
    if space not in SPACES and space not in model_spaces(G):
        raise ValueError(f"this model has no {space!r} latent space; {_spaces_text(G)}")
    return space


def family_space(G, space: str) -> LatentSpace | None:
    """The family's :class:`~regiongan.latents.LatentSpace` named ``space``, None for z / w / w+ (checked by
    :func:`check_space`)."""
    check_space(G, space)
    if space in SPACES:
        return None
    return latent_spaces(G)[space]  # type: ignore[return-value]  (check_space: a LatentSpace)


def _moves_rows(space: str) -> bool:
    """w / w+ directions move chosen W+ rows; z and family spaces move every layer."""
    return space in ("w", "w+")


def latent_rows(G, space: str, layers: LayerSpec = None) -> tuple[int, ...]:
    """The W+ rows (indices into ``ws``) a direction in ``space`` moves: those feeding the control points
    selected by ``layers`` (:func:`regiongan.layer_selection.layer_rows`). ``()`` for ``"z"``, which
    moves all of them through the mapping, and for a family's own space (e.g. ``"class"``), which moves every
    layer too."""
    check_space(G, space)
    if not _moves_rows(space):
        if layers not in (None, "all"):
            how = "through the mapping" if space == "z" else "(it enters every row of ws)"
            raise ValueError(
                f"layers= cannot be used with space={space!r}: an offset in it moves every layer {how}; "
                "use space='w' or 'w+' to restrict a direction to some layers"
            )
        return ()
    return layer_rows(G, layers)


def latent_dim(G, space: str, rows: Sequence[int]) -> int:
    """``d``, the size of a direction in ``space``: z_dim, w_dim, ``len(rows) · w_dim`` for w+, the declared
    ``dim`` for a family space."""
    if space in SPACES:
        return {"z": G.z_dim, "w": G.w_dim, "w+": len(rows) * G.w_dim}[space]
    return family_space(G, space).dim  # type: ignore[union-attr]


def moved_layers(G, space: str, rows: Sequence[int]) -> list[str] | None:
    """Names of every control point an edit of ``rows`` moves (None for z and family spaces: all of them)."""
    if not _moves_rows(space):
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
    ``truncation_psi`` and the class condition ``c [1, c_dim]``); rows: from :func:`latent_rows`. Offsets are
    added to the sample's rows, so rows that differ (truncation cutoff, style mixing) keep their differences.
    In a family space ``x0`` is the sample's coordinates (``LatentSpace.read``; BigGAN's ``"class"``: its
    embedding ``e``) and ``f(x) = image(ws + move(ws, x − x0))`` (z fixed).
    """
    if space == "z":
        if z is None:
            raise ValueError("space='z' differentiates through the mapping: give the sample's z [1, z_dim]")

        def f_z(x: torch.Tensor) -> torch.Tensor:
            return G.synthesize(G.styles(G.map(x[None], c, truncation_psi)), noise_mode="const").image[0]

        return f_z, z[0].clone()
    extra = family_space(G, space)
    if extra is not None:
        x0 = extra.read(ws)[0].clone()

        def f_family(x: torch.Tensor) -> torch.Tensor:
            return G.synthesize(G.styles(ws + extra.move(ws, (x - x0)[None])), noise_mode="const").image[0]

        return f_family, x0
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


def tangent_function(
    G, space: str, ws: torch.Tensor, rows: Sequence[int], precision: str = "fp32"
) -> TangentFn | None:
    """The family's own forward-mode tangents (:func:`regiongan.generators.base.tangent_pass`) for
    :func:`image_function`'s ``f`` in ``space``: the rows of ``V [c, d]`` are offsets of ``x``; output
    ``[c, 3, H, W]``. None when the family has no tangent pass or the space is ``"z"`` (the Jacobian engine
    then uses ``vmap(jvp(f))``). A family space goes through the same pass: its ``move`` is linear, so the
    tangent of ws along ``v`` is ``move(ws, v)``. The model is linearized at ``ws`` once, here (its primal
    pass is shared by every chunk of ``V``); ``precision`` ("fp32", "bf16", "auto") is the tangents'."""
    fast = tangent_pass(G, precision)
    if space == "z" or fast is None:
        return None
    at_ws = fast(ws)
    extra = family_space(G, space)
    if extra is not None:
        return lambda V: at_ws(extra.move(ws, V.to(ws.dtype)))
    idx = torch.tensor(list(rows), dtype=torch.long, device=ws.device)
    L = len(idx)

    def columns(V: torch.Tensor) -> torch.Tensor:
        dws = torch.zeros(V.shape[0], G.num_ws, G.w_dim, dtype=ws.dtype, device=ws.device)
        if space == "w":
            dws[:, idx] = V[:, None, :]
        else:
            dws[:, idx] = V.reshape(V.shape[0], L, G.w_dim)
        return at_ws(dws)

    return columns



def _check_direction(G, direction: torch.Tensor, space: str, rows: Sequence[int]) -> torch.Tensor:
    d = latent_dim(G, space, rows)
    if not _moves_rows(space) and rows:
        raise ValueError(f"a {space!r} direction moves every layer: rows must be empty, got {list(rows)}")
    if _moves_rows(space) and (not rows or min(rows) < 0 or max(rows) >= G.num_ws):
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
    class condition ``c [N·S, c_dim]``), else ``ws [N, num_ws, w_dim]`` (already truncated): ``w_l + t·n``
    on ``rows`` for w / w+, ``ws + move(ws, t·n)`` for a family space (BigGAN's ``"class"``: ``e + t·n``).
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
    extra = family_space(G, space)
    if extra is not None:
        n = _check_direction(G, direction, space, rows)
        ws = base.repeat_interleave(len(t), dim=0)
        delta = (t[None, :, None] * n).expand(base.shape[0], -1, -1).reshape(-1, n.shape[0])
        return ws + extra.move(ws, delta)
    offset = direction_offset(G, direction, space, rows)
    return (base[:, None] + t[None, :, None, None] * offset).reshape(-1, G.num_ws, G.w_dim)
