"""``regiongan replay``: bit-identical images, a warning for changed weights, outputs planned before work."""

from __future__ import annotations

import pytest

from ..conftest import save_tiny, tiny_stylegan2
from .conftest import files, invoke, ok

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def recipe(model_dir, tmp_path):
    ok("resample", "-m", model_dir, "-s", "1", "-r", "box:4,4,20,20", "--variations", "2", "-o", tmp_path / "r" / "r.png")
    return tmp_path / "r" / "r.json"


def test_replay_reproduces_the_grid_images_and_region(recipe, tmp_path):
    r = ok("replay", recipe, "-o", tmp_path / "a" / "again.png")
    assert "replayed itan.resample" in r.output
    assert files(tmp_path / "a") == {"again.png", "again_00.png", "again_01.png", "again_region.png"}
    for name in ("_00.png", "_01.png", "_region.png"):
        assert (tmp_path / "a" / f"again{name}").read_bytes() == (tmp_path / "r" / f"r{name}").read_bytes()


def test_replay_on_other_weights_warns_in_one_line(recipe, tmp_path):
    other = save_tiny(tmp_path / "other", tiny_stylegan2(seed=5))
    r = ok("replay", recipe, "--model", other, "-o", tmp_path / "b.png")
    warnings = [line for line in r.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "differs from the one this recipe was made with" in warnings[0]


def test_replay_plans_its_numbered_outputs_before_work(recipe, tmp_path):
    (tmp_path / "c_07.png").write_text("mine")  # any OUT_<n> counts: the image count is known only after the work
    r = invoke("replay", recipe, "-o", tmp_path / "c.png")
    assert r.exit_code == 2 and "c_07.png exists" in r.output
    assert sorted(p.name for p in tmp_path.glob("c*")) == ["c_07.png"]
    r = invoke("replay", tmp_path / "nothing.json", "-o", tmp_path / "d.png")
    assert r.exit_code == 2 and "recipe file not found" in r.output
