"""Edit recipes: every result as a small JSON file that replays bit-for-bit.

A recipe names a registered operation (:mod:`regiongan.registry`), the model, and the operation's
parameters — exactly the keyword arguments it was called with. Replaying calls the operation again with
the same arguments, so on the same machine (same torch build and thread count) it gives identical images.

    {
      "recipe_version": 2,
      "regiongan_version": "0.2.0",
      "method": "itan.resample",
      "model": "faces-64",
      "model_fingerprint": "sha256:…",      # of the weights; replay warns if the model changed
      "params": {"code": 3, "region": "box:16,16,48,40", "variations": 8, "layers": {"$tuple": [8, 64]}},
      "tensors": "resample.safetensors",      # sidecar, only when some parameter is a tensor
      "outputs": ["resample_00.png", …]       # informational: the images written next to the recipe
    }

Parameter values are JSON, plus these forms, stored in the safetensors sidecar (written automatically):
``{"$tensor": key}``, ``{"$region": key}``, ``{"$regionset": key, "names": […]}``, ``{"$generator": key}``
(a ``torch.Generator``'s state); and ``{"$tuple": […]}``. Codes given as seeds stay seeds and regions given
as spec strings stay strings: each operation reads them as it did the first time.

This module imports only the registry (and the value types it stores); :func:`regiongan.replay` loads the
methods and runs a recipe.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .identity import model_fingerprint
from .registry import RegistryError, get_method
from .regions import Region, RegionSet

__all__ = [
    "RECIPE_VERSION",
    "Recipe",
    "RecipeError",
    "RecipeWarning",
    "save_recipe",
    "load_recipe",
    "load_recipe_model",
    "sidecar_path",
    "recipe_files",
]

RECIPE_VERSION = 2
_TOP_LEVEL = {
    "recipe_version", "regiongan_version", "method", "model", "model_fingerprint", "params", "tensors", "outputs",
}  # fmt: skip
_REQUIRED = ("recipe_version", "method", "model", "params")


class RecipeError(ValueError):
    """A recipe that cannot be read, validated or run: say what is wrong and how to fix it."""


class RecipeWarning(UserWarning):
    """Replay can run but may not reproduce the recorded images (e.g. the model's weights changed)."""


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
    """A result's provenance: operation ``method`` applied to ``model`` with ``params`` (decoded values)."""

    method: str
    model: str
    params: dict[str, Any]
    model_fingerprint: str | None = None
    outputs: list[str] = field(default_factory=list)
    regiongan_version: str = __version__
    recipe_version: int = RECIPE_VERSION

    def check(self) -> None:
        """Raise :class:`RecipeError` unless ``method`` is registered and accepts ``params``."""
        try:
            spec = get_method(self.method)
        except RegistryError as e:
            raise RecipeError(str(e)) from None
        if not isinstance(self.params, dict):
            raise RecipeError(f"params must be an object (dict), got {type(self.params).__name__}")
        missing = [k for k in spec.required if k not in self.params]
        unknown = sorted(set(self.params) - spec.allowed)
        if missing or unknown:
            raise RecipeError(
                f"recipe for {self.method!r}: missing parameter(s) {missing}, unknown parameter(s) {unknown}; "
                f"accepted: {sorted(spec.allowed)}"
            )

    def run(self, G):
        """Apply this recipe to the loaded model ``G`` -> :class:`~regiongan.results.Result`."""
        self.check()
        with torch.no_grad():
            return get_method(self.method).run(G, **self.params)

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write this recipe as JSON at ``path`` (+ ``<stem>.safetensors`` when a parameter is a tensor)."""
        return save_recipe(self, path, overwrite=overwrite)


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the tensors of the recipe at ``path`` go: ``<stem>.safetensors`` next to it."""
    p = Path(path)
    return p.with_name(f"{p.stem}.safetensors")


def recipe_files(recipe: Recipe, path: str | os.PathLike) -> dict[str, Any]:
    """``{file name: writer}`` of a recipe at ``path``: the JSON and, when needed, its sidecar. Validates
    the recipe first, so a saved recipe always replays."""
    from .checkpoints.files import json_writer, safetensors_writer

    path = Path(path)
    recipe.check()
    tensors: dict[str, torch.Tensor] = {}
    params = _encode(recipe.params, "params", tensors)
    side = sidecar_path(path)
    data: dict[str, Any] = {
        "recipe_version": RECIPE_VERSION,
        "regiongan_version": recipe.regiongan_version,
        "method": recipe.method,
        "model": recipe.model,
        "model_fingerprint": recipe.model_fingerprint,
        "params": params,
    }
    files: dict[str, Any] = {}
    if tensors:
        data["tensors"] = side.name
        files[side.name] = safetensors_writer(tensors, {"format": "regiongan-recipe", "recipe": path.name})
    if recipe.outputs:
        data["outputs"] = list(recipe.outputs)
    files[path.name] = json_writer(data)
    return files


def save_recipe(recipe: Recipe, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``recipe`` as JSON at ``path`` (+ the sidecar when a parameter is a tensor) and return the path.

    Validates that the method exists and the parameters are accepted, so a saved recipe always replays.
    Refuses to replace existing files unless ``overwrite=True``.
    """
    from .checkpoints.files import atomic_write, check_overwrite

    path = Path(path)
    files = recipe_files(recipe, path)
    check_overwrite([path.parent / name for name in files], overwrite)
    atomic_write(path.parent, files)
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
    version = data["recipe_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecipeError(f"{path}: recipe_version must be a positive int, got {version!r}")
    if version < RECIPE_VERSION:
        raise RecipeError(
            f"{path}: recipe_version {version} was written by regiongan {data.get('regiongan_version', '?')}, "
            f"whose method names and parameters this version no longer reads; replay it with that version"
        )
    check_version(data, path, RECIPE_VERSION, RecipeError, "recipe_version")
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        raise RecipeError(f"{path}: unknown field(s) {unknown}; allowed: {sorted(_TOP_LEVEL)}")
    for key, kind in (("method", str), ("model", str), ("params", dict)):
        if not isinstance(data[key], kind):
            raise RecipeError(f"{path}: field {key!r} must be a {kind.__name__}, got {data[key]!r}")
    tensors: dict[str, torch.Tensor] = {}
    if data.get("tensors"):
        name = data["tensors"]
        if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
            raise RecipeError(f"{path}: 'tensors' must be a file name next to the recipe, got {name!r}")
        side = path.parent / name
        if not side.is_file():
            raise RecipeError(f"{path}: its tensors file '{side}' is missing (keep it next to the recipe)")
        tensors, _ = read_safetensors(side, RecipeError)
    params = _decode(data["params"], tensors, "params")
    outputs = data.get("outputs") or []
    return Recipe(
        method=data["method"], model=data["model"], params=params, model_fingerprint=data.get("model_fingerprint"),
        outputs=list(outputs), regiongan_version=str(data.get("regiongan_version", "?")), recipe_version=version,
    )  # fmt: skip


def load_recipe_model(recipe: Recipe, recipe_path: str | os.PathLike | None = None, model: str | None = None):
    """Load the recipe's model (or ``model`` instead): a shipped name or a path, relative paths tried from
    the working directory and then from the recipe's directory. Warns (:class:`RecipeWarning`) when the
    weights differ from the recorded fingerprint."""
    from .checkpoints import load_model

    name = model or recipe.model
    if not name:
        raise RecipeError("the recipe names no model (it was made with an unnamed model); pass model=PATH")
    candidate = Path(name)
    if not candidate.exists() and recipe_path is not None and not candidate.is_absolute():
        beside = Path(recipe_path).parent / candidate
        if beside.exists():
            name = str(beside)
    G = load_model(name)
    if recipe.model_fingerprint and model_fingerprint(G) != recipe.model_fingerprint:
        warnings.warn(
            f"the model {name!r} differs from the one this recipe was made with (fingerprint changed); "
            "the replay will not reproduce the recorded images bit-for-bit",
            RecipeWarning,
            stacklevel=2,
        )
    return G
