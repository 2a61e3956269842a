"""regiongan.demo: the page links only files it wrote, its recipes replay bit-for-bit, and it never
clobbers or half-writes an output directory. Also the region overlay it draws (regiongan.previews)."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import regiongan as rg
from regiongan import demo
from regiongan.api import replay
from regiongan.images import to_uint8
from regiongan.previews import OVERLAY_COLOR, region_overlay
from regiongan.recipes import load_recipe

pytestmark = pytest.mark.usefixtures("one_thread")  # faces-64 on a busy 2-core machine: 1 thread is ~4x faster

#: What the page must show: every public call it makes, and the registered operation behind each card.
CALLS = (
    "rg.generate(", "rg.resample(", "rg.transfer(", "rg.saliency(", "rg.transfer_part(", "rg.find_directions(",
    "rg.edit(", "rg.hybridize(",
)  # fmt: skip
METHODS = (
    "generate", "itan.resample", "itan.transfer", "itan.saliency", "editing_in_style.transfer_part", "resefa.edit",
    "itan.hybridize",
)  # fmt: skip


def _links(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, str, list[str]]:
    """The demo, run once: (index.html path, its text, the progress messages)."""
    messages: list[str] = []
    index = demo.run_demo(tmp_path_factory.mktemp("demo") / "out", progress=messages.append)
    return index, index.read_text(encoding="utf-8"), messages


def test_every_link_is_a_file_it_wrote(page):
    index, html, _ = page
    links = _links(html)
    assert links, "the page links no file"
    for link in links:
        assert "://" not in link and not link.startswith(("/", "//", "data:")), f"not a relative file link: {link}"
        assert (index.parent / link).is_file(), f"{link} is linked but missing"
    assert "<script" not in html.lower() and "@import" not in html and "url(" not in html
    pngs = {p.name for p in index.parent.glob("*.png")}
    assert pngs <= set(links), f"images written but not shown: {sorted(pngs - set(links))}"


def test_page_names_every_operation_and_the_machine(page):
    _, html, messages = page
    for text in CALLS + METHODS:
        assert text in html, f"the page does not mention {text}"
    facts = ("faces-64", rg.__version__, torch.__version__, "threads", "total time", "regiongan replay resample.json")
    for fact in facts:
        assert fact in html
    assert html.count('<section class="card') == len(METHODS)
    assert len(messages) >= len(METHODS) and messages[-1].startswith("wrote ")


def test_images_are_enlarged_three_times(page):
    index, _, _ = page
    assert Image.open(index.parent / "resample_00.png").size == (64 * demo.SCALE, 64 * demo.SCALE)
    assert Image.open(index.parent / "resample_region.png").size == (64 * demo.SCALE, 64 * demo.SCALE)


@pytest.mark.parametrize("name", ["resample", "transfer", "saliency", "transfer_part", "edit", "generate", "hybridize"])
def test_recipe_loads_and_replays_its_pngs_bit_for_bit(page, name):
    index, html, _ = page
    path = index.parent / f"{name}.json"
    assert f'href="{name}.json"' in html
    recipe = load_recipe(path)
    assert recipe.outputs, f"{name}.json lists no outputs"
    again = to_uint8(replay(path).images)  # [N, H, W, 3]
    step = demo.SCALE  # the PNGs are enlarged: every SCALE-th pixel is the model's own
    shown = np.stack([np.asarray(Image.open(path.parent / out))[::step, ::step] for out in recipe.outputs])
    assert again.shape == shown.shape
    assert np.array_equal(again, shown), f"replaying {name}.json does not reproduce its PNGs"


def test_refuses_a_non_empty_directory_and_leaves_it_untouched(page):
    index, _, _ = page
    before = _snapshot(index.parent)
    with pytest.raises(FileExistsError, match="not empty; pass overwrite=True") as err:
        demo.run_demo(index.parent)
    assert "\n" not in str(err.value)
    assert _snapshot(index.parent) == before


def test_overwrite_replaces_only_an_earlier_demo(page, tmp_path, monkeypatch):
    out = tmp_path / "out"
    shutil.copytree(page[0].parent, out)
    first = out / demo.INDEX_FILE
    (out / "stale.txt").write_text("from an older demo")
    monkeypatch.setattr(demo, "_CARDS", ())  # only the "generate" card: the swap is what is tested here
    assert demo.run_demo(out, overwrite=True) == first
    assert not (out / "stale.txt").exists() and not (out / "resample.json").exists()
    assert (out / "generate.json").is_file() and demo.DEMO_MARKER in first.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "temporary or backup directories were left behind"

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds no earlier demo page"):
        demo.run_demo(other, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"


def test_an_interrupted_demo_leaves_the_old_page(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(demo, "_CARDS", ())
    demo.run_demo(out)
    before = _snapshot(out)

    def boom(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_CARDS", (("boom", boom),))
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(out, overwrite=True)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_refuses_a_file_as_the_output_directory(tmp_path):
    target = tmp_path / "page"
    target.write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        demo.run_demo(target, overwrite=True)
    assert target.read_text() == "x"


# ---- regiongan.previews.region_overlay


def test_region_overlay_tints_inside_outlines_the_edge_and_keeps_the_outside():
    image = torch.zeros(3, 8, 8)  # mid grey: 128 after to_uint8
    mask = torch.zeros(8, 8)
    mask[2:6, 2:6] = 1
    out = np.asarray(region_overlay(image, mask, alpha=0.5, scale=2))
    assert out.shape == (16, 16, 3)
    assert (out[0, 0] == 128).all(), "outside the region the image is unchanged"
    assert tuple(out[4, 4]) == OVERLAY_COLOR, "the region's edge is outlined"
    inner = out[7, 7].astype(int)  # strictly inside, away from the outline
    expected = np.rint(128 * 0.5 + np.asarray(OVERLAY_COLOR) * 0.5)
    assert np.array_equal(inner, expected)
    same = np.asarray(region_overlay(image, mask[None]))  # [1, H, W] reads as [H, W]
    np.testing.assert_array_equal(same, np.asarray(region_overlay(image, mask)))


@pytest.mark.parametrize(
    "image, mask, match",
    [
        (torch.zeros(1, 3, 8, 8), torch.zeros(8, 8), "image must be one RGB image"),
        (torch.zeros(3, 8, 8), torch.zeros(2, 8, 8), "mask must be"),
        (torch.zeros(3, 8, 8), torch.zeros(4, 4), "resize the region"),
    ],
)
def test_region_overlay_rejects_bad_shapes(image, mask, match):
    with pytest.raises(ValueError, match=match):
        region_overlay(image, mask)
