"""Directions files and catalogs with bad contents: NaN / inf or wrongly shaped tensors, missing keys, JSON
values of the wrong type. Each is refused on load with one line that names the file and the problem (never a
traceback, never a silently wrong edit), and the files are left as they were."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from regiongan.cli import main
from regiongan.identity import model_record
from regiongan.methods.editing_in_style import Catalog, CatalogError, load_catalog
from regiongan.methods.resefa import Directions, load_directions

from .helpers import refuse, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------------------------------
# Directions files


@pytest.fixture
def dirs_path(saved_tiny, tmp_path) -> Path:
    G, model = saved_tiny
    path = tmp_path / "dirs.safetensors"
    region = torch.zeros(1, 1, 32, 32)
    region[..., 8:24, 8:24] = 1
    Directions(
        vectors=torch.eye(2, 16), eigenvalues=torch.tensor([2.0, 1.0], dtype=torch.float64), space="w", rows=(0, 1),
        region=region, model={**model_record(G), "name": model}, meta={"truncation_psi": 1.0, "layers": ["b4.conv1"]},
    ).save(path)
    return path


def rewrite_directions(path: Path, tensors: Callable[[dict], Any] | None = None, info: Callable[[dict], Any] | None = None, raw: str | None = None) -> Path:
    """Change a directions file's tensors and / or its JSON metadata in place."""
    with safe_open(str(path), "pt") as f:
        metadata = dict(f.metadata())
    data = load_file(path)
    if tensors is not None:
        tensors(data)
    if info is not None:
        record = json.loads(metadata["directions"])
        info(record)
        metadata["directions"] = json.dumps(record)
    if raw is not None:
        metadata["directions"] = raw
    save_file(data, path, metadata=metadata)
    return path


def setter(key: str, value: Any) -> Callable[[dict], Any]:
    return lambda d: d.__setitem__(key, value)


NAN_ROW = torch.tensor([[math.nan] + [0.0] * 15, [0.0, 1.0] + [0.0] * 14])

DIRECTIONS = [
    (dict(tensors=setter("vectors", NAN_ROW)), "Directions: vectors holds 1 NaN or inf value out of 32; recompute it"),
    (dict(tensors=setter("vectors", torch.full((2, 16), math.inf))), "Directions: vectors holds 32 NaN or inf values"),
    (dict(tensors=setter("eigenvalues", torch.tensor([math.nan, 1.0], dtype=torch.float64))), "Directions: eigenvalues holds 1 NaN"),
    (dict(tensors=setter("vectors", torch.eye(2, 16) * 1e30)), "Directions: vectors must be unit rows (a strength is a distance along them), but row 0 has norm 1e+30"),
    (dict(tensors=setter("vectors", torch.ones(2, 16, dtype=torch.int32))), "Directions: vectors must be a float tensor [k, d], got dtype torch.int32"),
    (dict(tensors=setter("vectors", torch.zeros(2, 4, 4))), "Directions: vectors must be [k, d] and eigenvalues [k] with k >= 1"),
    (dict(tensors=setter("eigenvalues", torch.ones(3))), "vectors must be [k, d] and eigenvalues [k]"),
    (dict(tensors=setter("region", torch.full((1, 1, 32, 32), math.nan))), "Directions: region holds 1024 NaN or inf values"),
    (dict(tensors=lambda t: t.pop("vectors")), "incomplete directions file (missing ['vectors'])"),
    (dict(raw="{not json"), "the directions metadata is not valid JSON"),
    (dict(raw="[1, 2]"), "directions metadata: expected a JSON object, got list"),
    (dict(info=lambda i: i.pop("space")), "directions metadata: the key 'space' is missing"),
    (dict(info=setter("space", "q")), "Directions: unknown space 'q'"),
    (dict(info=setter("rows", "0")), "directions metadata: 'rows' must be a list, got '0'"),
    (dict(info=setter("rows", [math.inf])), "Directions: each of rows (a W+ row index) must be an int >= 0, got inf"),
    (dict(info=setter("rows", [-1])), "must be an int >= 0, got -1"),
    (dict(info=setter("model", ["faces"])), "directions metadata: 'model' must be an object, got ['faces']"),
    (dict(info=lambda i: i["model"].update(name=5)), "Directions: model['name'] must be a model name or null, got 5"),
    (dict(info=lambda i: i["meta"].update(truncation_psi=math.nan)), "Directions: meta['truncation_psi'] must be a finite number > 0 and <= 100, got nan"),
    (dict(info=lambda i: i["meta"].update(layers=5)), "Directions: meta['layers'] must be a list of control point names or null, got 5"),
]


@pytest.mark.parametrize(("change", "message"), DIRECTIONS, ids=[m[:45] for _, m in DIRECTIONS])
def test_bad_directions_files_are_refused_on_load(dirs_path, tmp_path, change, message):
    rewrite_directions(dirs_path, **change)
    text = refuse(lambda: load_directions(dirs_path), ValueError, message, tmp_path)
    assert text.startswith(str(dirs_path))


def test_a_directions_record_with_nan_is_refused():
    record = Directions(vectors=torch.eye(1, 16), eigenvalues=torch.ones(1), space="w", rows=(0,)).to_dict()
    record["vectors"] = torch.full((1, 16), math.nan)
    with pytest.raises(ValueError, match=r"Directions: vectors holds 16 NaN or inf values"):
        Directions.from_dict(record)


def test_edit_with_a_nan_directions_file_writes_nothing(dirs_path, model_dir, tmp_path):
    rewrite_directions(dirs_path, tensors=setter("vectors", NAN_ROW))
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["edit", "-d", str(dirs_path), "-m", model_dir, "-o", str(tmp_path / "e.png")])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1].startswith("error: ") and "NaN or inf" in result.output and "Traceback" not in result.output
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# Catalogs


@pytest.fixture
def catalog_dir(saved_tiny, tmp_path) -> Path:
    G = saved_tiny[0]
    points = G.control_points()
    centroids = torch.nn.functional.normalize(torch.randn(3, 32, generator=torch.Generator().manual_seed(0)), dim=1)
    contributions = {p.name: torch.full((3, p.channels), 1 / 3) for p in points}
    layer = next(p.name for p in points if p.kind == "conv" and p.resolution == 16)
    folder = tmp_path / "cat"
    Catalog(centroids=centroids, layer=layer, contributions=contributions, model=model_record(G), names={"eyes": [1]}).save(folder)
    return folder


def rewrite_catalog(folder: Path, tensors: Callable[[dict], Any] | None = None, meta: Callable[[dict], Any] | None = None) -> None:
    """Change a catalog's tensors and / or its JSON, keeping the recorded sha256 right (only contents are bad)."""
    data = load_file(folder / "catalog.safetensors")
    if tensors is not None:
        tensors(data)
        save_file(data, folder / "catalog.safetensors", metadata={"format": "regiongan-catalog"})
    record = json.loads((folder / "catalog.json").read_text())
    if isinstance(record.get("tensors"), dict):
        record["tensors"]["sha256"] = hashlib.sha256((folder / "catalog.safetensors").read_bytes()).hexdigest()
    if meta is not None:
        meta(record)
    (folder / "catalog.json").write_text(json.dumps(record))


def first_contribution(value: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[dict], Any]:
    def change(t: dict) -> None:
        key = next(k for k in t if k.startswith("contribution/"))
        t[key] = value(t[key])

    return change


CATALOGS = [
    (dict(tensors=setter("centroids", torch.full((3, 32), math.nan))), "the catalog's centroids holds 96 NaN or inf values"),
    (dict(tensors=setter("centroids", torch.ones(3, 32, dtype=torch.int64))), "the catalog's centroids must be a float tensor [K, C], got dtype torch.int64"),
    (dict(tensors=first_contribution(lambda m: m.index_fill(1, torch.tensor([0]), math.inf))), "NaN or inf values"),
    (dict(tensors=first_contribution(lambda m: m * 15)), "contributions are fractions in [0, 1]"),
    (dict(tensors=first_contribution(lambda m: torch.cat([m, m[:1]]))), "must be [K=3, C], got torch.Size([4,"),
    (dict(meta=setter("layer", 5)), "catalog.json: 'layer' must be a string, got 5"),
    (dict(meta=lambda m: m.pop("model")), "catalog.json: the key 'model' is missing"),
    (dict(meta=setter("contribution_layers", "b4.conv1")), "'contribution_layers' must be a list, got 'b4.conv1'"),
    (dict(meta=setter("contribution_layers", [1])), "'contribution_layers' must be a list of control point names, got [1]"),
    (dict(meta=setter("tensors", ["catalog.safetensors"])), "'tensors' must be an object"),
    (dict(meta=setter("names", {"eyes": "abc"})), "part 'eyes': cluster ids must be an int or a list of ints, got 'abc'"),
    (dict(meta=setter("names", {"eyes": [99]})), "part 'eyes': cluster ids must be ints in 0..2, got [99]"),
    (dict(meta=lambda m: m["model"].update(fingerprint=5)), "model must be the record of identity.model_record(G) with a fingerprint, got fingerprint 5"),
    (dict(meta=setter("info", [1])), "'info' must be an object or null, got [1]"),
    (dict(meta=setter("format_version", math.inf)), "catalog.json: format_version must be an int, got inf"),
]


@pytest.mark.parametrize(("change", "message"), CATALOGS, ids=[m[:45] for _, m in CATALOGS])
def test_bad_catalogs_are_refused_on_load(catalog_dir, tmp_path, change, message):
    rewrite_catalog(catalog_dir, **change)
    text = refuse(lambda: load_catalog(catalog_dir), CatalogError, message, tmp_path)
    assert str(catalog_dir) in text


def test_a_catalog_json_nested_past_the_stack_is_refused(catalog_dir, tmp_path):
    (catalog_dir / "catalog.json").write_text('{"format": "regiongan-catalog", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refuse(lambda: load_catalog(catalog_dir), CatalogError, "catalog.json: not valid JSON (nested too deeply)", tmp_path)


def test_a_catalog_record_with_nan_is_refused(catalog_dir):
    record = load_catalog(catalog_dir).to_dict()
    record["centroids"] = torch.full_like(record["centroids"], math.nan)
    with pytest.raises(CatalogError, match=r"the catalog's centroids holds 96 NaN or inf values"):
        Catalog.from_dict(record)
    record = load_catalog(catalog_dir).to_dict()
    record["layer"] = 7
    with pytest.raises(CatalogError, match=r"a catalog record: 'layer' must be a string, got 7"):
        Catalog.from_dict(record)


def test_part_transfer_with_a_nan_catalog_writes_nothing(catalog_dir, model_dir, tmp_path):
    rewrite_catalog(catalog_dir, tensors=setter("centroids", torch.full((3, 32), math.nan)))
    before = snapshot(tmp_path)
    args = ["part-transfer", "-m", model_dir, "-c", str(catalog_dir), "--target", "0", "--reference", "1", "--part", "eyes"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "pt.png")])
    assert result.exit_code == 2, result.output
    line = result.output.splitlines()[-1]
    assert line.startswith("error: ") and "centroids holds 96 NaN or inf values" in line and "Traceback" not in result.output
    assert snapshot(tmp_path) == before
