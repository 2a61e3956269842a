"""End to end in a real browser: Playwright drives Debian's chromium through the studio — load the page,
paint a stroke, resample, accept, part transfer, accept, undo (Ctrl+Z), export — then the exported recipe is
replayed with rg.replay and its pixels compared with the exported PNG, exactly.

Needs chromium on PATH (Debian: ``apt-get install -y chromium``; .ci/run installs it). The test fails
without it; ``REGIONGAN_SKIP_BROWSER=1`` skips it. ``REGIONGAN_SCREENSHOTS=docs/img`` saves the
screenshots used by docs/studio.md (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import regiongan as rg
from regiongan.images import to_uint8
from regiongan.studio import STACK_METHOD

pytestmark = pytest.mark.skipif(os.environ.get("REGIONGAN_SKIP_BROWSER") == "1", reason="REGIONGAN_SKIP_BROWSER=1")


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser test needs Debian's chromium on PATH: apt-get install -y chromium "
                    "(or set REGIONGAN_SKIP_BROWSER=1 to skip it)")  # fmt: skip
    return path


def test_paint_resample_accept_undo_export_replay(studio_server):
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'").sync_playwright
    url, folders = studio_server
    shots = Path(os.environ["REGIONGAN_SCREENSHOTS"]) if os.environ.get("REGIONGAN_SCREENSHOTS") else None

    def screenshot(page, name: str) -> None:  # full-page screenshots are slow in a software-rendered browser
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / name), full_page=True)

    t0 = time.perf_counter()
    mark = lambda what: print(f"{time.perf_counter() - t0:6.1f} s  {what}")  # noqa: E731  (pytest -s shows the timeline)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})
            page.goto(url)
            page.wait_for_selector("#studio-current img", timeout=30_000)
            history = page.locator("#studio-history label")
            history.first.wait_for(timeout=30_000)
            mark('page loaded')

            # paint a stroke across the lower face
            page.locator("#studio-editor button[aria-label='Brush']").click()
            box = page.locator("#studio-editor canvas").first.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx - 50, cy + 60)
            page.mouse.down()
            for dx in (-25, 0, 25, 50):
                page.mouse.move(cx + dx, cy + 60, steps=2)
            page.mouse.up()
            mark('painted')

            # resample: a gallery of variations; choose the second, accept
            page.locator("#run-itan-resample").click()
            thumbs = page.locator("#gallery-itan-resample button.thumbnail-item, #gallery-itan-resample .thumbnail-item")
            thumbs.first.wait_for(timeout=60_000)
            thumbs.nth(1).click()
            page.locator("#studio-accept").click()
            page.wait_for_function("document.querySelectorAll('#studio-history label').length === 2", timeout=30_000)
            screenshot(page, "studio-resample.png")
            mark('resampled')

            # part transfer from the reference seed, accept, then undo it with the keyboard
            page.get_by_role("tab", name="transfer part").click()
            page.locator("#run-editing_in_style-transfer_part").click()
            page.locator("#gallery-editing_in_style-transfer_part .thumbnail-item").first.wait_for(timeout=60_000)
            page.locator("#gallery-editing_in_style-transfer_part .thumbnail-item").first.click()
            page.locator("#studio-accept").click()
            page.wait_for_function("document.querySelectorAll('#studio-history label').length === 3", timeout=30_000)
            screenshot(page, "studio-part-transfer.png")
            mark('part transfer')
            page.locator("h2").first.click()  # focus off any input, so Ctrl+Z reaches the studio
            page.keyboard.press("Control+z")
            page.wait_for_function("document.querySelectorAll('#studio-history label').length === 2", timeout=30_000)

            # export
            before = set(folders.output.glob("studio-*.json"))
            page.locator("#studio-export").click()
            page.wait_for_function("document.querySelectorAll('#studio-exported a').length >= 2", timeout=30_000)
            screenshot(page, "studio-export.png")
            mark('exported')
        finally:
            browser.close()
    (js,) = set(folders.output.glob("studio-*.json")) - before
    recipe = rg.load_recipe(js)
    assert recipe.method == STACK_METHOD
    steps = recipe.params["steps"]
    assert [s["method"] for s in steps] == ["itan.resample"] and steps[0]["choice"] == 1
    mask = steps[0]["mask"]
    assert 0 < float(mask.mean()) < 0.5  # the painted stroke, not the whole image
    replayed = to_uint8(rg.replay(js).images)[0]
    assert np.array_equal(replayed, np.asarray(Image.open(js.with_suffix(".png")).convert("RGB")))
