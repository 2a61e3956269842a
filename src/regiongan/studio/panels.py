"""One panel per registered operation, built from the method registry (so a method registered later —
class hybridization, SPADE repaint, SSN block resampling — gets a panel without a change here).

Each parameter of an operation is one of:

* **shared**: filled from the studio's common controls (the seed for ``code`` / ``target``, the painted or
  typed region for ``region`` / ``regions``, the layer range, the truncation, the class, the computed
  directions) — see :data:`SHARED`;
* **a control** of the panel: known parameters get a fitting widget (:data:`KNOWN`: a slider for ψ, a
  part list for ``part`` …); an unknown *required* parameter gets a JSON text box, so every operation can
  be called; an unknown optional one keeps its default;
* **left at its default** (:data:`DEFAULTED`: spaces, noise modes, the parser and the catalog — recipes
  record what was used).

Pure Python: :mod:`regiongan.studio.app` turns :class:`Panel` into Gradio widgets.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ..latents import check_latent_model
from ..registry import MethodSpec, get_method, list_methods
from .export import STACK_METHOD

__all__ = ["Control", "Panel", "SHARED", "LABEL_SHARED", "KNOWN", "DEFAULTED", "build_panels", "panel_for", "call_params"]

#: operation parameter -> the studio's shared control that fills it
SHARED: dict[str, str] = {
    "code": "seed", "target": "seed", "region": "region", "regions": "region", "layers": "layers",
    "truncation_psi": "truncation_psi", "c": "class", "base_class": "class", "directions": "directions",
}  # fmt: skip
#: label-map operations (they take ``labels`` and no latent ``code`` / ``target``: SPADE's) also share these:
#: the session's current label map, the seed of the style code, the world whose part names are the classes
LABEL_SHARED: dict[str, str] = {"labels": "labels", "seed": "seed", "class_names": "world"}
#: parameters left at the operation's default (the recipe records them)
DEFAULTED = frozenset({"space", "parser", "catalog", "blend_space", "noise", "noise_seed", "precision",
                       "truncation_cutoff", "rho", "base", "region_codes"})  # fmt: skip
#: operations without a panel: ``generate`` is the "new image" button, the stack is what panels build
EXCLUDED = frozenset({"generate", STACK_METHOD})
#: the panels shown first, in this order (the rest follow by name)
FIRST = ("itan.resample", "editing_in_style.transfer_part", "itan.transfer", "itan.saliency", "resefa.edit",
         "spade.repaint", "spade.synthesize")


@dataclass(frozen=True)
class Control:
    """A panel widget for parameter ``name``: kind ``"slider" | "int" | "number" | "choice" | "json"``;
    ``choices="parts"`` means the model's catalog parts (filled when a model is loaded), ``choices="classes"``
    a label-map model's class names (its world's part names)."""

    name: str
    kind: str
    label: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | str = ()


#: Known parameters and their widgets (a default ``None`` takes the operation's own default).
KNOWN: dict[str, Control] = {
    c.name: c
    for c in (
        Control("variations", "slider", "variations", 8, 1, 16, 1),
        Control("variation_seed", "int", "variation seed", None),
        Control("reference", "int", "reference seed", 11),
        Control("psi", "slider", "ψ inside the region", 1.5, 0.0, 2.0, 0.05),
        Control("background_psi", "slider", "ψ outside", None, 0.0, 2.0, 0.05),
        Control("feather", "slider", "feather (pixels)", None, 0.0, 8.0, 0.5),
        Control("part", "choice", "part (catalog)", None, choices="parts"),
        Control("method", "choice", "query", None, choices=("sequential", "simultaneous")),
        Control("eps", "number", "ε (sequential budget per layer)", None),
        Control("lam", "number", "λ (simultaneous)", None),
        Control("index", "int", "direction (0 = the most local)", 0),
        Control("strengths", "slider", "strength", 1.5, -5.0, 5.0, 0.1),
        Control("classes", "json", "classes, one per region (JSON list)", "[1]"),
        Control("to", "choice", "paint the region with class", None, choices="classes"),
        Control("n", "slider", "styles (seeds seed … seed+n−1)", 4, 1, 16, 1),
    )
}


@dataclass(frozen=True)
class Panel:
    """The panel of one registered operation: its controls and the shared values it takes."""

    method: str
    title: str
    summary: str
    controls: tuple[Control, ...]
    shared: dict[str, str] = field(default_factory=dict)
    needs_classes: bool = False
    label_map: bool = False

    def available(self, G) -> bool:
        """Whether the panel can run on ``G``: label-map panels need a label-map model (``synthesize_labels``),
        the others a latent generator (:func:`~regiongan.latents.check_latent_model`); class-based operations
        also need a conditional model."""
        if self.label_map:
            return hasattr(G, "synthesize_labels")
        try:
            check_latent_model(G, self.method)
        except ValueError:
            return False
        return not self.needs_classes or getattr(G, "c_dim", 0) > 0


def _title(name: str) -> str:
    return name.split(".")[-1].replace("_", " ")


def panel_for(spec: MethodSpec) -> Panel:
    """The panel of a registered operation, from its signature."""
    sig = inspect.signature(spec.run)
    controls: list[Control] = []
    shared: dict[str, str] = {}
    names = set(sig.parameters)
    label_map = "labels" in names and not names & {"code", "target"}
    common = {**SHARED, **LABEL_SHARED} if label_map else SHARED
    for p in sig.parameters.values():
        if p.name == "G":
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        if p.name in common:
            shared[p.name] = common[p.name]
        elif p.name in KNOWN:
            known = KNOWN[p.name]
            value = known.default if known.default is not None else default
            if known.name == "strengths":
                value = known.default
            controls.append(replace(known, default=value))
        elif p.name in DEFAULTED or p.default is not inspect.Parameter.empty:
            continue
        else:
            controls.append(Control(p.name, "json", f"{p.name} (JSON)", ""))
    needs_classes = "classes" in spec.allowed or "base_class" in spec.required
    return Panel(spec.name, _title(spec.name), spec.summary, tuple(controls), shared, needs_classes, label_map)


def build_panels() -> list[Panel]:
    """A panel for every registered operation but those in :data:`EXCLUDED` (import
    :mod:`regiongan.api` first to register the built-in ones)."""
    names = [n for n in list_methods() if n not in EXCLUDED]
    names.sort(key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n))
    return [panel_for(get_method(name)) for name in names]


def call_params(panel: Panel, values: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``panel``'s operation from its control ``values`` and the studio's shared
    ``context`` (keys: ``seed``, ``region``, ``layers``, ``truncation_psi``, ``class``, ``directions``; for
    label-map models ``labels`` — the session's current label map — and ``world``, its class names).
    Shared values that are None are left out (the operation's default)."""
    params: dict[str, Any] = {}
    for name, key in panel.shared.items():
        value = context.get(key)
        if value is not None:
            params[name] = value
    for c in panel.controls:
        value = values.get(c.name, c.default)
        if value is None or value == "":
            continue
        if c.kind == "json":
            try:
                value = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError as e:
                raise ValueError(f"{c.name}: not valid JSON ({e.msg}); e.g. 3, [3, 11] or \"box:0,0,32,32\"") from None
        elif c.kind == "int":
            value = int(value)
        elif c.name == "strengths":
            value = [float(value)]
        elif c.kind == "slider" and c.step is not None and float(c.step).is_integer():
            value = int(value)
        elif c.kind in ("slider", "number"):
            value = float(value)
        params[c.name] = value
    return params
