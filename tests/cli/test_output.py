"""The one output writer: plan and check before any work, write everything at the end, touch nothing else."""

from __future__ import annotations

import os

import pytest
import torch

from regiongan.cli.output import ImageOutputs, OutputError, OutputPlan, describe, image_path
from regiongan.results import Result

from .conftest import files, invoke


def _text(value: str):
    return lambda path: path.write_text(value)


def test_conflicts_are_found_before_any_work_and_listed(tmp_path):
    (tmp_path / "a.png").write_text("old a")
    (tmp_path / "b.json").write_text("old b")
    plan = OutputPlan()
    plan.add(tmp_path / "a.png", tmp_path / "b.json", tmp_path / "c.png")
    with pytest.raises(FileExistsError, match=r"a\.png, .*b\.json exist; pass --overwrite"):
        plan.check()
    assert files(tmp_path) == {"a.png", "b.json"}


def test_overwrite_replaces_only_the_planned_files(tmp_path):
    for name in ("a.png", "keep.png", "a_99.png"):
        (tmp_path / name).write_text("old")
    plan = OutputPlan(overwrite=True)
    plan.add(tmp_path / "a.png", tmp_path / "new" / "n.png")
    plan.check()
    plan.write(tmp_path / "a.png", _text("new a"))
    plan.write(tmp_path / "new" / "n.png", _text("n"))
    assert sorted(plan.commit()) == sorted([tmp_path / "a.png", tmp_path / "new" / "n.png"])
    assert (tmp_path / "a.png").read_text() == "new a" and (tmp_path / "new" / "n.png").read_text() == "n"
    assert (tmp_path / "keep.png").read_text() == "old" and (tmp_path / "a_99.png").read_text() == "old"
    assert files(tmp_path) == {"a.png", "keep.png", "a_99.png", "new", "new/n.png"}  # no temporaries left
    assert oct(os.stat(tmp_path / "a.png").st_mode & 0o777) == "0o644"


def test_a_failing_writer_leaves_nothing_behind(tmp_path):
    (tmp_path / "a.png").write_text("old")
    plan = OutputPlan(overwrite=True)
    plan.add(tmp_path / "a.png", tmp_path / "sub" / "deeper" / "b.png")
    plan.check()
    plan.write(tmp_path / "a.png", _text("new"))

    def broken(path):
        raise OSError("disk full")

    plan.write(tmp_path / "sub" / "deeper" / "b.png", broken)
    with pytest.raises(OSError, match="disk full"):
        plan.commit()
    assert files(tmp_path) == {"a.png"} and (tmp_path / "a.png").read_text() == "old"


def test_directories_links_files_as_parents_and_inputs_are_refused_even_with_overwrite(tmp_path):
    (tmp_path / "d.png").mkdir()
    (tmp_path / "target.png").write_text("t")
    (tmp_path / "link.png").symlink_to(tmp_path / "target.png")
    (tmp_path / "file").write_text("f")
    cases = [
        (tmp_path / "d.png", "is a directory"),
        (tmp_path / "link.png", "symbolic link"),
        (tmp_path / "file" / "x.png", "is a file, not a directory"),
        (tmp_path / "in.json", "also an input"),
    ]
    for path, message in cases:
        plan = OutputPlan(overwrite=True, inputs=[tmp_path / "in.json"])
        plan.add(path)
        with pytest.raises(OutputError, match=message):
            plan.check()
    assert (tmp_path / "target.png").read_text() == "t"


def test_image_paths_need_an_image_extension(tmp_path):
    assert image_path("out/g.webp").suffix == ".webp"
    with pytest.raises(OutputError, match=r"--out out/g: an image file name is needed.*e\.g\. --out out/g\.png"):
        image_path("out/g")
    with pytest.raises(OutputError, match=r"e\.g\. --out .*/grid\.png"):
        image_path(tmp_path)


def test_image_outputs_layout_and_numbered_families(tmp_path):
    background = torch.ones(8, 8)
    background[2:6, 2:6] = 0
    masks = torch.stack([background, 1 - background])[None]  # a partition [1, K=2, 8, 8], as ITAN returns
    result = Result(images=torch.zeros(3, 3, 8, 8), extras={"masks": masks})
    outputs = ImageOutputs(tmp_path / "g.png", None, recipe=False, region=True)  # count unknown: replay
    written = outputs.save(result, before=torch.ones(1, 3, 8, 8))
    assert [p.name for p in written] == ["g.png", "g_00.png", "g_01.png", "g_02.png", "g_region.png"]
    assert describe(written) == f"{tmp_path / 'g.png'} and 4 files next to it: g_00.png … g_02.png, g_region.png"
    for p in written[:1] + written[2:]:
        p.unlink()
    with pytest.raises(FileExistsError, match=r"g_00\.png exists"):  # any g_<n>.png is one of its outputs
        ImageOutputs(tmp_path / "g.png", None, recipe=False)


def test_commands_check_outputs_before_loading_the_model(tmp_path):
    (tmp_path / "x_region.png").write_text("mine")
    r = invoke("resample", "-m", tmp_path / "no-such-model", "-r", "box:0,0,8,8", "-o", tmp_path / "x.png")
    assert r.exit_code == 2 and "x_region.png exists" in r.output  # not "unknown model": nothing was loaded
    assert files(tmp_path) == {"x_region.png"}
