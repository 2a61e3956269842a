"""The result of a factorization: :class:`Directions`, its file format and its recipe form.

A directions file is one safetensors file (never a pickle): the tensors ``vectors``, ``eigenvalues`` and
``region`` plus JSON metadata (space, rows, the model's :func:`~regiongan.identity.model_record`, and how
they were computed). Directions transfer between fine-tunes of one architecture, so loading checks the
architecture (:func:`~regiongan.identity.check_same_architecture`), not the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

import torch

from ... import __version__
from ...checkpoints.files import atomic_write, check_overwrite, check_version, read_safetensors, safetensors_writer
from ...latents import DIRECTION_SPACES, check_truncation_psi
from ...validate import finite_tensor, integer, json_field

__all__ = ["Directions", "DirectionsLike", "FORMAT", "FORMAT_VERSION", "load_directions", "as_directions", "directions_summary"]

FORMAT = "regiongan-directions"
#: 2: the model is an :func:`identity.model_record` (1 stored an older digest, which nothing reads now).
FORMAT_VERSION = 2
#: The meta keys the recipe form of one direction keeps (the rest describes the computation, not the edit).
_RECIPE_META = ("truncation_psi", "index", "region_spec", "samples", "solver", "tau", "layers")
#: How far a direction's norm may be from 1 (float32 rounding of a normalised vector is ~1e-7).
_UNIT_TOLERANCE = 1e-3


def _json_clean(value: Any, what: str) -> Any:
    """``value`` as JSON gives it back (int dict keys become strings, tuples lists)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Directions.{what} must be JSON-serialisable: {e}") from None


@dataclass
class Directions:
    """Local directions found by :func:`~regiongan.methods.resefa.find_directions`.

    vectors: ``[k, d]`` float32 unit rows, best first; eigenvalues: ``[k]`` float64 (the Rayleigh quotient
    ``nᵀAn / nᵀ(B+αI)n``: mean squared change per pixel inside ÷ outside the region); space: ``"w"``,
    ``"w+"``, ``"z"`` or a family space (``"class"``; :data:`~regiongan.latents.DIRECTION_SPACES`); rows: the
    W+ rows the directions move (``()`` for z and family spaces, which move every layer); region: the masks used
    ``[1|N, 1, H, W]`` (one per sample for part regions; None in the recipe form); model: the
    :func:`~regiongan.identity.model_record` of the model they were computed on; meta: how they were
    computed (samples, seeds, τ, α, solver, timings, ``truncation_psi``, ``layers`` …).
    """

    vectors: torch.Tensor
    eigenvalues: torch.Tensor
    space: str
    rows: tuple[int, ...]
    region: torch.Tensor | None = None
    model: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every field is checked here, so a file, a recipe's record and a hand-built object obey one rule."""
        if (
            not isinstance(self.vectors, torch.Tensor) or not isinstance(self.eigenvalues, torch.Tensor)
            or self.vectors.ndim != 2 or self.eigenvalues.shape != (self.vectors.shape[0],) or not self.vectors.shape[0]
        ):  # fmt: skip
            shapes = [tuple(getattr(t, "shape", ())) for t in (self.vectors, self.eigenvalues)]
            raise ValueError(
                f"Directions: vectors must be [k, d] and eigenvalues [k] with k >= 1, got {shapes[0]} and {shapes[1]}"
            )
        if not isinstance(self.space, str) or self.space not in DIRECTION_SPACES:
            raise ValueError(f"Directions: unknown space {self.space!r}; use one of {DIRECTION_SPACES}")
        if isinstance(self.rows, (str, bytes)) or not isinstance(self.rows, (list, tuple)):
            raise ValueError(f"Directions: rows must be a list of W+ row indices, got {self.rows!r}")
        self.rows = tuple(integer(r, "Directions: each of rows (a W+ row index)", 0) for r in self.rows)
        if (self.space in ("w", "w+")) != bool(self.rows):
            raise ValueError(
                f"Directions: space {self.space!r} with rows {self.rows}: z moves no rows (nor does a family space "
                "such as 'class'), w / w+ at least one"
            )
        if self.space == "w+" and self.vectors.shape[1] % len(self.rows):
            raise ValueError(f"Directions: w+ vectors of size {self.vectors.shape[1]} do not split over {len(self.rows)} rows")
        finite_tensor(self.vectors, "Directions: vectors", ("k", "d"))
        finite_tensor(self.eigenvalues, "Directions: eigenvalues", ("k",))
        norms = self.vectors.double().norm(dim=1)
        off = int((norms - 1).abs().argmax())
        if abs(float(norms[off]) - 1) > _UNIT_TOLERANCE:
            raise ValueError(
                f"Directions: vectors must be unit rows (a strength is a distance along them), but row {off} has norm "
                f"{float(norms[off]):.6g}; normalise them (v / v.norm(dim=1, keepdim=True))"
            )
        if self.region is not None:
            finite_tensor(self.region, "Directions: region", ("N", 1, "H", "W"))
        for name in ("model", "meta"):
            if not isinstance(getattr(self, name), Mapping):
                raise ValueError(f"Directions: {name} must be a dict of JSON values, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.model.get("name"), (str, type(None))):
            raise ValueError(f"Directions: model['name'] must be a model name or null, got {self.model.get('name')!r}")
        if "truncation_psi" in self.meta:
            check_truncation_psi(self.meta["truncation_psi"], "Directions: meta['truncation_psi']")
        self.model = _json_clean(dict(self.model), "model")
        self.meta = _json_clean(dict(self.meta), "meta")
        layers = self.meta.get("layers")
        if layers is not None and (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)):
            raise ValueError(f"Directions: meta['layers'] must be a list of control point names or null, got {layers!r}")

    @property
    def k(self) -> int:
        """How many directions."""
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        """``d``, the size of one direction."""
        return int(self.vectors.shape[1])

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the control points the moved W+ rows feed (``()`` for z)."""
        return tuple(self.meta.get("layers") or ())

    def vector(self, index: int) -> torch.Tensor:
        """Direction ``index`` ``[d]`` (0 = the most local)."""
        return self.vectors[self._check_index(index)]

    def _check_index(self, index: int) -> int:
        if not isinstance(index, int) or isinstance(index, bool) or not -self.k <= index < self.k:
            raise IndexError(f"direction index {index!r} out of range: there are {self.k} directions (0..{self.k - 1})")
        return index % self.k

    def select(self, index: int) -> Directions:
        """Direction ``index`` alone (k = 1, no region masks); ``meta["index"]`` remembers which it was."""
        i = self._check_index(index)
        meta = {**self.meta, "index": self.meta.get("index", i) if self.k == 1 else i}
        return Directions(
            vectors=self.vectors[i : i + 1].clone(), eigenvalues=self.eigenvalues[i : i + 1].clone(), space=self.space,
            rows=self.rows, region=None, model=self.model, meta=meta,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The small, self-contained form a recipe stores: tensors, space, rows, model record, the meta
        that matters for an edit (no region masks). :meth:`from_dict` reads it back."""
        return {
            "vectors": self.vectors.detach().to(torch.float32).cpu().contiguous(),
            "eigenvalues": self.eigenvalues.detach().to(torch.float64).cpu().contiguous(),
            "space": self.space,
            "rows": list(self.rows),
            "model": self.model,
            "meta": {k: self.meta[k] for k in _RECIPE_META if k in self.meta},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Directions:
        """Directions from :meth:`to_dict`'s form (every field checked by the constructor)."""
        missing = [k for k in ("vectors", "eigenvalues", "space", "rows") if k not in data]
        if missing:
            raise ValueError(f"a directions record needs {missing} (write it with Directions.to_dict())")
        return cls(
            vectors=data["vectors"], eigenvalues=data["eigenvalues"], space=data["space"], rows=data["rows"],
            region=None, model=data.get("model") or {}, meta=data.get("meta") or {},
        )  # fmt: skip

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write a safetensors file (tensors + JSON metadata; never a pickle) and return its path. Refuses
        to replace a file unless ``overwrite=True``."""
        path = Path(path)
        check_overwrite([path], overwrite)
        info = {"space": self.space, "rows": list(self.rows), "model": self.model, "meta": self.meta}
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "regiongan_version": __version__,
            "directions": json.dumps(info, allow_nan=False),
        }
        tensors = {
            "vectors": self.vectors.detach().to(torch.float32).cpu().contiguous(),
            "eigenvalues": self.eigenvalues.detach().to(torch.float64).cpu().contiguous(),
        }
        if self.region is not None:
            tensors["region"] = self.region.detach().to(torch.float32).cpu().contiguous()
        atomic_write(path.parent, {path.name: safetensors_writer(tensors, metadata)})
        return path


def load_directions(path: str | Path) -> Directions:
    """Read a file written by :meth:`Directions.save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"directions file not found: '{path}'")
    tensors, metadata = read_safetensors(path, ValueError)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a regiongan directions file (format {metadata.get('format')!r}, expected {FORMAT!r})")
    raw = metadata.get("format_version", "0")  # safetensors metadata holds strings
    try:
        version = int(raw)
    except ValueError:
        raise ValueError(f"{path}: format_version must be an int, got {raw[:20]!r}") from None
    check_version({**metadata, "format_version": version}, path, FORMAT_VERSION, ValueError)
    if version < FORMAT_VERSION:
        raise ValueError(
            f"{path}: directions format_version {metadata.get('format_version')} (regiongan "
            f"{metadata.get('regiongan_version', '?')}) is no longer read; recompute them with find_directions "
            "(CLI: regiongan directions)"
        )
    missing = [k for k in ("vectors", "eigenvalues") if k not in tensors]
    if missing or "directions" not in metadata:
        raise ValueError(f"{path}: incomplete directions file (missing {missing or ['metadata']})")
    try:
        info = json.loads(metadata["directions"])
    except ValueError as e:
        raise ValueError(f"{path}: the directions metadata is not valid JSON ({e}); the file is damaged: make it again") from None
    where = f"{path}: directions metadata"
    try:
        return Directions(
            vectors=tensors["vectors"], eigenvalues=tensors["eigenvalues"], space=json_field(info, "space", str, where),
            rows=json_field(info, "rows", list, where), region=tensors.get("region"),
            model=json_field(info, "model", dict, where, default={}), meta=json_field(info, "meta", dict, where, default={}),
        )  # fmt: skip
    except ValueError as e:
        message = str(e)
        raise ValueError(message if message.startswith(str(path)) else f"{path}: {message}") from None


#: What an operation accepts as ``directions``: the object, a file path, or the recipe form (a dict).
DirectionsLike = Union[Directions, str, Path, Mapping[str, Any]]


def as_directions(value: DirectionsLike) -> Directions:
    """``value`` as :class:`Directions`: the object itself, a file read by :func:`load_directions`, or
    :meth:`Directions.to_dict`'s form."""
    if isinstance(value, Directions):
        return value
    if isinstance(value, (str, Path)):
        return load_directions(value)
    if isinstance(value, Mapping):
        return Directions.from_dict(value)
    raise TypeError(
        f"directions must be a Directions (find_directions / load_directions), a directions file path, or "
        f"Directions.to_dict()'s form, got {type(value).__name__}"
    )


def directions_summary(directions: Directions) -> dict[str, Any]:
    """A short JSON-able description (for the CLI)."""
    keys = ("samples", "solver", "tau", "region_spec", "truncation_psi", "class", "jacobian_seconds_per_sample")
    return {
        "k": directions.k, "dim": directions.dim, "space": directions.space, "rows": list(directions.rows),
        "eigenvalues": [round(float(v), 6) for v in directions.eigenvalues], "model": directions.model.get("name"),
        **{key: directions.meta.get(key) for key in keys},
    }  # fmt: skip
