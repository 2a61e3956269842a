"""``regiongan data preview | export``."""

from __future__ import annotations

from PIL import Image

from .conftest import invoke, ok


def test_preview_writes_one_image_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "p.png"
    ok("data", "preview", "--count", "2", "--size", "16", "--scale", "1", "--out", out)
    assert Image.open(out).size[1] == 16 + 4  # one row of (image, labels) pairs
    before = out.read_bytes()
    r = invoke("data", "preview", "--count", "1", "--size", "16", "--out", out)
    assert r.exit_code == 2 and "--overwrite" in r.output and out.read_bytes() == before
    ok("data", "preview", "--count", "1", "--size", "16", "--out", out, "--overwrite")
    r = invoke("data", "preview", "--world", "nowhere", "--out", tmp_path / "q.png")
    assert r.exit_code == 2 and r.output.startswith("error: ") and not (tmp_path / "q.png").exists()


def test_export_writes_a_folder(tmp_path):
    ok("data", "export", "--count", "2", "--size", "16", tmp_path / "e")
    assert sorted(p.name for p in (tmp_path / "e" / "images").iterdir()) == ["000000.png", "000001.png"]
    r = invoke("data", "export", "--count", "2", "--size", "16", tmp_path / "e")
    assert r.exit_code == 2 and "not empty" in r.output
