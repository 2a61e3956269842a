"""Edit recipes: every edit as a small JSON file that replays bit-for-bit.

A recipe names a registered *method*, the model, and the method's parameters — exactly the keyword
arguments of the public function that performs the edit. Replaying calls that function again with the
same arguments, so on the same machine (same torch build and thread count) it gives identical images.

    {
      "recipe_version": 1,
      "regiongan_version": "0.1.0",
      "method": "itan.local_resample",
      "model": "faces-64",
      "model_digest": "sha256:…",            # of the weights; replay warns if the model changed
      "params": {"code": {"seed": 3}, "region": {"spec": "box:16,16,48,40"}, "n": 8,
                 "layers": {"$tuple": [8, 64]}, "seed": 0},
      "tensors": "resample.safetensors",      # sidecar, only when some parameter is a tensor
      "outputs": ["resample_00.png", …]       # informational: the images written next to the recipe
    }

Parameter values are JSON, plus these forms:

- ``{"seed": s}`` / ``{"seeds": [s, …]}`` — a z code from seeds (:func:`regiongan.images.z_from_seeds`);
- ``{"spec": "box:…"}`` — a region from the command-line syntax (:func:`regiongan.regions.parse_region`,
  at the model's image size); ``{"specs": [...]}`` — a RegionSet ``[background, spec0, spec1, …]``;
- ``{"$tensor": key}``, ``{"$region": key}``, ``{"$regionset": key, "names": […]}``, ``{"$generator": key}``
  — a tensor, a :class:`~regiongan.regions.Region` mask, a RegionSet, or a ``torch.Generator``'s state,
  stored in the safetensors sidecar (written automatically for such values); ``{"$tuple": […]}`` a tuple.

Methods register themselves with :func:`register_method` (``{name: run(G, params) -> images}``); the
modules of :mod:`regiongan.methods` are imported on first lookup, so a new method module only needs the
decorator.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import pkgutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from . import __version__
from .regions import Region, RegionSet, parse_region

__all__ = [
    "RECIPE_VERSION",
    "Recipe",
    "RecipeError",
    "RecipeMethod",
    "RecipeWarning",
    "register_method",
    "get_method",
    "list_methods",
    "run",
    "save_recipe",
    "load_recipe",
    "replay",
    "load_recipe_model",
    "model_digest",
    "sidecar_path",
    "resolve_code",
    "resolve_region",
    "resolve_regionset",
]

RECIPE_VERSION = 1
_TOP_LEVEL = {
    "recipe_version", "regiongan_version", "method", "model", "model_digest", "params", "tensors", "outputs",
}  # fmt: skip
_REQUIRED = ("recipe_version", "method", "model", "params")


class RecipeError(ValueError):
    """A recipe that cannot be read, validated or run: say what is wrong and how to fix it."""


class RecipeWarning(UserWarning):
    """Replay can run but may not reproduce the recorded images (e.g. the model's weights changed)."""


# --------------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class RecipeMethod:
    """A registered edit: ``run(G, params) -> images [N, 3, H, W]``; ``required`` / ``allowed`` parameter
    names (``allowed=None``: anything)."""

    name: str
    run: Callable[..., torch.Tensor]
    required: tuple[str, ...]
    allowed: frozenset[str] | None
    doc: str


_METHODS: dict[str, RecipeMethod] = {}
_IMPORT_FAILURES: dict[str, str] = {}
_BUILTINS_LOADED = False


def register_method(
    name: str, required: Iterable[str] = (), allowed: Iterable[str] | None = None
) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: register ``fn(G, params: dict) -> images [N, 3, H, W]`` as recipe method ``name``.

    ``params`` arrive decoded (tensors, Regions, Generators restored; ``{"seed"}`` / ``{"spec"}`` forms left
    for :func:`resolve_code` / :func:`resolve_region`). Re-registering a name with another function is an
    error (two methods must not silently share a name).
    """

    def deco(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        old = _METHODS.get(name)
        if old is not None and (old.run.__module__, old.run.__qualname__) != (fn.__module__, fn.__qualname__):
            raise RecipeError(f"recipe method {name!r} is already registered by {old.run.__module__}")
        _METHODS[name] = RecipeMethod(
            name=name, run=fn, required=tuple(required), allowed=None if allowed is None else frozenset(allowed),
            doc=(fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
        )  # fmt: skip
        return fn

    return deco


def _load_builtin_methods() -> None:
    """Import every module of :mod:`regiongan.methods` once, so their recipe methods register."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from . import methods

    for info in pkgutil.iter_modules(methods.__path__):
        module = f"{methods.__name__}.{info.name}"
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - one broken method module must not hide the others
            _IMPORT_FAILURES[module] = f"{type(e).__name__}: {e}"


def list_methods() -> list[str]:
    """Names of all registered recipe methods."""
    _load_builtin_methods()
    return sorted(_METHODS)


def get_method(name: str) -> RecipeMethod:
    """The registered method ``name``, or a :class:`RecipeError` listing the known ones."""
    _load_builtin_methods()
    if name not in _METHODS:
        msg = f"unknown recipe method {name!r}; known methods: {sorted(_METHODS)}"
        if _IMPORT_FAILURES:
            msg += "; these method modules failed to import: " + "; ".join(
                f"{m} ({err})" for m, err in _IMPORT_FAILURES.items()
            )
        raise RecipeError(msg)
    return _METHODS[name]


def run(method: str, G, params: dict[str, Any]) -> torch.Tensor:
    """Run registered ``method`` on model ``G`` with decoded ``params`` -> images ``[N, 3, H, W]``."""
    m = get_method(method)
    if not isinstance(params, dict):
        raise RecipeError(f"params must be an object (dict), got {type(params).__name__}")
    missing = [k for k in m.required if k not in params]
    if missing:
        raise RecipeError(f"recipe method {method!r} needs parameter(s) {missing}; got {sorted(params)}")
    if m.allowed is not None:
        unknown = sorted(set(params) - m.allowed)
        if unknown:
            raise RecipeError(
                f"unknown parameter(s) {unknown} for recipe method {method!r}; accepted: {sorted(m.allowed)}"
            )
    with torch.no_grad():
        images = m.run(G, dict(params))
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise RecipeError(f"recipe method {method!r} returned {type(images).__name__}, not images [N, C, H, W]")
    return images


# --------------------------------------------------------------------------------------------------
# Parameter forms used by recipe methods


def resolve_code(G, value: Any, what: str = "code") -> torch.Tensor:
    """A code parameter: a tensor (returned as is), ``{"seed": s}`` -> z ``[1, z_dim]`` or
    ``{"seeds": [...]}`` -> z ``[N, z_dim]`` (NVlabs' seed convention)."""
    from .images import z_from_seeds

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict) and set(value) == {"seed"} and _is_seed(value["seed"]):
        return z_from_seeds([int(value["seed"])], G.z_dim)
    if isinstance(value, dict) and set(value) == {"seeds"} and value["seeds"] and all(map(_is_seed, value["seeds"])):
        return z_from_seeds([int(s) for s in value["seeds"]], G.z_dim)
    raise RecipeError(
        f"{what} must be a tensor, {{\"seed\": S}} or {{\"seeds\": [S, ...]}} with non-negative ints, got {value!r}"
    )


def _is_seed(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def resolve_region(value: Any, size: tuple[int, int], what: str = "region") -> Region:
    """A region parameter: a :class:`Region`, or ``{"spec": "box:…"}`` parsed at ``size``."""
    if isinstance(value, Region):
        return value
    if isinstance(value, dict) and set(value) == {"spec"} and isinstance(value["spec"], str):
        return parse_region(value["spec"], size)
    raise RecipeError(f"{what} must be a stored mask or {{\"spec\": \"box:...\"}}, got {value!r}")


def resolve_regionset(value: Any, size: tuple[int, int], what: str = "regions") -> RegionSet:
    """A RegionSet parameter: a :class:`RegionSet`, or ``{"specs": [...]}`` -> ``RegionSet.from_regions``
    (a ``background`` region first, then one region per spec, later specs winning overlaps)."""
    if isinstance(value, RegionSet):
        return value
    if isinstance(value, dict) and set(value) == {"specs"} and isinstance(value["specs"], list) and value["specs"]:
        return RegionSet.from_regions([parse_region(s, size) for s in value["specs"]])
    raise RecipeError(f"{what} must be a stored RegionSet or {{\"specs\": [\"box:...\", ...]}}, got {value!r}")


# --------------------------------------------------------------------------------------------------
# Encoding: Python values <-> JSON + sidecar tensors


def _encode(value: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        tensors[key] = value.detach().cpu().contiguous()
        return {"$tensor": key}
    if isinstance(value, Region):
        tensors[key] = value.mask.detach().cpu().contiguous()
        return {"$region": key}
    if isinstance(value, RegionSet):
        tensors[key] = value.masks.detach().cpu().contiguous()
        return {"$regionset": key, "names": list(value.names) if value.names else None}
    if isinstance(value, torch.Generator):
        if value.device.type != "cpu":
            raise RecipeError(f"{key}: only CPU torch.Generators can be stored in a recipe")
        tensors[key] = value.get_state().clone()
        return {"$generator": key}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k.startswith("$"):
                raise RecipeError(f"{key}: parameter names must be strings not starting with '$', got {k!r}")
            out[k] = _encode(v, f"{key}.{k}", tensors)
        return out
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{key}: {value} cannot be stored in a recipe (JSON has no NaN / inf)")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise RecipeError(
        f"{key}: a {type(value).__name__} cannot be stored in a recipe; use JSON values, tensors, Regions, "
        "RegionSets or a torch.Generator"
    )


def _decode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    marks = [k for k in value if k.startswith("$")]
    if not marks:
        return {k: _decode(v, tensors, f"{where}.{k}") for k, v in value.items()}
    kind = marks[0]
    if kind == "$tuple":
        return tuple(_decode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value[kind]))
    if kind not in ("$tensor", "$region", "$regionset", "$generator"):
        raise RecipeError(f"{where}: unknown value form {kind!r}")
    key = value[kind]
    if key not in tensors:
        raise RecipeError(f"{where}: tensor {key!r} is missing from the recipe's sidecar safetensors file")
    t = tensors[key]
    if kind == "$tensor":
        return t
    if kind == "$region":
        return Region(t)
    if kind == "$regionset":
        return RegionSet(t, names=value.get("names"))
    g = torch.Generator()
    g.set_state(t.to(torch.uint8))
    return g


# --------------------------------------------------------------------------------------------------
# The recipe file


@dataclass
class Recipe:
    """An edit: ``method`` applied to ``model`` with ``params`` (decoded values: tensors, Regions, …)."""

    method: str
    model: str
    params: dict[str, Any]
    model_digest: str | None = None
    outputs: list[str] = field(default_factory=list)
    regiongan_version: str = __version__
    recipe_version: int = RECIPE_VERSION

    def run(self, G) -> torch.Tensor:
        """Apply this recipe to the loaded model ``G`` -> images ``[N, 3, H, W]``."""
        return run(self.method, G, self.params)


def model_digest(G: torch.nn.Module) -> str:
    """``"sha256:…"`` of a model's state dict (names, dtypes, shapes and bytes), to detect changed weights."""
    h = hashlib.sha256()
    for name, t in sorted(G.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "sha256:" + h.hexdigest()


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the tensors of the recipe at ``path`` go: ``<stem>.safetensors`` next to it."""
    p = Path(path)
    return p.with_name(f"{p.stem}.safetensors")


def save_recipe(recipe: Recipe, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``recipe`` as JSON at ``path`` (+ the sidecar when a parameter is a tensor) and return the path.

    Validates that the method exists and the parameters are accepted, so a saved recipe always replays.
    Refuses to replace existing files unless ``overwrite=True``.
    """
    from .checkpoints.files import atomic_write, check_overwrite, json_writer, safetensors_writer

    path = Path(path)
    method = get_method(recipe.method)
    tensors: dict[str, torch.Tensor] = {}
    params = _encode(recipe.params, "params", tensors)
    missing = [k for k in method.required if k not in recipe.params]
    unknown = sorted(set(recipe.params) - method.allowed) if method.allowed is not None else []
    if missing or unknown:
        raise RecipeError(f"recipe for {recipe.method!r}: missing parameters {missing}, unknown parameters {unknown}")
    side = sidecar_path(path)
    check_overwrite([path] + ([side] if tensors else []), overwrite)
    data: dict[str, Any] = {
        "recipe_version": RECIPE_VERSION,
        "regiongan_version": recipe.regiongan_version,
        "method": recipe.method,
        "model": recipe.model,
        "model_digest": recipe.model_digest,
        "params": params,
    }
    if tensors:
        data["tensors"] = side.name
    if recipe.outputs:
        data["outputs"] = list(recipe.outputs)
    sidecar = {side.name: safetensors_writer(tensors, {"format": "regiongan-recipe", "recipe": path.name})}
    atomic_write(path.parent, {**(sidecar if tensors else {}), path.name: json_writer(data)})
    return path


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and validate a recipe file (and its sidecar) -> :class:`Recipe` with decoded params."""
    from .checkpoints.files import check_version, read_json, read_safetensors

    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file not found: '{path}'")
    data = read_json(path, RecipeError)
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a JSON object, got {type(data).__name__}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise RecipeError(f"{path}: missing field(s) {missing}; a recipe needs {list(_REQUIRED)}")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise RecipeError(f"{path}: unknown field(s) {unknown}; allowed: {sorted(_TOP_LEVEL)}")
    version = data["recipe_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecipeError(f"{path}: recipe_version must be a positive int, got {version!r}")
    check_version(data, path, RECIPE_VERSION, RecipeError, "recipe_version")
    for key, kind in (("method", str), ("model", str), ("params", dict)):
        if not isinstance(data[key], kind):
            raise RecipeError(f"{path}: field {key!r} must be a {kind.__name__}, got {data[key]!r}")
    get_method(data["method"])  # unknown method: a clear error now rather than at run time
    tensors: dict[str, torch.Tensor] = {}
    if data.get("tensors"):
        side = path.parent / str(data["tensors"])
        if not side.is_file():
            raise RecipeError(f"{path}: its tensors file '{side}' is missing (keep it next to the recipe)")
        tensors, _ = read_safetensors(side, RecipeError)
    params = _decode(data["params"], tensors, "params")
    outputs = data.get("outputs") or []
    return Recipe(
        method=data["method"], model=data["model"], params=params, model_digest=data.get("model_digest"),
        outputs=list(outputs), regiongan_version=str(data.get("regiongan_version", "?")), recipe_version=version,
    )  # fmt: skip


def load_recipe_model(recipe: Recipe, recipe_path: str | os.PathLike | None = None, model: str | None = None):
    """Load the recipe's model (or ``model`` instead): a shipped name or a path, relative paths tried from
    the working directory and then from the recipe's directory. Warns (:class:`RecipeWarning`) when the
    weights differ from the recorded digest."""
    from .checkpoints import load_model

    name = model or recipe.model
    candidate = Path(name)
    if not candidate.exists() and recipe_path is not None and not candidate.is_absolute():
        beside = Path(recipe_path).parent / candidate
        if beside.exists():
            name = str(beside)
    G = load_model(name)
    if recipe.model_digest and model_digest(G) != recipe.model_digest:
        warnings.warn(
            f"the model {name!r} differs from the one this recipe was made with (weights digest changed); "
            "the replay will not reproduce the recorded images bit-for-bit",
            RecipeWarning,
            stacklevel=2,
        )
    return G


def replay(recipe_path: str | os.PathLike, model: str | None = None, G=None) -> torch.Tensor:
    """Reproduce a recipe's images ``[N, 3, H, W]`` (bit-for-bit on the same machine and torch build).

    ``model`` replaces the recipe's model name/path; ``G`` passes an already loaded model instead.
    """
    recipe = load_recipe(recipe_path)
    if G is None:
        G = load_recipe_model(recipe, recipe_path, model)
    return recipe.run(G)
