"""Format detection and bad input: malicious, truncated, wrong-architecture and non-checkpoint files."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from regiongan.checkpoints import (
    CheckpointError, CorruptCheckpointError, UnsafeCheckpointError, detect_format, load_model, save_pretrained,
)  # fmt: skip

from ..conftest import tiny_stylegan2


class _RunsCommand:
    """Unpickling this object runs a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_torch_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    torch.save({"g_ema": {"input.input": torch.zeros(1)}, "payload": _RunsCommand(marker)}, p)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_model(p)
    assert not marker.exists()
    # The payload is real: an unrestricted load would have run it.
    torch.load(p, weights_only=False)
    assert marker.exists()


def test_malicious_legacy_pickle_pt_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil_legacy.pt"
    p.write_bytes(pickle.dumps(_RunsCommand(marker), protocol=2))
    with pytest.raises(CheckpointError):
        load_model(p)
    assert not marker.exists()


def test_truncated_torch_file_is_reported_as_corrupt(tmp_path):
    G = tiny_stylegan2()
    p = tmp_path / "g.pt"
    torch.save({"init_kwargs": json.dumps({"z_dim": 16, "w_dim": 16, "img_resolution": 32}), "state_dict": G.state_dict()}, p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="truncated or corrupt"):
        load_model(p)


def test_truncated_safetensors_is_reported_as_corrupt(tmp_path):
    d = save_pretrained(tiny_stylegan2(), tmp_path / "m")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(CorruptCheckpointError, match="truncated or corrupt"):
        load_model(d)


def test_wrong_architecture_safetensors_names_the_mismatch(tmp_path):
    d = save_pretrained(tiny_stylegan2(), tmp_path / "m")
    other = tiny_stylegan2(channel_max=16)
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"do not match the architecture[\s\S]*shape mismatch"):
        load_model(d)


def test_non_checkpoint_files(tmp_path):
    png = tmp_path / "cat.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(CheckpointError, match="not a checkpoint regiongan knows"):
        load_model(png)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match="empty"):
        load_model(empty)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a generator checkpoint"):
        load_model(other)
    with pytest.raises(CheckpointError, match="unknown model 'no-such-model'"):
        load_model("no-such-model")


def test_bad_config_json(tmp_path):
    d = save_pretrained(tiny_stylegan2(), tmp_path / "m")
    (d / "config.json").write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="not valid JSON"):
        load_model(d)
    (d / "config.json").write_text(json.dumps({"format": "regiongan", "format_version": 1, "model_type": "vqgan", "config": {}}))
    with pytest.raises(CheckpointError, match="unknown model_type 'vqgan'"):
        load_model(d)


def test_save_is_atomic_and_never_clobbers(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        save_pretrained(tiny_stylegan2(), d)
    assert (d / "notes.txt").read_text() == "mine"
    # --overwrite replaces a model directory, never a folder of other files
    with pytest.raises(FileExistsError, match="not a regiongan model directory"):
        save_pretrained(tiny_stylegan2(), d, overwrite=True)
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    m = tmp_path / "model"
    save_pretrained(tiny_stylegan2(seed=1), m)
    (m / "README.md").write_text("card")
    save_pretrained(tiny_stylegan2(), m, overwrite=True)
    assert sorted(p.name for p in m.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_nvidia_pickle_loads_through_load_model(tmp_path):
    from .nvidia_pickle_factory import write_official_style_pickle

    G = tiny_stylegan2(c_dim=2)
    kwargs = {"z_dim": 16, "c_dim": 2, "w_dim": 16, "img_resolution": 32, "img_channels": 3,
              "mapping_kwargs": {"num_layers": 2}, "synthesis_kwargs": {"channel_base": 512, "channel_max": 32,
              "num_fp16_res": 4, "conv_clamp": 256}}  # fmt: skip
    G2 = tiny_stylegan2(c_dim=2, conv_clamp=256.0)
    p = tmp_path / "network-snapshot-000100.pkl"
    write_official_style_pickle(p, kwargs, G2.state_dict())
    assert detect_format(p) == "nvidia-pkl"
    H = load_model(p)
    z, c = torch.randn(2, 16), torch.eye(2)
    torch.testing.assert_close(H(z, c), G2(z, c), atol=0, rtol=0)
    del G
