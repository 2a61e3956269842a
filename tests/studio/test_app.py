"""The studio through its HTTP API (gradio_client): the edit stack, export → replay bit-for-bit, import,
per-session state, and the refusals (typed file regions, paths outside the studio's folders)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio_client", reason="the studio extra is not installed: pip install -e '.[studio]'")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

import regiongan as rg  # noqa: E402
from regiongan.images import to_uint8  # noqa: E402
from regiongan.studio import STACK_METHOD  # noqa: E402

BOX = "box:16,36,48,56"


def shared(spec: str = BOX, seed: int = 3, layers: str = "all") -> list:
    """editor, typed region, mask upload, seed, ψ, layers, class."""
    return [None, spec, None, seed, 1.0, layers, None]


@pytest.fixture
def client(studio_server):
    url, _ = studio_server
    c = Client(url, verbose=False)
    c.predict("faces-64", None, 3, 1.0, None, api_name="/new_image")
    return c


def history(c_out) -> list[str]:
    return [choice[0] for choice in c_out[2]["choices"]]  # outputs: current, compare, history, timing, editor


def test_stack_export_replays_bit_for_bit_and_imports(client, studio_server):
    _, folders = studio_server
    gallery = client.predict(*shared(), 4, 0, 0.0, api_name="/run_itan_resample")[0]
    assert len(gallery) == 4
    out = client.predict(2, None, api_name="/accept")
    assert len(history(out)) == 2 and "itan.resample #2" in history(out)[1]
    client.predict(*shared(""), 11, "eyes", "sequential", 5.0, 50.0, api_name="/run_editing_in_style_transfer_part")
    assert len(history(client.predict(0, None, api_name="/accept"))) == 3
    undone = client.predict(None, api_name="/undo")
    assert len(history(undone)) == 2
    redone = client.predict(None, api_name="/redo")
    assert len(history(redone)) == 3
    client.predict(None, api_name="/undo")
    current = np.asarray(Image.open(client.predict(None, api_name="/undo")[0]))  # back to the base
    client.predict(None, api_name="/redo")
    files = client.predict(api_name="/export")[0]
    names = sorted(Path(f).name for f in files)
    js = next(folders.output / n for n in names if n.endswith(".json"))
    png = js.with_suffix(".png")
    recipe = rg.load_recipe(js)
    assert recipe.method == STACK_METHOD and [s["method"] for s in recipe.params["steps"]] == ["itan.resample"]
    replayed = to_uint8(rg.replay(js).images)[0]
    assert np.array_equal(replayed, np.asarray(Image.open(png).convert("RGB")))
    assert not np.array_equal(replayed, current[::4, ::4])  # the export holds the edit, not the base
    # import continues from the recipe: one more edit, then the export replays both
    imp = client.predict([handle_file(str(js)), handle_file(str(js.with_suffix(".safetensors")))], None, api_name="/import_recipe")
    assert len(history(imp)) == 2
    client.predict(*shared("box:0,0,20,20"), 11, 0.0, api_name="/run_itan_transfer")
    client.predict(0, None, api_name="/accept")
    js2 = next(Path(f) for f in client.predict(api_name="/export")[0] if f.endswith(".json"))
    again = rg.load_recipe(folders.output / js2.name)
    assert [s["method"] for s in again.params["steps"]] == ["itan.resample", "itan.transfer"]
    assert np.array_equal(to_uint8(rg.replay(folders.output / js2.name).images)[0],
                          np.asarray(Image.open((folders.output / js2.name).with_suffix(".png")).convert("RGB")))  # fmt: skip


def test_sessions_do_not_share_state(studio_server):
    url, _ = studio_server
    a, b = Client(url, verbose=False), Client(url, verbose=False)
    a.predict("faces-64", None, 3, 1.0, None, api_name="/new_image")
    b.predict("faces-64", None, 5, 1.0, None, api_name="/new_image")
    a.predict(*shared(), 2, 7, 0.0, api_name="/run_itan_resample")
    entries = history(a.predict(1, None, api_name="/accept"))
    assert len(entries) == 2
    restored = [r.get("value") if isinstance(r, dict) else r for r in a.predict(entries[1], api_name="/restore")]
    assert restored[0] == 3 and restored[4] == BOX and 7 in restored[5:]  # the entry's seed, region, variation seed
    with pytest.raises(AppError, match="nothing to accept"):
        b.predict(0, None, api_name="/accept")  # a's pending result is not b's
    with pytest.raises(AppError, match="nothing to undo"):
        b.predict(None, api_name="/undo")
    assert len(history(a.predict(None, api_name="/undo"))) == 1


def test_typed_file_regions_and_outside_paths_are_refused(client, tmp_path):
    with pytest.raises(AppError, match="may not name a file"):
        client.predict(*shared("mask:/etc/passwd"), 2, 0, 0.0, api_name="/run_itan_resample")
    outside = tmp_path / "recipe.json"
    outside.write_text(json.dumps({"x": 1}))
    # gradio_client uploads the file, so the studio reads its copy in the uploads folder; a bad recipe is one line
    with pytest.raises(AppError, match="missing field"):
        client.predict([handle_file(str(outside))], None, api_name="/import_recipe")


def test_every_registered_operation_has_an_endpoint_and_bad_json_is_one_line(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in rg.list_methods():
        if name not in ("generate", STACK_METHOD):
            assert "/run_" + name.replace(".", "_") in endpoints
    with pytest.raises(AppError, match=r"codes: not valid JSON"):
        client.predict(*shared(), "[3, 11", 0.0, api_name="/run_itan_blend")
    out = client.predict(*shared(), "[3, 11]", 0.0, api_name="/run_itan_blend")  # the generic JSON path runs
    assert len(out[0]) == 1
