"""The studio's boundaries: the bind warning, folder confinement (links included), typed file regions,
and the checkpoint size cap."""

from __future__ import annotations

import os

import pytest

from regiongan.limits import LimitError
from regiongan.studio.security import StudioFolders, bind_warning, check_typed_region


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_quietly(host):
    assert bind_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.org"])
def test_other_binds_warn(host):
    assert "not 127.0.0.1" in bind_warning(host)


def test_paths_are_confined_to_the_two_folders(tmp_path):
    folders = StudioFolders.create(tmp_path / "up", tmp_path / "out")
    inside = folders.uploads / "a.png"
    inside.write_bytes(b"x")
    assert folders.confine(inside) == inside.resolve()
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    with pytest.raises(ValueError, match="outside the studio's folders"):
        folders.confine(secret)
    link = folders.uploads / "link.png"
    os.symlink(secret, link)
    with pytest.raises(ValueError, match="outside"):
        folders.confine(link)  # a link out of the folder is followed, then refused
    with pytest.raises(ValueError, match="outside"):
        folders.confine(folders.uploads / ".." / "secret.txt")
    (folders.output / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="outside"):
        folders.checkpoint(folders.output / "x.json")  # checkpoints only from uploads


def test_typed_regions_may_not_name_files():
    assert check_typed_region(" box:0,0,8,8+part:mouth ") == "box:0,0,8,8+part:mouth"
    for spec in ("mask:/etc/passwd", "box:0,0,8,8+mask:x.png", "part:hair-label:l.png:3"):
        with pytest.raises(ValueError, match="may not name a file"):
            check_typed_region(spec)


def test_checkpoint_size_cap(tmp_path, monkeypatch):
    folders = StudioFolders.create(tmp_path / "up", tmp_path / "out")
    ckpt = folders.uploads / "big.pt"
    ckpt.write_bytes(b"0" * 2048)
    assert folders.checkpoint(ckpt) == ckpt.resolve()
    monkeypatch.setenv("REGIONGAN_MAX_CHECKPOINT_BYTES", "1024")
    with pytest.raises(LimitError, match="checkpoint_bytes|CHECKPOINT_BYTES"):
        folders.checkpoint(ckpt)
