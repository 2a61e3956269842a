"""One browser session of the studio: its model, seed and settings, the pending result and the edit stack.

Pure Python (no Gradio): the app keeps one :class:`StudioSession` per browser session in a ``gr.State``,
and nothing else is per-user. The only state shared between sessions is :class:`ModelCache` — loaded
models, read-only, keyed by the model's path and weight fingerprint.

The edit stack (:class:`EditStack`) holds the base image and every accepted edit (its call, the chosen
output, the mask it changed, the image after it, and the settings it was made with), plus the undone
edits for redo. Accepting clears the redo list, as in every editor. :meth:`EditStack.recipe` is the one
recipe of the whole stack (:mod:`regiongan.studio.export`).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..identity import model_fingerprint
from ..recipes import Recipe
from ..registry import get_method
from ..results import Result
from .export import STACK_METHOD, composite, edit_mask, stack_recipe

__all__ = ["Step", "EditStack", "StudioSession", "ModelCache", "StackError", "is_label_model", "label_world"]


class StackError(ValueError):
    """An edit-stack action that cannot be done now (nothing to accept, undo or redo; a bad choice)."""


@dataclass
class Step:
    """One entry of the stack: ``method(G, **params)`` whose output ``choice`` was accepted.

    mask: ``[1, 1, R, R]`` the pixels it changed (None for the base); image: ``[1, 3, R, R]`` the image
    after it; settings: the studio's controls when it was made (restored from the history); seconds: the
    operation's wall time.
    """

    method: str
    params: dict[str, Any]
    choice: int
    mask: torch.Tensor | None
    image: torch.Tensor
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    labels: torch.Tensor | None = None  # label-map models: the class ids ``[1, H, W]`` after this edit (None: unchanged)

    def call(self) -> dict[str, Any]:
        """This step as the stack recipe stores it."""
        call: dict[str, Any] = {"method": self.method, "params": dict(self.params), "choice": self.choice}
        if self.mask is not None:
            call["mask"] = self.mask
        return call

    def label(self) -> str:
        """A one-line description for the history list."""
        return f"{self.method} #{self.choice} ({self.seconds:.2f} s)"


class EditStack:
    """The base image plus the accepted edits, in order; undone edits wait for redo."""

    def __init__(self, base: Step) -> None:
        if base.mask is not None:
            raise ValueError("the base of a stack changes the whole image: its mask must be None")
        self._done: list[Step] = [base]
        self._undone: list[Step] = []

    @property
    def base(self) -> Step:
        return self._done[0]

    @property
    def steps(self) -> list[Step]:
        """The accepted edits after the base, oldest first."""
        return list(self._done[1:])

    @property
    def current(self) -> torch.Tensor:
        """The image after every accepted edit, ``[1, 3, R, R]``."""
        return self._done[-1].image

    @property
    def before(self) -> torch.Tensor:
        """The image before the last accepted edit (the base image when there is none)."""
        return self._done[-2].image if len(self._done) > 1 else self._done[0].image

    @property
    def can_undo(self) -> bool:
        return len(self._done) > 1

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def accept(self, result: Result, choice: int, settings: dict[str, Any] | None = None,
               fallback_mask: torch.Tensor | None = None) -> Step:  # fmt: skip
        """Commit output ``choice`` of ``result`` (a registered operation's Result) as the next edit."""
        if not result.method:
            raise StackError("only results of registered operations can be accepted (they carry their recipe)")
        if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < len(result):
            raise StackError(f"choose one of the {len(result)} result image(s): an index in 0..{len(result) - 1}, got {choice!r}")
        after = result.images[choice : choice + 1].detach().float().cpu()
        if after.shape != self.current.shape:
            raise StackError(f"the result's images are {tuple(after.shape[1:])}, the stack's {tuple(self.current.shape[1:])}: another model?")
        mask = edit_mask(result, choice, fallback_mask)
        step = Step(result.method, dict(result.params), choice, mask, composite(self.current, after, mask),
                    dict(settings or {}), result.seconds, _result_labels(result, choice))  # fmt: skip
        self._done.append(step)
        self._undone.clear()
        return step

    def undo(self) -> Step:
        """Take back the last accepted edit (kept for redo)."""
        if not self.can_undo:
            raise StackError("nothing to undo: no edit has been accepted")
        step = self._done.pop()
        self._undone.append(step)
        return step

    def redo(self) -> Step:
        """Accept the last undone edit again."""
        if not self.can_redo:
            raise StackError("nothing to redo")
        step = self._undone.pop()
        self._done.append(step)
        return step

    def history(self) -> list[str]:
        """One line per entry, the base first: what it was and how long it took."""
        return [f"{i}. {s.label()}" for i, s in enumerate(self._done)]

    def settings(self, index: int) -> dict[str, Any]:
        """The settings entry ``index`` of :meth:`history` was made with."""
        if not 0 <= index < len(self._done):
            raise StackError(f"no history entry {index}; there are {len(self._done)}")
        return dict(self._done[index].settings)

    def recipe(self, model: str, fingerprint: str | None) -> Recipe:
        """The one recipe that replays the whole stack (``stack.apply``)."""
        return stack_recipe(self.base.call(), [s.call() for s in self.steps], model, fingerprint)


def _result_labels(result: Result, choice: int) -> torch.Tensor | None:
    """The class ids ``[1, H, W]`` behind output ``choice`` of a label-map operation (``extras["labels"]``
    ``[N, H, W]``, images map-major), or None when the result carries no integer label map."""
    labels = result.extras.get("labels")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 3 or labels.is_floating_point() or not len(result):
        return None
    j = choice * labels.shape[0] // len(result)
    return labels[j : j + 1].detach().cpu().clone()


def is_label_model(G) -> bool:
    """Whether ``G`` is a label-map model (SPADE: ``synthesize_labels``) rather than a latent generator."""
    return hasattr(G, "synthesize_labels")


def label_world(G) -> str:
    """The world whose label maps a label-map model draws from: the one it names (``G.world``, when a loader
    attached it), else ``scenes`` when the model's class count matches that world's parts; else a one-line error."""
    from ..data.worlds import get_world

    named = getattr(G, "world", None)
    if isinstance(named, str) and named:
        return named
    classes = getattr(G, "num_classes", getattr(G, "label_nc", None))
    parts = len(get_world("scenes").part_names)
    if classes == parts:
        return "scenes"
    raise ValueError(
        f"this label-map model has {classes} classes and names no training world (the scenes world has {parts} parts): "
        "start the session with a label map, e.g. StudioSession.start(model, G, seed, labels='map.png')"
    )


class ModelCache:
    """Loaded models shared by every session: read-only, keyed by (model path or name, weight fingerprint).

    ``loader(spec) -> G`` must be the safe loader (``rg.load_model``). A path whose file changed (size or
    modification time) is loaded again; each load is keyed by its own fingerprint, so two sessions never
    see different weights under one key.
    """

    def __init__(self, loader: Callable[[str], Any]) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._by_spec: dict[tuple[str, Any], tuple[str, str]] = {}
        self._models: dict[tuple[str, str], Any] = {}

    @staticmethod
    def _signature(spec: str) -> tuple[str, Any]:
        p = Path(spec)
        if p.exists():
            st = p.stat()
            return str(p.resolve()), (st.st_size, st.st_mtime_ns)
        return spec, None

    def get(self, spec: str):
        """The loaded model ``spec`` (a shipped name or a path)."""
        sig = self._signature(spec)
        with self._lock:
            key = self._by_spec.get(sig)
            if key is not None:
                return self._models[key]
            G = self._loader(spec)
            G.eval().requires_grad_(False)
            key = (sig[0], model_fingerprint(G))
            self._models.setdefault(key, G)
            self._by_spec[sig] = key
            return self._models[key]

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._models)


@dataclass
class StudioSession:
    """Everything one browser session owns. ``G`` comes from the shared :class:`ModelCache`."""

    model: str
    G: Any
    seed: int
    truncation_psi: float = 1.0
    stack: EditStack | None = None
    pending: Result | None = None
    pending_settings: dict[str, Any] = field(default_factory=dict)
    pending_mask: torch.Tensor | None = None
    directions: Any = None
    world: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timings: list[tuple[str, float]] = field(default_factory=list)

    @classmethod
    def start(cls, model: str, G, seed: int, truncation_psi: float = 1.0, labels: Any = None) -> "StudioSession":
        """A session on a fresh base image: ``generate(G, seed, truncation_psi)`` for a latent model; for a
        label-map model (:func:`is_label_model`) ``spade.synthesize(G, labels, seed=seed)`` with ``labels``
        (default ``world:<world>:<seed>``, the world from :func:`label_world`)."""
        s = cls(model=model, G=G, seed=int(seed), truncation_psi=float(truncation_psi))
        if is_label_model(G):
            if labels is None:
                s.world = label_world(G)
                labels = f"world:{s.world}:{int(seed)}"
            else:
                s.world = getattr(G, "world", None) if isinstance(getattr(G, "world", None), str) else None
            s.new_base("spade.synthesize", {"labels": labels, "seed": int(seed)})
        else:
            s.new_base("generate", {"code": int(seed), "truncation_psi": float(truncation_psi)})
        return s

    @property
    def labels(self) -> Any:
        """Label-map models: the current label map — the class ids ``[1, H, W]`` after the last accepted edit
        that changed them (a repaint), else the base's ``labels`` (e.g. ``world:scenes:3``); None otherwise."""
        if self.stack is None:
            return None
        for step in reversed(self.stack.steps):
            if step.labels is not None:
                return step.labels
        return self.stack.base.params.get("labels")

    def new_base(self, method: str, params: dict[str, Any], choice: int = 0, settings: dict[str, Any] | None = None) -> Result:
        """Start a new stack on output ``choice`` of ``method(G, **params)`` (drops the old stack)."""
        result = self.run(method, params)
        if not 0 <= choice < len(result):
            raise StackError(f"choice {choice} but {method} made {len(result)} image(s)")
        image = result.images[choice : choice + 1].detach().float().cpu()
        self.stack = EditStack(Step(method, dict(result.params), choice, None, image, dict(settings or {}), result.seconds,
                                    _result_labels(result, choice)))  # fmt: skip
        self.pending = None
        return result

    def run(self, method: str, params: dict[str, Any]) -> Result:
        """Run the registered operation ``method`` on this session's model (not yet accepted)."""
        if method == STACK_METHOD:
            raise StackError("a stack is imported, not run: use import")
        t0 = time.perf_counter()
        with torch.no_grad():
            result = get_method(method).run(self.G, **params)
        self.timings.append((method, time.perf_counter() - t0))
        return result

    def propose(self, method: str, params: dict[str, Any], settings: dict[str, Any] | None = None,
                fallback_mask: torch.Tensor | None = None) -> Result:  # fmt: skip
        """Run ``method`` and keep its result as the pending edit (to be accepted or replaced). A repaint's
        mask is the region it repainted (``extras["mask"]``, the pixels whose class changed)."""
        result = self.run(method, params)
        changed = result.extras.get("mask")
        if method == "spade.repaint" and isinstance(changed, torch.Tensor) and changed.shape[0] == 1:
            fallback_mask = changed.detach().float().cpu()
        self.pending, self.pending_settings, self.pending_mask = result, dict(settings or {}), fallback_mask
        return result

    def accept(self, choice: int = 0) -> Step:
        """Commit output ``choice`` of the pending edit."""
        if self.pending is None:
            raise StackError("nothing to accept: run an operation first")
        if self.stack is None:
            raise StackError("no image yet: generate one first")
        step = self.stack.accept(self.pending, choice, self.pending_settings, self.pending_mask)
        self.pending = None
        return step

    def import_recipe(self, recipe: Recipe) -> None:
        """Continue from a recipe: a stack recipe restores its base and steps; any other recipe becomes
        the base (its first image). Its model must be this session's (same fingerprint)."""
        if recipe.model_fingerprint and recipe.model_fingerprint != model_fingerprint(self.G):
            raise StackError(f"this recipe was made with another model ({recipe.model!r}); load that model first")
        recipe.check()
        if recipe.method != STACK_METHOD:
            self.new_base(recipe.method, recipe.params)
            self._seed_from(recipe.params)
            return
        base, steps = recipe.params["base"], list(recipe.params.get("steps", []))
        self.new_base(base["method"], base["params"], base.get("choice", 0))
        self._seed_from(base["params"])
        for step in steps:
            result = self.run(step["method"], step["params"])
            stack = self.stack
            assert stack is not None
            before = stack.current
            accepted = stack.accept(result, step.get("choice", 0))
            accepted.mask = step["mask"].float().cpu()  # the recorded mask, exactly
            accepted.image = composite(before, result.images[accepted.choice : accepted.choice + 1].float().cpu(), accepted.mask)

    def _seed_from(self, params: dict[str, Any]) -> None:
        for key in ("code", "target", "seed"):
            value = params.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                self.seed = value
                return
            if isinstance(value, dict) and isinstance(value.get("seed"), int):
                self.seed = value["seed"]
                return

    def recipe(self) -> Recipe:
        """The recipe of this session's whole stack."""
        if self.stack is None:
            raise StackError("no image yet: generate one first")
        return self.stack.recipe(self.model, model_fingerprint(self.G))
