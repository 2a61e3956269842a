"""Crash consistency with a real SIGKILL: a save killed at any step never loads as a mix of two versions.

A child process (``python -c`` running :data:`ZYGOTE`) imports regiongan once and, for each job, forks a
process that saves one artefact after arming a test-only hook: ``os.replace``, ``os.rename``, ``os.fsync``
and the atomic folder exchange are wrapped so that the process sends itself SIGKILL just before its
(N+1)-th such step. Every N from 0 up to a save that runs to the end is tried. After each kill the test
asserts in this process that loading gives the complete old artefact, the complete new one, or a one-line
error (never a mix); that what a killed save leaves behind is hidden and never read as an artefact; and
that saving again succeeds. The production code has no hooks: only this test wraps functions, in the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import regiongan as rg
from regiongan.checkpoints import CheckpointError, load_model, load_pretrained, save_pretrained
from regiongan.methods.editing_in_style import Catalog, CatalogError
from regiongan.methods.resefa import Directions
from regiongan.recipes import Recipe, RecipeError, load_recipe, save_recipe

from ..conftest import tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[2]
STEPS_LIMIT = 80  # no save here takes this many steps; a loop that reaches it is a test bug

ZYGOTE = r"""
import json, os, signal, sys, traceback
import torch
torch.set_num_threads(1)
import regiongan.cli, regiongan.methods  # everything a job may need, imported once before the forks
import tests.hardening.test_crash  # the artefact builders
from regiongan.checkpoints import files

def arm(kill_after, exchange):
    steps = [0]
    def step(fn):
        def wrapped(*args, **kwargs):
            if steps[0] == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            steps[0] += 1
            return fn(*args, **kwargs)
        return wrapped
    os.replace, os.rename, os.fsync = step(os.replace), step(os.rename), step(os.fsync)
    files._exchange = step(files._exchange if exchange else (lambda a, b: False))

while True:
    line = sys.stdin.readline()
    if not line:
        break
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.dup2(2, 1)  # what the job prints goes to the log, never into the replies
        try:
            arm(job["kill_after"], job["exchange"])
            exec(job["code"], {"__name__": "__job__"})
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    print(json.dumps({"killed": killed, "status": status}), flush=True)
"""


class Zygote:
    """The child process that forks one saving process per job."""

    def __init__(self, log: Path) -> None:
        self.log = log
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(log, "w"), text=True,
        )  # fmt: skip

    def run(self, code: str, kill_after: int, exchange: bool = True) -> bool:
        """Run ``code`` in a fresh process killed before its (kill_after+1)-th step; True if it was killed."""
        self.proc.stdin.write(json.dumps({"code": code, "kill_after": kill_after, "exchange": exchange}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the child process died: {self.log.read_text()[-3000:]}"
        reply = json.loads(line)
        assert reply["killed"] or reply["status"] == 0, f"the save failed: {self.log.read_text()[-3000:]}"
        return reply["killed"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote(tmp_path_factory.mktemp("zygote") / "stderr.txt")
    yield z
    z.close()


def kill_at_every_step(zygote: Zygote, tmp_path: Path, prepare, code: str, check, exchange: bool = True) -> int:
    """For N = 0, 1, …: ``prepare(folder)`` a fresh folder, run ``code`` (formatted with ``folder``) killed
    before step N+1, then ``check(folder, killed)``; stops after the first run that is not killed. Returns
    how many kill points there were."""
    for n in range(STEPS_LIMIT):
        folder = tmp_path / f"kill{n:02d}"
        folder.mkdir()
        prepare(folder)
        killed = zygote.run(code.format(folder=str(folder)), n, exchange)
        check(folder, killed)
        if not killed:
            assert n >= 2, f"only {n} steps: the hook did not see the save"
            return n
    raise AssertionError(f"the save took more than {STEPS_LIMIT} steps")


def visible(folder: Path) -> list[str]:
    """The entries of ``folder`` a user or a loader sees (hidden temporaries left by a kill excluded)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def hidden_hold_nothing_loadable(folder: Path, names: set[str]) -> None:
    """What a kill leaves in ``folder`` is hidden folders only; for folder artefacts (``names``: the files
    that make a folder an artefact, e.g. config.json) they hold none of these at their top level, so a scan
    of ``folder`` (``list_models``) never lists them."""
    for p in folder.iterdir():
        if p.name.startswith("."):
            assert p.is_dir() and not p.is_symlink(), f"{p}: a stray file"
            assert not names & {q.name for q in p.iterdir()}, f"{p} looks like an artefact"


def one_line(error: Exception) -> str:
    message = str(error)
    assert message and "\n" not in message, message
    return message


# --------------------------------------------------------------------------------------------------
# Artefacts, built the same way in this process and in the child


def make_catalog(seed: int) -> Catalog:
    g = torch.Generator().manual_seed(seed)
    contributions = {"b8.conv0": torch.rand(4, 8, generator=g).softmax(0), "b16.conv0": torch.rand(4, 6, generator=g).softmax(0)}
    return Catalog(
        centroids=torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=1), layer="b8.conv0",
        contributions=contributions, model={"fingerprint": f"sha256:{seed}", "name": "m"}, names={"eyes": [seed % 4]},
    )  # fmt: skip


def make_recipe(seed: int) -> Recipe:
    code = torch.randn(1, 16, generator=torch.Generator().manual_seed(seed))
    return Recipe(method="itan.resample", model="m", params={"code": code, "region": "box:0,0,8,8", "variations": seed})


def make_directions(seed: int) -> Directions:
    g = torch.Generator().manual_seed(seed)
    vectors = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=1)
    return Directions(vectors=vectors, eigenvalues=torch.rand(3, generator=g, dtype=torch.float64), space="w", rows=(0, 1))


def content(path: Path) -> object:
    """A file's content to compare: safetensors by tensors and metadata (their header order varies between
    processes), anything else by bytes."""
    if path.suffix != ".safetensors":
        return path.read_bytes()
    with safe_open(str(path), framework="pt") as f:
        return sorted((f.metadata() or {}).items()), {k: f.get_tensor(k).numpy().tobytes() for k in sorted(f.keys())}


def same_catalog(a: Catalog, b: Catalog) -> bool:
    return torch.equal(a.centroids, b.centroids) and a.names == b.names and all(
        torch.equal(a.contributions[k], b.contributions[k]) for k in b.contributions
    )


def same_state(model, reference) -> bool:
    ref = reference.state_dict()
    return all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


# --------------------------------------------------------------------------------------------------
# The cases


@pytest.mark.parametrize("old", [True, False], ids=["over-an-old-catalog", "new-folder"])
def test_catalog_save_killed_at_any_step(zygote, tmp_path, old):
    old_cat, new_cat = make_catalog(1), make_catalog(2)

    def prepare(folder):
        if old:
            old_cat.save(folder / "cat")
            (folder / "cat" / "README.md").write_text("card")

    def check(folder, killed):
        cat = folder / "cat"
        try:
            loaded = Catalog.load(cat)
            assert same_catalog(loaded, new_cat) or (old and same_catalog(loaded, old_cat)), "a mix of two catalogs"
            assert killed or same_catalog(loaded, new_cat)
        except CatalogError as e:  # e.g. new tensors with the old JSON: refused by the digest
            assert killed and ("does not belong" in one_line(e) or "not found" in str(e) or "missing" in str(e))
        if cat.exists():
            assert set(visible(cat)) <= {"catalog.json", "catalog.safetensors", "README.md"}
            hidden_hold_nothing_loadable(cat, set())  # staging is inside the catalog folder, one level down
        new_cat.save(cat, overwrite=True)  # saving again succeeds
        assert same_catalog(Catalog.load(cat), new_cat) and (not old or (cat / "README.md").read_text() == "card")

    code = "from tests.hardening.test_crash import make_catalog\nmake_catalog(2).save({folder!r} + '/cat', overwrite=True)"
    assert kill_at_every_step(zygote, tmp_path, prepare, code, check) >= 4


def test_recipe_with_a_sidecar_killed_at_any_step(zygote, tmp_path):
    old_rec, new_rec = make_recipe(1), make_recipe(2)

    def check(folder, killed):
        path = folder / "r.json"
        try:
            rec = load_recipe(path)
            assert torch.equal(rec.params["code"], old_rec.params["code"]) and rec.params["variations"] == 1 or (
                torch.equal(rec.params["code"], new_rec.params["code"]) and rec.params["variations"] == 2
            ), "the JSON of one save with the tensors of another"
        except RecipeError as e:
            assert killed and "does not match: an interrupted save or an edited file" in one_line(e)
        assert set(visible(folder)) == {"r.json", "r.safetensors"}
        save_recipe(new_rec, path, overwrite=True)
        assert load_recipe(path).params["variations"] == 2

    code = "from tests.hardening.test_crash import make_recipe\nmake_recipe(2).save({folder!r} + '/r.json', overwrite=True)"
    prepare = lambda folder: save_recipe(old_rec, folder / "r.json")  # noqa: E731
    assert kill_at_every_step(zygote, tmp_path, prepare, code, check) >= 4


def test_directions_killed_at_any_step(zygote, tmp_path):
    old_dirs, new_dirs = make_directions(1), make_directions(2)

    def check(folder, killed):
        loaded = rg.load_directions(folder / "d.safetensors")  # a single file: always whole, never an error
        assert torch.equal(loaded.vectors, new_dirs.vectors) or (killed and torch.equal(loaded.vectors, old_dirs.vectors))
        assert visible(folder) == ["d.safetensors"]
        hidden_hold_nothing_loadable(folder, set())
        new_dirs.save(folder / "d.safetensors", overwrite=True)

    code = "from tests.hardening.test_crash import make_directions\nmake_directions(2).save({folder!r} + '/d.safetensors', overwrite=True)"
    prepare = lambda folder: old_dirs.save(folder / "d.safetensors")  # noqa: E731
    kill_at_every_step(zygote, tmp_path, prepare, code, check)


@pytest.mark.parametrize("exchange", [True, False], ids=["atomic-exchange", "two-renames"])
def test_model_folder_killed_at_any_step(zygote, tmp_path, exchange):
    old_G, new_G = tiny_stylegan2(seed=1), tiny_stylegan2(seed=2)

    def prepare(folder):
        save_pretrained(old_G, folder / "m", extra={"version": 1})
        (folder / "m" / "README.md").write_text("card")

    def check(folder, killed):
        m = folder / "m"
        try:
            loaded = load_model(m)
            version = json.loads((m / "config.json").read_text())["extra"]["version"]
            assert same_state(loaded, new_G if version == 2 else old_G), "weights of one save, config of another"
            assert version == 2 or killed
            assert (m / "README.md").read_text() == "card"  # the model card survives every step
        except CheckpointError as e:
            # only without the atomic exchange, between its two renames: no folder (the old one is kept aside)
            assert killed and not exchange and not m.exists(), one_line(e)
        assert visible(folder) in (["m"], [])
        hidden_hold_nothing_loadable(folder, {"config.json", "model.safetensors"})
        save_pretrained(new_G, m, overwrite=True, extra={"version": 2})
        assert same_state(load_pretrained(m), new_G)

    code = (
        "from tests.conftest import tiny_stylegan2\nfrom regiongan.checkpoints import save_pretrained\n"
        "save_pretrained(tiny_stylegan2(seed=2), {folder!r} + '/m', overwrite=True, extra={{'version': 2}})"
    )
    kill_at_every_step(zygote, tmp_path, prepare, code, check, exchange=exchange)


def test_convert_killed_at_any_step(zygote, tmp_path):
    source = tmp_path / "source"
    new_G = tiny_stylegan2(seed=2)
    save_pretrained(new_G, source)
    old_G = tiny_stylegan2(seed=1)

    def prepare(folder):
        save_pretrained(old_G, folder / "m")

    def check(folder, killed):
        loaded = load_pretrained(folder / "m")
        assert same_state(loaded, new_G) or (killed and same_state(loaded, old_G))
        assert visible(folder) == ["m"] and sorted(p.name for p in (folder / "m").iterdir()) == ["config.json", "model.safetensors"]
        assert same_state(load_pretrained(source), new_G)  # the source is never touched

    code = (
        "from regiongan.cli import main\n"
        f"main.main(args=['convert', {str(source)!r}, {{folder!r}} + '/m', '--overwrite'], standalone_mode=False)"
    )
    kill_at_every_step(zygote, tmp_path, prepare, code, check)


def test_an_image_command_killed_at_any_step(zygote, tmp_path, model_dir):
    args = ["generate", "-m", model_dir, "-s", "0-1", "-o"]
    from click.testing import CliRunner

    from regiongan.cli import main

    def run(out: Path, *more: str) -> None:
        r = CliRunner().invoke(main, [*args, str(out), *more])
        assert r.exit_code == 0, r.output

    run(tmp_path / "old" / "g.png")
    run(tmp_path / "new" / "g.png", "-t", "0.5")
    old = {p.name: content(p) for p in (tmp_path / "old").iterdir()}
    new = {p.name: content(p) for p in (tmp_path / "new").iterdir()}
    assert old.keys() == new.keys() and all(old[k] != new[k] for k in old)

    def prepare(folder):
        for p in (tmp_path / "old").iterdir():
            (folder / p.name).write_bytes(p.read_bytes())

    def check(folder, killed):
        for name in visible(folder):
            data = content(folder / name)
            assert data == new[name] or (killed and data == old[name]), f"{name} is neither the old nor the new file"
        assert set(visible(folder)) == set(old)
        hidden_hold_nothing_loadable(folder, set())
        load_recipe(folder / "g.json")  # whole, and it replays
        run(folder / "g.png", "-t", "0.5", "--overwrite")  # a rerun succeeds, hidden temporaries do not block it
        assert {name: content(folder / name) for name in visible(folder)} == new

    code = (
        "from regiongan.cli import main\n"
        f"main.main(args={args!r} + [{{folder!r}} + '/g.png', '-t', '0.5', '--overwrite'], standalone_mode=False)"
    )
    assert kill_at_every_step(zygote, tmp_path, prepare, code, check) >= 10


def test_an_image_command_killed_before_its_first_move_leaves_nothing_that_blocks_a_rerun(zygote, tmp_path, model_dir):
    from click.testing import CliRunner

    from regiongan.cli import main

    out = tmp_path / "g.png"
    code = f"from regiongan.cli import main\nmain.main(args=['generate', '-m', {model_dir!r}, '-s', '0', '-o', {str(out)!r}], standalone_mode=False)"
    assert zygote.run(code, 0)  # killed at its first step: every file written, none moved in
    assert visible(tmp_path) == []
    r = CliRunner().invoke(main, ["generate", "-m", model_dir, "-s", "0", "-o", str(out)])  # no --overwrite needed
    assert r.exit_code == 0, r.output
    assert visible(tmp_path) == ["g.json", "g.png", "g_latents.safetensors", "g_seed0000.png"]


def test_shipping_a_model_killed_at_any_step(zygote, tmp_path):
    run_dir = tmp_path / "run"
    new_G, old_G = tiny_stylegan2(seed=2), tiny_stylegan2(seed=1)
    save_pretrained(new_G, run_dir / "model", extra={"kimg": 1.0, "train_config": {"data": "scenes", "resolution": 32}})

    def prepare(folder):
        shipped = folder / "models" / "m"
        save_pretrained(old_G, shipped)
        (shipped / "README.md").write_text("old card")
        (shipped / "NOTES.txt").write_text("kept")
        (folder / "models" / "other").mkdir()  # a neighbour in the package that shipping never touches
        (folder / "models" / "other" / "x").write_text("x")

    def check(folder, killed):
        models = folder / "models"
        shipped = models / "m"
        loaded = load_pretrained(shipped)
        card = (shipped / "README.md").read_text()
        if same_state(loaded, new_G):
            assert card.startswith("# m") and (shipped / "samples.png").stat().st_size > 100
        else:
            assert killed and same_state(loaded, old_G) and card == "old card", "a card and weights of two ships"
        assert (shipped / "NOTES.txt").read_text() == "kept" and (models / "other" / "x").read_text() == "x"
        assert visible(models) == ["m", "other"]
        assert [p.name for p in models.iterdir() if (p / "config.json").is_file()] == ["m"]  # what list_models sees

    code = (
        "from pathlib import Path\nimport regiongan.training.ship as ship\n"
        f"ship.ship({str(run_dir)!r}, 'm', fd_count=4, grid=4, models_dir=Path({{folder!r}}) / 'models')"
    )
    kill_at_every_step(zygote, tmp_path, prepare, code, check)
