"""ReSeFa's registered operation: ``resefa.edit`` — move codes along one found direction.

    edit(G, code, directions, index=0, strengths=(-3, -1.5, 0, 1.5, 3))   # images [N·S, 3, R, R]

The recipe of an edit is self-contained: it stores the one direction it used (vector, space, rows,
eigenvalue and the model record; :meth:`Directions.to_dict`), never the directions file, so a replay needs
only the model.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ...identity import check_same_architecture
from ...latents import Code, Space, check_truncation_psi, class_vector, code_tensor, codes_to_ws
from ...layer_selection import LayerSpec
from ...limits import check_count
from ...registry import register_method
from ...results import Result
from ...validate import integer
from ..sampling import render
from .directions import DirectionsLike, as_directions
from .spaces import check_model, check_space, check_strengths, edited_ws, latent_rows, warn_spill

__all__ = ["edit", "DEFAULT_STRENGTHS"]

#: Distances along the unit direction (for faces-64, W's top principal component has std ≈ 2.3).
DEFAULT_STRENGTHS: tuple[float, ...] = (-3.0, -1.5, 0.0, 1.5, 3.0)


@register_method("resefa.edit")
def edit(
    G,
    code: Code,
    directions: DirectionsLike,
    index: int = 0,
    strengths: Sequence[float] | float = DEFAULT_STRENGTHS,
    layers: LayerSpec = None,
    truncation_psi: float | None = None,
    space: Space = "z",
    c: int | torch.Tensor | None = None,
) -> Result:
    """Move ``code`` along direction ``index`` of ``directions``, once per strength (ReSeFa's edit).

    ``z' = z + t·n`` for a z direction; ``w'_l = w_l + t·n`` on the direction's W+ rows for w / w+; for a
    family space (BigGAN's ``"class"``) the code's coordinates in it move, ``e' = e + t·n``
    (``ws + move(ws, t·n)``), with z and everything else kept.

    Args:
        code: seeds, or a tensor in ``space`` (``[N, z_dim]``, ``[N, w_dim]``, ``[N, num_ws, w_dim]``); a
            z direction needs z codes; a family-space direction moves any code.
        directions: :class:`Directions`, a directions file, or :meth:`Directions.to_dict`'s form.
        index: which direction (0 = the most local).
        strengths: the distances ``t`` along the unit direction.
        layers: W directions only: apply them to other layers than they were found for (as the official
            scripts do); a :class:`LayerSpillWarning` names control points sharing the selected rows.
        truncation_psi: ``w̄ + ψ (w − w̄)`` applied to the codes as in every method
            (:func:`~regiongan.latents.codes_to_ws`). None: the ψ the directions were found with for z codes
            (the samples they describe), 1 (the code as given) for w / w+ codes.
        c: the class of z codes for a conditional model (:func:`~regiongan.latents.class_vector`).

    Returns:
        :class:`Result` with ``images [N·S, 3, R, R]`` sample-major (all strengths of code 0 first) and
        extras ``strengths`` (list), ``grid_shape`` ``(N, S)``, ``direction [d]``, ``eigenvalue``,
        ``space`` / ``rows`` (of the direction), ``ws [N·S, num_ws, w_dim]``. The recipe stores the
        direction itself, so it replays without the directions file.
    """
    check_model(G)
    dirs = as_directions(directions)
    check_same_architecture(G, dirs.model, "these directions")
    check_space(G, dirs.space)  # e.g. w directions on a model that withdraws w: the reason, one line
    one = dirs.select(integer(index, "index (which direction)", 0, dirs.k - 1))
    rows = dirs.rows
    if layers is not None:
        if dirs.space != "w":
            raise ValueError(f"layers= re-targets W-space directions only; these are in {dirs.space!r}")
        rows = latent_rows(G, "w", layers)
        warn_spill(G, layers, stacklevel=4)
    values = check_strengths(strengths)
    if truncation_psi is None:
        psi = check_truncation_psi(dirs.meta.get("truncation_psi", 1.0), "the directions' truncation_psi") if space == "z" else 1.0
    else:
        psi = check_truncation_psi(truncation_psi)
    z = code_tensor(G, code, space)
    check_count(z.shape[0] * len(values), "images", f"the number of images ({z.shape[0]} codes x {len(values)} strengths)")
    if dirs.space == "z":
        if space != "z":
            raise ValueError("a z-space direction moves z codes: give seeds or z [N, z_dim] with space='z'")
        base = codes_to_ws(G, z, "z", c, psi)  # checks the code; the edit maps z + t·n itself
        cond = class_vector(G, c, z.shape[0])
        cond = None if cond is None else cond.repeat_interleave(len(values), dim=0)
        ws = edited_ws(G, z.to(G.device), one.vectors[0], "z", (), values, psi, cond)
    else:  # w / w+ rows, or a family space (its move applies to ws, whatever the code's space)
        base = codes_to_ws(G, z, space, c, psi)
        ws = edited_ws(G, base, one.vectors[0], dirs.space, rows, values)
    images = render(G, ws)
    extras = {
        "strengths": values, "grid_shape": (base.shape[0], len(values)), "direction": one.vectors[0].clone(),
        "eigenvalue": float(one.eigenvalues[0]), "space": dirs.space, "rows": tuple(rows), "ws": ws,
    }  # fmt: skip
    return Result(images=images, extras=extras, recorded={"directions": one.to_dict(), "index": 0})
