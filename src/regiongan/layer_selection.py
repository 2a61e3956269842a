"""Layer selections: which control points an edit touches (the ``layers=`` argument of every method).

``None``/``"all"``; a preset ``"coarse"``, ``"middle"``, ``"fine"`` (see :func:`preset_ranges`); an
inclusive resolution range ``(lo, hi)`` matched against each control point's *output* ``resolution`` (so
``b16.conv0``, which reads an 8² input, belongs to 16); or a list of control point names (``"b32.torgb"``)
and/or indices into ``G.control_points()``. :func:`parse_layers` reads the command-line form (``"8-64"``,
``"fine"``, ``"b32.conv0,b32.torgb"``).

Latent rows: a method that edits latents rather than styles (ReSeFa in W / W+) moves whole rows of ws;
several control points can read the same row (in StyleGAN2 ``b{r}.torgb`` shares its row with
``b{2r}.conv0``), so :func:`spilled_layers` names the control points such an edit moves beyond the selection.
"""

from __future__ import annotations

from typing import Sequence, Union

from .generators.base import ControlPoint

__all__ = ["LayerSpec", "PRESETS", "preset_ranges", "parse_layers", "select_layers", "layer_rows", "spilled_layers"]

#: ``None`` | ``"all"`` | ``"coarse"`` | ``"middle"`` | ``"fine"`` | ``(res_lo, res_hi)`` | names / indices.
LayerSpec = Union[None, str, tuple[int, int], Sequence[Union[str, int]]]

PRESETS = ("coarse", "middle", "fine")
_PRESETS = PRESETS


def preset_ranges(img_resolution: int) -> dict[str, tuple[int, int]]:
    """The named layer presets as inclusive resolution ranges for a model of output size ``img_resolution``.

    For ``R ≥ 128`` they are StyleGAN's split (Karras et al. 2019, §3.1): coarse 4²–8² (pose, shape),
    middle 16²–32² (features), fine 64²–R² (colour, texture). Smaller models are scaled down so every
    preset keeps at least one resolution: coarse 4 … min(8, R/8), middle … min(32, R/4), fine the rest —
    e.g. R = 64: coarse 4–8, middle 16, fine 32–64; R = 32: coarse 4, middle 8, fine 16–32.
    """
    r = int(img_resolution)
    coarse_hi = max(4, min(8, r // 8))
    middle_hi = max(2 * coarse_hi, min(32, r // 4))
    return {"coarse": (4, coarse_hi), "middle": (2 * coarse_hi, middle_hi), "fine": (2 * middle_hi, r)}


def parse_layers(spec: str) -> LayerSpec:
    """Command-line layer selection -> a :data:`LayerSpec`.

    ``"all"``, ``"coarse"``, ``"middle"``, ``"fine"``; ``"LO-HI"`` (inclusive resolution range, e.g.
    ``"8-64"``); ``"R"`` (one resolution, e.g. ``"32"``); or comma-separated control point names
    (``"b32.conv0,b32.torgb"``, see ``regiongan info MODEL``).
    """
    text = str(spec).strip()
    if text in ("all", *_PRESETS):
        return text
    lo, dash, hi = text.partition("-")
    if dash and lo.strip().isdigit() and hi.strip().isdigit():
        return (int(lo), int(hi))
    if text.isdigit():
        return (int(text), int(text))
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names or not all(n.startswith("b") and "." in n for n in names):
        raise ValueError(
            f"cannot read layer selection {spec!r}; use all, coarse, middle, fine, a resolution range such "
            "as 8-64, one resolution such as 32, or control point names such as b32.conv0,b32.torgb"
        )
    return names


def select_layers(G, layers: LayerSpec) -> list[int]:
    """Indices into ``G.control_points()`` selected by ``layers`` (see the module docstring), sorted."""
    points: list[ControlPoint] = G.control_points()
    resolutions = sorted({p.resolution for p in points})
    if layers is None or (isinstance(layers, str) and layers == "all"):
        return list(range(len(points)))
    if isinstance(layers, str):
        if layers not in _PRESETS:
            raise ValueError(
                f"unknown layer preset {layers!r}; use 'all', 'coarse', 'middle', 'fine', a resolution range "
                "(lo, hi) or a list of control point names / indices"
            )
        lo, hi = preset_ranges(G.img_resolution)[layers]
        chosen = [i for i, p in enumerate(points) if lo <= p.resolution <= hi]
        if not chosen:
            raise ValueError(
                f"layer preset {layers!r} ({lo}-{hi}) selects no layer of this {G.img_resolution}² model "
                f"(resolutions {resolutions}); give a resolution range instead"
            )
        return chosen
    if isinstance(layers, tuple) and len(layers) == 2 and all(_is_int(v) for v in layers):
        lo, hi = int(layers[0]), int(layers[1])
        if lo > hi or lo < resolutions[0] or hi > resolutions[-1]:
            raise ValueError(
                f"layer range {lo}-{hi} is outside this model: its control points have resolutions "
                f"{resolutions}; give (lo, hi) with {resolutions[0]} <= lo <= hi <= {resolutions[-1]}"
            )
        chosen = [i for i, p in enumerate(points) if lo <= p.resolution <= hi]
        if not chosen:
            raise ValueError(f"layer range {lo}-{hi} contains none of the model's resolutions {resolutions}")
        return chosen
    if isinstance(layers, (list, tuple)):
        if not layers:
            raise ValueError("the layer list is empty; give at least one control point name or index")
        names = [p.name for p in points]
        chosen_set: set[int] = set()
        for item in layers:
            if isinstance(item, str):
                if item not in names:
                    raise ValueError(f"unknown control point {item!r}; this model has {names}")
                chosen_set.add(names.index(item))
            elif _is_int(item):
                if not 0 <= int(item) < len(points):
                    raise ValueError(
                        f"control point index {item} out of range: this model has {len(points)} control "
                        f"points (0..{len(points) - 1}): {names}"
                    )
                chosen_set.add(int(item))
            else:
                raise ValueError(f"layer list entries must be names or ints, got {item!r}")
        return sorted(chosen_set)
    raise ValueError(
        f"layers must be None, 'all', 'coarse', 'middle', 'fine', a (lo, hi) resolution range or a list of "
        f"control point names / indices, got {layers!r}"
    )


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def layer_rows(G, layers: LayerSpec = None) -> tuple[int, ...]:
    """The rows of ws (``w_index``) that feed the control points selected by ``layers``, sorted."""
    points = G.control_points()
    return tuple(sorted({points[i].w_index for i in select_layers(G, layers)}))


def spilled_layers(G, layers: LayerSpec = None) -> list[str]:
    """Control points *not* selected by ``layers`` that read one of the selected rows of ws: an edit of
    those rows moves them too (empty when the selection is closed under shared rows)."""
    points = G.control_points()
    chosen = set(select_layers(G, layers))
    rows = {points[i].w_index for i in chosen}
    return [p.name for i, p in enumerate(points) if i not in chosen and p.w_index in rows]
