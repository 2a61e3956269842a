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
      "tensors": "resample.safetensors",      # sidecar, only when some parameter is a tensor …
      "tensors_sha256": "…",                  # … and its digest: a sidecar from another save is refused
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

import hashlib
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

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
    "recipe_version", "regiongan_version", "method", "model", "model_fingerprint", "params", "tensors", "tensors_sha256",
    "outputs",
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


#: How deeply a recipe's parameter values may nest (lists in dicts in lists …); real recipes use 3 or 4.
_MAX_DEPTH = 32
#: The keys each value form may have besides its mark.
_FORM_KEYS = {"$tuple": set(), "$tensor": set(), "$region": set(), "$regionset": {"names"}, "$generator": set()}


def _decode(value: Any, tensors: dict[str, torch.Tensor], where: str, depth: int = 0) -> Any:
    """A parameter value as stored (JSON + sidecar tensors) -> the Python value, or a one-line RecipeError
    naming where in ``params`` the value is malformed. Values are checked further by the operation itself."""
    if depth > _MAX_DEPTH:
        raise RecipeError(f"{where}: values nested deeper than {_MAX_DEPTH} levels; this is not a recipe regiongan wrote")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{where}: {value} is not a number a recipe may hold (JSON has no NaN / Infinity); give a finite number")
    if isinstance(value, list):
        return [_decode(v, tensors, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    marks = [k for k in value if k.startswith("$")]
    if not marks:
        return {k: _decode(v, tensors, f"{where}.{k}", depth + 1) for k, v in value.items()}
    kind = marks[0]
    if kind not in _FORM_KEYS:
        raise RecipeError(f"{where}: unknown value form {kind!r}; known: {sorted(_FORM_KEYS)}")
    extra = sorted(set(value) - {kind} - _FORM_KEYS[kind])
    if extra:
        raise RecipeError(f"{where}: a {{{kind!r}: …}} value has unexpected key(s) {extra}")
    if kind == "$tuple":
        if not isinstance(value[kind], list):
            raise RecipeError(f"{where}: {{'$tuple': …}} must hold a list, got {value[kind]!r:.60}")
        return tuple(_decode(v, tensors, f"{where}[{i}]", depth + 1) for i, v in enumerate(value[kind]))
    key = value[kind]
    if not isinstance(key, str):
        raise RecipeError(f"{where}: {{{kind!r}: …}} must name a tensor of the sidecar file, got {key!r:.60}")
    if key not in tensors:
        raise RecipeError(f"{where}: tensor {key!r} is missing from the recipe's sidecar safetensors file")
    t = tensors[key]
    if kind == "$tensor":
        return t
    try:
        if kind == "$region":
            return Region(t)
        if kind == "$regionset":
            names = value.get("names")
            if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
                raise RecipeError(f"'names' must be a list of region names or null, got {names!r:.60}")
            return RegionSet(t, names=names)
        if t.dtype != torch.uint8 or t.ndim != 1:
            raise RecipeError(f"a generator state is a 1-D uint8 tensor, got {t.dtype} {list(t.shape)}")
        g = torch.Generator()
        g.set_state(t)
        return g
    except (ValueError, RuntimeError) as e:  # RegionError is a ValueError; set_state raises RuntimeError
        raise RecipeError(f"{where}: {' '.join(str(e).split())}") from None


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
    """``{file name: writer}`` of a recipe at ``path``: the sidecar (when needed), then the JSON, which
    records the sidecar's sha256 — written in this order, the JSON commits the pair. Validates the recipe
    first, so a saved recipe always replays."""
    from .checkpoints.files import bytes_writer, json_writer

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
        blob = safetensors_bytes(tensors, metadata={"format": "regiongan-recipe", "recipe": path.name})
        data["tensors"] = side.name
        data["tensors_sha256"] = hashlib.sha256(blob).hexdigest()
        files[side.name] = bytes_writer(blob)
    if recipe.outputs:
        data["outputs"] = list(recipe.outputs)
    files[path.name] = json_writer(data)
    return files


def save_recipe(recipe: Recipe, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``recipe`` as JSON at ``path`` (+ the sidecar when a parameter is a tensor) and return the path.

    Validates that the method exists and the parameters are accepted, so a saved recipe always replays.
    Refuses to replace existing files unless ``overwrite=True`` (a symbolic link or a directory never).
    Each file is written whole and moved in, the JSON last; it holds the sidecar's sha256, so a save
    interrupted between the two files fails to load instead of pairing a JSON with another save's tensors.
    """
    from .checkpoints.files import atomic_write, check_overwrite

    path = Path(path)
    files = recipe_files(recipe, path)
    check_overwrite([path.parent / name for name in files], overwrite)
    atomic_write(path.parent, files)
    return path


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and validate a recipe file (and its sidecar) -> :class:`Recipe` with decoded params."""
    from .checkpoints.files import check_version, read_json

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
    tensors = _read_sidecar(path, data) if data.get("tensors") else {}
    params = _decode(data["params"], tensors, "params")
    for key in ("model_fingerprint", "regiongan_version"):
        if not isinstance(data.get(key), (str, type(None))):
            raise RecipeError(f"{path}: field {key!r} must be a string, got {data[key]!r:.60}")
    outputs = data.get("outputs") or []
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise RecipeError(f"{path}: field 'outputs' must be a list of file names, got {outputs!r:.60}")
    return Recipe(
        method=data["method"], model=data["model"], params=params, model_fingerprint=data.get("model_fingerprint"),
        outputs=list(outputs), regiongan_version=str(data.get("regiongan_version", "?")), recipe_version=version,
    )  # fmt: skip


def _read_sidecar(path: Path, data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of the recipe ``path``: a plain file next to it whose sha256 is the recorded one."""
    from .checkpoints.files import read_safetensors

    name, digest = data["tensors"], data.get("tensors_sha256")
    if not isinstance(name, str) or Path(name).name != name or name in (".", ".."):
        raise RecipeError(f"{path}: 'tensors' must be a file name next to the recipe, got {name!r}")
    side = path.parent / name
    if side.is_symlink() and side.resolve().parent != path.parent.resolve():
        raise RecipeError(
            f"{path}: its tensors file '{side}' is a link out of the recipe's folder; put the file itself next to the recipe"
        )
    if not side.exists():
        raise RecipeError(f"{path}: its tensors file '{side}' is missing (keep it next to the recipe)")
    if not side.is_file():
        raise RecipeError(
            f"{path}: its tensors file '{side}' is not a regular file; put the recipe's .safetensors file there"
        )
    if not isinstance(digest, str) or len(digest) != 64:
        raise RecipeError(
            f"{path}: 'tensors_sha256' must be the sha256 (64 hex digits) of its tensors file, got {digest!r}; "
            "save the recipe again (result.recipe.save) or rerun the command that made it"
        )
    tensors, _ = read_safetensors(side, RecipeError)
    if _sha256(side) != digest.lower():
        raise RecipeError(
            f"{path}: its tensors file '{side.name}' does not match: an interrupted save or an edited file (its "
            "sha256 is not the recorded one); save the recipe again or rerun the command that made it"
        )
    return tensors


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
