"""The semantic catalog of one model: cluster centroids, contribution matrices, part names, and its files.

A :class:`Catalog` holds the K centroids of the catalog layer, one contribution matrix ``M_l [K, C_l]``
per control point (:mod:`.contributions`), names that merge clusters into parts (``{"eyes": [3, 7]}``),
the :func:`~regiongan.identity.model_record` of the model it was built from, and how it was built.

On disk a catalog is a directory with ``catalog.json`` (everything but the tensors) and
``catalog.safetensors`` (``centroids`` and ``contribution/<control point>``); never a pickle. The JSON
records the sha256 of the tensors file, and loading verifies it, so the two files are one unit: a save
that was interrupted between them, or files from two different catalogs, fail to load with an error
instead of giving a wrong catalog. Catalogs that ship with regiongan live in ``regiongan/models/<name>/``
and load by name (:func:`load_catalog`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import torch
from safetensors.torch import save as safetensors_bytes

from ... import __version__
from ...checkpoints import MODELS_DIR
from ...checkpoints.files import atomic_write, check_format, check_overwrite, json_writer, read_json, read_safetensors
from ...identity import check_same_weights
from ...ops.masks import resize_mask
from ...validate import finite_tensor, json_field
from .contributions import hard_memberships
from .errors import CatalogError

__all__ = [
    "CATALOG_FORMAT",
    "CATALOG_VERSION",
    "JSON_FILE",
    "TENSORS_FILE",
    "PartSpec",
    "Catalog",
    "catalog_path",
    "shipped_catalog_dir",
    "list_catalogs",
    "load_catalog",
]

CATALOG_FORMAT = "regiongan-catalog"
#: 2: the model is identified by :func:`~regiongan.identity.model_record` (version 1 stored a 16-hex
#: fingerprint of sampled weights) and the JSON holds the tensors file's sha256.
CATALOG_VERSION = 2
JSON_FILE = "catalog.json"
TENSORS_FILE = "catalog.safetensors"
_BUILD = "`regiongan catalog --model MODEL --out DIR` (or build_catalog(G).save(DIR))"
_REBUILD = f"rebuild it with {_BUILD}"

#: A part: a catalog name, a cluster id (int or ``"3"``) or a list of cluster ids.
PartSpec = Union[str, int, Sequence[int]]
#: Contribution values are fractions in [0, 1]; this much rounding beyond either end is accepted.
_FRACTION_TOLERANCE = 1e-4


@dataclass
class Catalog:
    """A semantic catalog of one model.

    centroids: ``[K, C]`` unit vectors at ``layer``; contributions: per control point name ``M_l [K, C_l]``
    (columns sum to 1); model: :func:`~regiongan.identity.model_record` of the model it was built from
    (JSON values); names: ``{part: [cluster ids]}``; info: how it was built (JSON values).
    """

    centroids: torch.Tensor
    layer: str
    contributions: dict[str, torch.Tensor]
    model: dict[str, Any]
    names: dict[str, list[int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every field is checked here, so a catalog file, a recipe's record and a built catalog obey one rule."""
        if not isinstance(self.centroids, torch.Tensor) or self.centroids.ndim != 2 or not self.centroids.shape[0]:
            raise CatalogError(f"centroids must be a [K, C] tensor, got {getattr(self.centroids, 'shape', self.centroids)!r}")
        finite_tensor(self.centroids, "the catalog's centroids", ("K", "C"), CatalogError)
        if not isinstance(self.layer, str) or not self.layer:
            raise CatalogError(f"the catalog layer must be a control point name, got {self.layer!r}")
        if not isinstance(self.contributions, Mapping):
            got = type(self.contributions).__name__
            raise CatalogError(f"contributions must be a dict {{control point: [K, C] tensor}}, got {got}")
        for name, m in self.contributions.items():
            if not isinstance(m, torch.Tensor) or m.ndim != 2 or m.shape[0] != self.k:
                raise CatalogError(f"contribution matrix {name} must be [K={self.k}, C], got {getattr(m, 'shape', m)!r}")
            finite_tensor(m, f"contribution matrix {name}", (self.k, "C"), CatalogError)
            if m.numel() and (float(m.min()) < -_FRACTION_TOLERANCE or float(m.max()) > 1 + _FRACTION_TOLERANCE):
                raise CatalogError(
                    f"contribution matrix {name} holds values from {float(m.min()):.4g} to {float(m.max()):.4g}, but "
                    f"contributions are fractions in [0, 1]; {_REBUILD}"
                )
        fingerprint = self.model.get("fingerprint") if isinstance(self.model, Mapping) else None
        if not isinstance(fingerprint, str) or not fingerprint:
            got = f"fingerprint {fingerprint!r}" if isinstance(self.model, Mapping) else type(self.model).__name__
            raise CatalogError(f"model must be the record of identity.model_record(G) with a fingerprint, got {got}")
        if not isinstance(self.names, Mapping) or not isinstance(self.info, Mapping):
            bad = "names" if not isinstance(self.names, Mapping) else "info"
            raise CatalogError(f"the catalog's {bad} must be a dict, got {type(getattr(self, bad)).__name__}")
        # JSON values only (a config may hold int keys), so the record saves and travels in recipes as it is
        self.model = json.loads(json.dumps(dict(self.model), default=str))
        names, self.names = self.names, {}
        self.name_clusters(names)

    @property
    def k(self) -> int:
        """Number of clusters K."""
        return int(self.centroids.shape[0])

    # ---- naming
    def name_clusters(self, mapping: Mapping[str, int | Sequence[int]], replace: bool = False) -> Catalog:
        """Name (and so merge) clusters: ``{"eyes": [3, 7], "nose": 5}``. A name given again is replaced;
        ``replace=True`` forgets all earlier names. Returns the catalog (changed in place)."""
        if not isinstance(mapping, Mapping):
            raise CatalogError(f"names must be a mapping {{part: [cluster ids]}}, got {type(mapping).__name__}")
        new: dict[str, list[int]] = {}
        for name, ids in mapping.items():
            if not isinstance(name, str) or not name.strip() or name.strip().isdigit() or name != name.strip():
                raise CatalogError(f"a part name must be a non-empty word that is not a number, got {name!r}")
            if not isinstance(ids, (int, list, tuple)):
                raise CatalogError(f"part {name!r}: cluster ids must be an int or a list of ints, got {ids!r}")
            ids_list = [ids] if isinstance(ids, int) else list(ids)
            bad = [i for i in ids_list if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.k]
            if bad or not ids_list:
                raise CatalogError(f"part {name!r}: cluster ids must be ints in 0..{self.k - 1}, got {ids!r}")
            new[name] = sorted(set(ids_list))
        if replace:
            self.names = {}
        self.names.update(new)
        return self

    def parts(self) -> list[str]:
        """The part names, sorted."""
        return sorted(self.names)

    def cluster_ids(self, part: PartSpec) -> list[int]:
        """Cluster ids of a part: a name, a cluster id (int or ``"3"``) or a list of ids."""
        if isinstance(part, str):
            if part in self.names:
                return list(self.names[part])
            if part.strip().isdigit() and int(part) < self.k:
                return [int(part)]
        elif isinstance(part, int) and not isinstance(part, bool):
            if 0 <= part < self.k:
                return [part]
        elif isinstance(part, (list, tuple)) and part and all(isinstance(i, int) and not isinstance(i, bool) for i in part):
            if all(0 <= i < self.k for i in part):
                return sorted(set(part))
        avail = ", ".join(f"{n}={ids}" for n, ids in sorted(self.names.items())) or "none named yet"
        raise CatalogError(
            f"unknown part {part!r}; this catalog's parts: {avail}; or give cluster ids 0..{self.k - 1} "
            "(name clusters with catalog.name_clusters({'eyes': [3, 7]}) or `regiongan name-clusters`)"
        )

    def part_contributions(self, part: PartSpec) -> dict[str, torch.Tensor]:
        """Per control point the contribution row of a part ``[C_l]``: the sum of its clusters' rows (the
        membership of a union of clusters is the sum of theirs, so this is Eq. 1 for the merged part)."""
        ids = self.cluster_ids(part)
        return {name: m[ids].sum(dim=0) for name, m in self.contributions.items()}

    # ---- the model
    def check_model(self, G) -> None:
        """Raise :class:`~regiongan.identity.ModelMismatchError` unless ``G`` has the weights this catalog
        was built from, and :class:`CatalogError` if its matrices do not fit ``G``'s control points."""
        check_same_weights(G, self.model, "this catalog")
        expected = {p.name: p.channels for p in G.control_points()}
        got = {name: int(m.shape[1]) for name, m in self.contributions.items()}
        if got != expected:
            raise CatalogError(f"the catalog's contribution matrices {got} do not fit the model's control points {expected}")

    def memberships(self, features: Mapping[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """Hard memberships ``U [N, K, h, w]`` from the catalog layer's activations (or a features dict)."""
        a = features[self.layer] if isinstance(features, Mapping) else features
        return hard_memberships(a, self.centroids.to(a.device))

    def part_mask(self, features: Mapping[str, torch.Tensor] | torch.Tensor, part: PartSpec, size: int) -> torch.Tensor:
        """Binary ROI ``[N, 1, size, size]`` of a part: its clusters' memberships resized (bilinear up) and
        thresholded at 0.5 — the paper's ROI for In/Out-MSE."""
        u = self.memberships(features)[:, self.cluster_ids(part)].sum(dim=1, keepdim=True)
        return (resize_mask(u, size, size) >= 0.5).to(torch.float32)

    # ---- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain values and tensors, without ``info`` (what a recipe stores: JSON + safetensors sidecar)."""
        return {
            "layer": self.layer, "model": json.loads(json.dumps(self.model)),
            "names": {k: list(v) for k, v in self.names.items()}, "centroids": self.centroids,
            "contributions": {n: m.clone() for n, m in self.contributions.items()},
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Catalog:
        """Inverse of :meth:`to_dict` (``info`` optional)."""
        if "fingerprint" in d and "model" not in d:
            raise CatalogError(f"this catalog is in format version 1, which regiongan {__version__} no longer reads; {_REBUILD}")
        need = ("layer", "model", "centroids", "contributions")
        missing = [key for key in need if key not in d]
        if missing:
            raise CatalogError(f"a catalog needs {list(need)}; missing {missing}")
        optional = (dict, type(None))
        for key, kind in (("layer", str), ("model", dict), ("contributions", dict), ("names", optional), ("info", optional)):
            json_field(d, key, kind, "a catalog record", CatalogError, default=None)
        return cls(
            centroids=d["centroids"], layer=d["layer"], contributions=dict(d["contributions"]), model=dict(d["model"]),
            names=dict(d.get("names") or {}), info=dict(d.get("info") or {}),
        )  # fmt: skip

    def save(self, directory: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``directory/catalog.json`` + ``directory/catalog.safetensors``; returns the directory.

        Each file is written whole to a temporary name and moved in; the JSON holds the tensors file's
        sha256, so a save interrupted between the two moves is refused on load instead of mixing two
        catalogs. Other files in ``directory`` (a model card) are kept. Refuses existing catalog files
        unless ``overwrite=True``.
        """
        directory = Path(directory)
        check_overwrite([directory / JSON_FILE, directory / TENSORS_FILE], overwrite)
        tensors = {"centroids": self.centroids.detach().cpu().contiguous()}
        order = list(self.contributions)
        for name in order:
            tensors[f"contribution/{name}"] = self.contributions[name].detach().cpu().clone()  # never shared
        data = safetensors_bytes(tensors, metadata={"format": CATALOG_FORMAT})
        meta = {
            "format": CATALOG_FORMAT, "format_version": CATALOG_VERSION, "regiongan_version": __version__,
            "layer": self.layer, "k": self.k, "model": self.model,
            "names": {k: list(v) for k, v in sorted(self.names.items())}, "contribution_layers": order,
            "tensors": {"file": TENSORS_FILE, "sha256": hashlib.sha256(data).hexdigest()}, "info": self.info,
        }  # fmt: skip
        # the tensors are moved in first, the JSON (which commits them by digest) last
        writers = {TENSORS_FILE: lambda path: path.write_bytes(data), JSON_FILE: json_writer(meta)}
        return atomic_write(directory, writers)

    def save_names(self, directory: str | os.PathLike) -> Path:
        """Rewrite only the names in an existing ``directory/catalog.json`` (after :meth:`name_clusters`)."""
        path = Path(directory) / JSON_FILE
        meta = _read_meta(path)
        meta["names"] = {k: list(v) for k, v in sorted(self.names.items())}
        atomic_write(path.parent, {JSON_FILE: json_writer(meta)})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Catalog:
        """Read a catalog written by :meth:`save` (a directory, or its catalog.json / .safetensors)."""
        p = Path(path)
        directory = p.parent if p.is_file() else p
        meta = _read_meta(directory / JSON_FILE)
        where = str(directory / JSON_FILE)
        layer = json_field(meta, "layer", str, where, CatalogError)
        model = json_field(meta, "model", dict, where, CatalogError)
        names = json_field(meta, "names", (dict, type(None)), where, CatalogError, default=None) or {}
        info = json_field(meta, "info", (dict, type(None)), where, CatalogError, default=None) or {}
        order = json_field(meta, "contribution_layers", list, where, CatalogError)
        if not all(isinstance(n, str) for n in order):
            raise CatalogError(f"{where}: 'contribution_layers' must be a list of control point names, got {order!r:.80}")
        recorded = json_field(json_field(meta, "tensors", dict, where, CatalogError), "sha256", str, where, CatalogError)
        weights = directory / TENSORS_FILE
        if not weights.is_file():
            raise CatalogError(f"{directory}: {TENSORS_FILE} is missing next to {JSON_FILE}; {_REBUILD}")
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != recorded:
            raise CatalogError(
                f"{directory}: {TENSORS_FILE} does not belong to this {JSON_FILE} (sha256 mismatch): a save was "
                f"interrupted, or the files come from two catalogs; save the catalog again or {_REBUILD}"
            )
        tensors, _ = read_safetensors(weights, CatalogError)
        missing = [n for n in ["centroids"] + [f"contribution/{n}" for n in order] if n not in tensors]
        if missing:
            raise CatalogError(f"{weights}: missing tensors {missing[:4]}; {_REBUILD}")
        try:
            return cls(
                centroids=tensors["centroids"], layer=layer, contributions={n: tensors[f"contribution/{n}"] for n in order},
                model=model, names=dict(names), info=dict(info),
            )  # fmt: skip
        except CatalogError as e:
            raise CatalogError(f"{directory}: {e}") from None


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CatalogError(f"no catalog at '{path.parent}': {JSON_FILE} not found; build one with {_BUILD}")
    meta = check_format(read_json(path, CatalogError), path, CATALOG_FORMAT, CATALOG_VERSION, "catalog", CatalogError)
    found = meta.get("format_version")
    if found != CATALOG_VERSION:
        raise CatalogError(
            f"{path}: catalog format version {found} (regiongan {meta.get('regiongan_version', '?')}) is no longer read; {_REBUILD}"
        )
    return meta


# --------------------------------------------------------------------------------------------------
# Finding catalogs: directories, and the ones shipped inside the package


def list_catalogs() -> list[str]:
    """Names of the catalogs shipped inside the package (``regiongan/models/<name>/catalog.json``)."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if (p / JSON_FILE).is_file())


def shipped_catalog_dir(name: Any) -> Path | None:
    """The directory of the shipped catalog ``name``, or None when ``name`` is not one."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        return None
    p = MODELS_DIR / name
    return p if (p / JSON_FILE).is_file() else None


def catalog_path(name_or_path: str | os.PathLike) -> Path:
    """Where a catalog lives: a directory (or a file in it) holding ``catalog.json``, else the shipped
    catalog of that name; a :class:`CatalogError` listing the shipped ones otherwise."""
    p = Path(name_or_path)
    directory = p.parent if p.is_file() else p
    if (directory / JSON_FILE).is_file():
        return directory
    shipped = shipped_catalog_dir(name_or_path)
    if shipped is not None:
        return shipped
    raise CatalogError(
        f"no catalog at '{name_or_path}': {JSON_FILE} not found, and it is not a shipped catalog (shipped: "
        f"{', '.join(list_catalogs()) or 'none'}); build one with {_BUILD}"
    )


def load_catalog(name_or_path: str | os.PathLike) -> Catalog:
    """Load a catalog by directory or by shipped name (``load_catalog("catalog-faces-64")``)."""
    return Catalog.load(catalog_path(name_or_path))
