"""Outputs: every command plans its files and checks conflicts before any work, ``--overwrite`` replaces only
what the command itself writes, links are never written through, ``convert`` and ``data export`` replace a
folder only when it is an earlier artefact of theirs, and a failure after the work writes nothing.

Each case asserts the one-line message and that the files around it are exactly as they were."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import regiongan as rg
from regiongan.checkpoints import save_pretrained
from regiongan.cli import main
from regiongan.cli.output import OutputPlan
from regiongan.data import export_world, get_world
from regiongan.methods.resefa import Directions
from regiongan.recipes import Recipe, RecipeError, load_recipe, save_recipe

from ..conftest import tiny_stylegan2

from .helpers import one_line_error, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")

BOX = "box:8,8,24,24"


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def no_work(monkeypatch):
    """Make loading a model fail loudly: a conflict must be reported before any work starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command started its work before checking its outputs")

    for module in ("generate", "itan", "resefa", "editing_in_style"):
        monkeypatch.setattr(f"regiongan.cli.{module}.load_generator", refuse)
    monkeypatch.setattr("regiongan.cli.models.rg.load_model", refuse)
    monkeypatch.setattr("regiongan.cli.data.preview_grid", refuse)


# --------------------------------------------------------------------------------------------------
# Conflicts are found before any work


def test_generate_refuses_an_existing_latents_file_before_work(model_dir, tmp_path, no_work):
    (tmp_path / "g_latents.safetensors").write_text("mine")
    before = snapshot(tmp_path)
    out = one_line_error(invoke("generate", "-m", model_dir, "-s", "0-1", "-o", tmp_path / "g.png"))
    assert "g_latents.safetensors exists" in out and "--overwrite" in out
    assert snapshot(tmp_path) == before


def test_generate_lists_every_conflict_at_once_and_writes_none(model_dir, tmp_path, no_work):
    for name in ("g_seed0001.png", "g.json"):
        (tmp_path / name).write_text("mine")
    before = snapshot(tmp_path)
    out = one_line_error(invoke("generate", "-m", model_dir, "-s", "0-1", "-o", tmp_path / "g.png"))
    assert "g_seed0001.png" in out and "g.json" in out and "exist;" in out
    assert snapshot(tmp_path) == before


def test_resample_checks_its_numbered_outputs_before_work(model_dir, tmp_path, no_work):
    (tmp_path / "r_01.png").write_text("mine")
    before = snapshot(tmp_path)
    out = one_line_error(invoke("resample", "-m", model_dir, "-r", BOX, "--variations", "2", "-o", tmp_path / "r.png"))
    assert "r_01.png exists" in out
    assert snapshot(tmp_path) == before


def test_directions_and_catalog_check_before_work(model_dir, tmp_path, no_work):
    (tmp_path / "d.safetensors").write_text("mine")
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "clusters.png").write_text("mine")
    before = snapshot(tmp_path)
    out = one_line_error(invoke("directions", "-m", model_dir, "-r", BOX, "-o", tmp_path / "d.safetensors"))
    assert "d.safetensors exists" in out
    out = one_line_error(invoke("catalog", "-m", model_dir, "--out", tmp_path / "cat"))
    assert "clusters.png exists" in out
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# --overwrite replaces only the command's own files


def test_overwrite_replaces_only_the_files_of_this_run(model_dir, tmp_path):
    assert invoke("generate", "-m", model_dir, "-s", "0-2", "-o", tmp_path / "g.png").exit_code == 0
    (tmp_path / "notes.txt").write_text("mine")
    old_seed2 = (tmp_path / "g_seed0002.png").read_bytes()
    old_grid = (tmp_path / "g.png").read_bytes()
    r = invoke("generate", "-m", model_dir, "-s", "0-1", "-t", "0.5", "-o", tmp_path / "g.png", "--overwrite")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.png").read_bytes() != old_grid  # replaced
    assert (tmp_path / "g_seed0002.png").read_bytes() == old_seed2  # not an output of this run: kept
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_a_link_is_never_written_through_even_with_overwrite(model_dir, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "g_seed0000.png").symlink_to(victim)
    before = snapshot(tmp_path)
    out = one_line_error(invoke("generate", "-m", model_dir, "-s", "0", "-o", tmp_path / "g.png", "--overwrite"))
    assert "g_seed0000.png is a symbolic link" in out
    assert snapshot(tmp_path) == before


def test_an_output_that_is_an_input_is_refused_even_with_overwrite(model_dir, tmp_path, no_work):
    path = tmp_path / "d.safetensors"
    Directions(vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,)).save(path)
    before = snapshot(tmp_path)
    # the recipe's sidecar of --out d.png would be d.safetensors: the directions file being read
    out = one_line_error(invoke("edit", "-d", path, "-m", model_dir, "-o", tmp_path / "d.png", "--overwrite"))
    assert "d.safetensors is also an input" in out
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# Nothing is written when the command fails after its work


def _fail_on_call(n: int, error: Exception):
    calls = {"n": 0}
    real = Image.Image.save

    def save(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= n:
            raise error
        return real(self, *args, **kwargs)

    return save


def test_resample_writes_nothing_when_an_image_fails_to_write(model_dir, tmp_path, monkeypatch):
    args = ["resample", "-m", model_dir, "-r", BOX, "--variations", "2", "-o", tmp_path / "r.png"]
    assert invoke(*args).exit_code == 0
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    monkeypatch.setattr(Image.Image, "save", _fail_on_call(3, OSError("disk full")))
    out = one_line_error(invoke(*args, "-t", "0.5", "--overwrite"), code=1)
    assert "disk full" in out
    assert snapshot(tmp_path) == before  # the earlier outputs are whole, and no new file or temporary


def test_edit_writes_nothing_when_its_recipe_fails_to_write(model_dir, tmp_path, monkeypatch):
    dirs = tmp_path / "d.safetensors"
    assert invoke("directions", "-m", model_dir, "-r", BOX, "--samples", "1", "--k", "2", "-o", dirs).exit_code == 0
    before = snapshot(tmp_path)

    def broken_json_writer(data, allow_nan=False):
        def write(path):
            raise OSError("no space left for the recipe")

        return write

    monkeypatch.setattr("regiongan.checkpoints.files.json_writer", broken_json_writer)
    out = one_line_error(invoke("edit", "-d", dirs, "--seeds", "0", "--strengths=-1,1", "-o", tmp_path / "e.png"), code=1)
    assert "no space left for the recipe" in out
    assert snapshot(tmp_path) == before  # no PNG, no sidecar, no JSON, no folder


@pytest.fixture(scope="module")
def inputs(model_dir, tmp_path_factory):
    """What the commands below read: a directions file, a catalog and a recipe of the tiny model."""
    folder = tmp_path_factory.mktemp("inputs")
    G = rg.load_model(model_dir)
    rg.build_catalog(G, samples=4, k=2, fit_samples=4, progress=False).save(folder / "cat")
    Directions(vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,), model={"name": model_dir}).save(
        folder / "d.safetensors"
    )
    save_recipe(rg.resample(G, 3, BOX, variations=2).recipe, folder / "r.json")
    return folder


#: Each command twice: the first run writes the "old" files, the second (other values, --overwrite) fails.
COMMANDS = {
    "generate": (["generate", "-m", "{m}", "-s", "0-1", "-o", "{out}/g.png"], ["-t", "0.5"]),
    "resample": (["resample", "-m", "{m}", "-r", BOX, "--variations", "2", "-o", "{out}/r.png"], ["-t", "0.5"]),
    "transfer": (["transfer", "-m", "{m}", "--target", "1", "--reference", "2", "-r", BOX, "-o", "{out}/t.png"], ["-t", "0.5"]),
    "saliency": (["saliency", "-m", "{m}", "--seed", "1", "-r", BOX, "--psi", "1.5", "-o", "{out}/s.png"], ["--psi", "1.2"]),
    "part-transfer": (
        ["part-transfer", "-m", "{m}", "-c", "{inputs}/cat", "--target", "1", "--reference", "2", "-p", "0", "-o", "{out}/p.png"],
        ["--reference", "3"],
    ),
    "edit": (["edit", "-d", "{inputs}/d.safetensors", "--seeds", "0", "--strengths=-1,1", "-o", "{out}/e.png"], ["--seeds", "1"]),
    "replay": (["replay", "{inputs}/r.json", "-o", "{out}/again.png"], ["--scale", "2"]),
    "directions": (["directions", "-m", "{m}", "-r", BOX, "--samples", "1", "--k", "2", "-o", "{out}/d.safetensors"], ["--k", "1"]),
    "catalog": (
        ["catalog", "-m", "{m}", "--samples", "4", "--fit-samples", "4", "--k", "2", "--no-progress", "--out", "{out}/cat"],
        ["--seed", "1"],
    ),
    "data-preview": (["data", "preview", "--count", "1", "--size", "8", "--out", "{out}/p.png"], ["--seed", "3"]),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_writes_nothing_when_it_fails_after_its_work(command, model_dir, inputs, tmp_path, monkeypatch):
    first, change = COMMANDS[command]
    args = [a.format(m=model_dir, out=tmp_path, inputs=inputs) for a in first]
    assert invoke(*args).exit_code == 0
    (tmp_path / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)

    def full_disk(path):  # the first flush of a staged file: the work is done, every output is rendered
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("regiongan.cli.output.fsync_path", full_disk)
    out = one_line_error(invoke(*args, *change, "--overwrite"), code=1)
    assert "No space left on device" in out
    assert snapshot(tmp_path) == before  # the earlier outputs as they were, nothing new, no temporaries


def test_a_failure_while_moving_files_in_puts_the_earlier_files_back(tmp_path, monkeypatch):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_text(f"old {name}")
    before = snapshot(tmp_path)
    plan = OutputPlan(overwrite=True)
    plan.add(tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png")
    plan.check()
    for name in ("a.png", "b.png", "c.png"):
        plan.write(tmp_path / name, lambda path, name=name: path.write_text(f"new {name}"))
    real, calls = os.replace, {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise PermissionError("c.png: permission denied")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError, match="permission denied"):
        plan.commit()
    monkeypatch.undo()
    assert snapshot(tmp_path) == before  # a.png and b.png are the old files again, c.png is gone


# --------------------------------------------------------------------------------------------------
# convert: replaces only a model directory, never the source, never through a link


def test_convert_overwrite_refuses_an_unrelated_folder(model_dir, tmp_path, no_work):
    dest = tmp_path / "photos"
    dest.mkdir()
    (dest / "holiday.jpg").write_text("mine")
    before = snapshot(tmp_path)
    out = one_line_error(invoke("convert", model_dir, dest, "--overwrite"))
    assert "is not a regiongan model directory" in out and "choose another folder" in out
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["is", "holds", "inside"])
def test_convert_never_writes_over_or_around_its_source(model_dir, tmp_path, where):
    src = tmp_path / "src"
    save_pretrained(rg.load_model(model_dir), src)
    (src / "README.md").write_text("card")
    source, dest = {
        "is": (src, src),
        "holds": (src / "model.safetensors", src),  # the weights file inside the folder being replaced
        "inside": (src, src / "sub"),
    }[where]
    before = snapshot(tmp_path)
    out = one_line_error(invoke("convert", source, dest, "--overwrite"))
    assert f"{'is' if where == 'is' else 'holds' if where == 'holds' else 'lies inside'} the input" in out
    assert snapshot(tmp_path) == before


def test_convert_keeps_a_sibling_named_like_an_old_backup(model_dir, tmp_path):
    dest = tmp_path / "m"
    (tmp_path / ".m.old").mkdir()
    (tmp_path / ".m.old" / "keep.txt").write_text("mine")
    assert invoke("convert", model_dir, dest).exit_code == 0
    r = invoke("convert", model_dir, dest, "--dtype", "float16", "--overwrite")
    assert r.exit_code == 0, r.output
    assert (tmp_path / ".m.old" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.old", "m"]  # nothing else: no temporaries
    assert json.loads((dest / "config.json").read_text())["weights_dtype"] == "float16"


def test_convert_never_follows_or_replaces_a_linked_dest(model_dir, tmp_path, no_work):
    real = tmp_path / "real"
    save_pretrained(tiny_stylegan2(seed=3), real)
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    before = snapshot(tmp_path)
    out = one_line_error(invoke("convert", model_dir, tmp_path / "link", "--overwrite"))
    assert "symbolic link" in out
    assert snapshot(tmp_path) == before


def test_convert_refuses_a_file_as_dest(model_dir, tmp_path, no_work):
    (tmp_path / "m").write_text("mine")
    before = snapshot(tmp_path)
    out = one_line_error(invoke("convert", model_dir, tmp_path / "m", "--overwrite"))
    assert "is a file, not a folder" in out
    assert snapshot(tmp_path) == before


def test_convert_into_an_empty_folder_and_over_a_model_keeps_the_card(model_dir, tmp_path):
    dest = tmp_path / "m"
    dest.mkdir()
    assert invoke("convert", model_dir, dest).exit_code == 0  # an empty folder needs no --overwrite
    (dest / "README.md").write_text("card")
    out = one_line_error(invoke("convert", model_dir, dest))
    assert "config.json" in out and "--overwrite" in out
    assert invoke("convert", model_dir, dest, "--overwrite").exit_code == 0
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert (dest / "README.md").read_text() == "card" and [p.name for p in tmp_path.iterdir()] == ["m"]


def test_save_pretrained_overwrite_refuses_a_folder_that_is_not_a_model(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="not a regiongan model directory") as info:
        save_pretrained(tiny_stylegan2(), d, overwrite=True)
    assert "\n" not in str(info.value)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------------
# data preview / data export


def test_data_preview_is_planned_refused_and_overwrites_only_with_the_flag(tmp_path):
    out = tmp_path / "p.png"
    args = ["data", "preview", "--count", "1", "--size", "8", "--out", out]
    assert invoke(*args).exit_code == 0
    before = snapshot(tmp_path)
    msg = one_line_error(invoke(*args[:-2], "--seed", "4", "--out", out))
    assert "p.png exists" in msg and "--overwrite" in msg
    assert snapshot(tmp_path) == before
    (tmp_path / "q.png").symlink_to(tmp_path / "p.png")
    msg = one_line_error(invoke(*args[:-2], "--out", tmp_path / "q.png", "--overwrite"))
    assert "symbolic link" in msg and (tmp_path / "p.png").read_bytes() == before["p.png"]
    assert invoke(*args[:-2], "--seed", "4", "--out", out, "--overwrite").exit_code == 0
    assert out.read_bytes() != before["p.png"]


def test_data_export_overwrite_refuses_a_folder_that_is_not_an_export(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("mine")
    before = snapshot(tmp_path / "e")
    msg = one_line_error(invoke("data", "export", "--count", "2", "--size", "8", tmp_path / "e"))
    assert "not empty" in msg
    msg = one_line_error(invoke("data", "export", "--count", "2", "--size", "8", tmp_path / "e", "--overwrite"))
    assert "is not a regiongan data export" in msg
    (tmp_path / "link").symlink_to(tmp_path / "e", target_is_directory=True)
    msg = one_line_error(invoke("data", "export", "--count", "2", "--size", "8", tmp_path / "link", "--overwrite"))
    assert "symbolic link" in msg
    assert snapshot(tmp_path / "e") == before and sorted(p.name for p in tmp_path.iterdir()) == ["e", "link"]


def test_data_export_overwrite_replaces_only_export_files_and_drops_stale_ones(tmp_path):
    out = tmp_path / "e"
    assert invoke("data", "export", "--count", "3", "--size", "8", out).exit_code == 0
    (out / "notes.txt").write_text("mine")
    (out / "images" / "cover.png").write_text("mine too")
    assert invoke("data", "export", "--count", "1", "--size", "8", out, "--overwrite").exit_code == 0
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "cover.png"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "images" / "cover.png").read_text() == "mine too"
    assert json.loads((out / "world.json").read_text())["count"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["e"]


def test_data_export_that_fails_midway_leaves_the_earlier_export(tmp_path, monkeypatch):
    out = tmp_path / "e"
    export_world("faces", out, count=2, size=8)
    before = snapshot(tmp_path)
    world = get_world("faces")
    real = type(world).sample_batch
    calls = {"n": 0}

    def sample_batch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("out of memory in the second batch")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(world), "sample_batch", sample_batch)
    with pytest.raises(MemoryError):
        export_world(world, out, count=4, size=8, batch=2, overwrite=True)
    assert snapshot(tmp_path) == before  # the earlier export whole, no half-written PNG, no temporaries


# --------------------------------------------------------------------------------------------------
# Recipes and directions written through the API


def _tensor_recipe() -> Recipe:
    return Recipe(method="itan.resample", model="m", params={"code": torch.randn(1, 16), "region": BOX})


def test_a_recipe_sidecar_linked_out_of_its_folder_is_refused(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "elsewhere").mkdir()
    path = save_recipe(_tensor_recipe(), tmp_path / "r" / "rec.json")
    side = tmp_path / "r" / "rec.safetensors"
    os.replace(side, tmp_path / "elsewhere" / "rec.safetensors")
    side.symlink_to(tmp_path / "elsewhere" / "rec.safetensors")
    with pytest.raises(RecipeError, match="a link out of the recipe's folder") as info:
        load_recipe(path)
    assert "\n" not in str(info.value)


def test_an_edited_recipe_sidecar_is_refused_in_one_line(tmp_path):
    path = save_recipe(_tensor_recipe(), tmp_path / "rec.json")
    save_recipe(_tensor_recipe(), tmp_path / "other.json")
    os.replace(tmp_path / "other.safetensors", tmp_path / "rec.safetensors")  # a well-formed file of another save
    with pytest.raises(RecipeError, match="its tensors file 'rec.safetensors' does not match: an interrupted save or an edited file") as info:
        load_recipe(path)
    assert "\n" not in str(info.value)
    data = json.loads(path.read_text())
    del data["tensors_sha256"]
    path.write_text(json.dumps(data))
    with pytest.raises(RecipeError, match="'tensors_sha256' must be the sha256"):
        load_recipe(path)


def test_api_saves_refuse_links_even_with_overwrite(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "rec.json").symlink_to(victim)
    (tmp_path / "d.safetensors").symlink_to(victim)
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match="symbolic link"):
        save_recipe(_tensor_recipe(), tmp_path / "rec.json", overwrite=True)
    dirs = Directions(vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,))
    with pytest.raises(FileExistsError, match="symbolic link"):
        dirs.save(tmp_path / "d.safetensors", overwrite=True)
    assert snapshot(tmp_path) == before


def test_directions_overwrite_is_one_atomic_replace(tmp_path, monkeypatch):
    path = tmp_path / "d.safetensors"
    Directions(vectors=torch.eye(2, 16), eigenvalues=torch.ones(2), space="w", rows=(0,)).save(path)
    synced, replaced, real_fsync, real_replace = [], [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append((Path(a), Path(b))), real_replace(a, b))[1])
    Directions(vectors=torch.eye(3, 16), eigenvalues=torch.ones(3), space="w", rows=(0,)).save(path, overwrite=True)
    assert len(replaced) == 1 and replaced[0][1] == path and replaced[0][0].parent != tmp_path and synced
    assert rg.load_directions(path).k == 3 and [p.name for p in tmp_path.iterdir()] == ["d.safetensors"]
