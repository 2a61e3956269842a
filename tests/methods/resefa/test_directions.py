"""ReSeFa's result type (regiongan.methods.resefa.directions): the safetensors file round trip, refusing
the old format, the small recipe form, and the summary."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from regiongan.identity import model_record
from regiongan.methods.resefa import (
    FORMAT,
    Directions,
    as_directions,
    directions_summary,
    load_directions,
)


def test_save_load_round_trip(G, dirs, tmp_path):
    path = dirs.save(tmp_path / "d.safetensors")
    back = load_directions(path)
    assert isinstance(back, Directions)
    torch.testing.assert_close(back.vectors, dirs.vectors, rtol=0, atol=0)
    torch.testing.assert_close(back.eigenvalues, dirs.eigenvalues, rtol=0, atol=0)
    torch.testing.assert_close(back.region, dirs.region, rtol=0, atol=0)
    assert (back.space, back.rows, back.model, back.meta) == (dirs.space, dirs.rows, dirs.model, dirs.meta)
    assert back.model["fingerprint"] == model_record(G)["fingerprint"]  # the one model identity
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, no pickle
    with pytest.raises(FileExistsError, match="overwrite"):
        dirs.save(path)
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_directions(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_directions(tmp_path / "missing.safetensors")


def test_files_of_the_old_format_are_refused_with_a_one_line_fix(dirs, tmp_path):
    old = tmp_path / "old.safetensors"
    info = {"space": "w", "rows": list(dirs.rows), "model": {"digest": "abc"}, "meta": {}}
    meta = {"format": FORMAT, "format_version": "1", "regiongan_version": "0.1.0", "directions": json.dumps(info)}
    save_file({"vectors": dirs.vectors, "eigenvalues": dirs.eigenvalues, "region": dirs.region}, str(old), meta)
    with pytest.raises(ValueError, match=r"format_version 1 \(regiongan 0\.1\.0\) is no longer read; recompute them") as e:
        load_directions(old)
    assert "\n" not in str(e.value)


def test_the_recipe_form_is_one_small_self_contained_direction(dirs):
    one = dirs.select(2)
    assert one.k == 1 and one.region is None and one.meta["index"] == 2
    assert torch.equal(one.vectors[0], dirs.vector(2)) and torch.equal(dirs.vector(-1), dirs.vectors[3])
    data = one.to_dict()
    assert set(data) == {"vectors", "eigenvalues", "space", "rows", "model", "meta"}
    json.dumps({k: v for k, v in data.items() if not isinstance(v, torch.Tensor)})  # the rest is plain JSON
    back = as_directions(data)
    assert torch.equal(back.vectors, one.vectors) and torch.equal(back.eigenvalues, one.eigenvalues)
    assert (back.space, back.rows, back.model) == (dirs.space, dirs.rows, dirs.model)
    assert back.meta["truncation_psi"] == 1.0 and back.select(0).meta["index"] == 2
    with pytest.raises(IndexError, match="there are 4 directions"):
        dirs.select(4)
    with pytest.raises(ValueError, match=r"needs \['vectors'"):
        as_directions({"space": "w"})
    with pytest.raises(TypeError, match="directions must be a Directions"):
        as_directions(3)


def test_directions_validate_their_fields_and_summarise(dirs):
    with pytest.raises(ValueError, match="vectors must be \\[k, d\\]"):
        Directions(vectors=torch.zeros(3), eigenvalues=torch.zeros(3), space="w", rows=(0,))
    with pytest.raises(ValueError, match="unknown space 'q'"):
        Directions(vectors=torch.zeros(1, 4), eigenvalues=torch.zeros(1), space="q", rows=(0,))
    with pytest.raises(ValueError, match="z moves no rows"):
        Directions(vectors=torch.zeros(1, 4), eigenvalues=torch.zeros(1), space="z", rows=(0,))
    s = directions_summary(dirs)
    assert s["k"] == 4 and s["dim"] == 16 and s["space"] == "w" and s["samples"] == 8 and len(s["eigenvalues"]) == 4
    json.dumps(s)
