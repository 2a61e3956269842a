"""The edit stack and the session without Gradio: accept / undo / redo / history, the stack recipe
(``stack.apply``) replaying bit-for-bit, import, and the shared model cache."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
from regiongan.studio import STACK_METHOD, EditStack, ModelCache, StackError, Step, StudioSession
from regiongan.studio.export import composite, edit_mask, export_stack

pytestmark = pytest.mark.usefixtures("one_thread")
BOX = "box:16,36,48,56"


@pytest.fixture(scope="module")
def faces():
    return rg.load_model("faces-64")


@pytest.fixture
def session(faces):
    return StudioSession.start("faces-64", faces, seed=3)


def test_stack_accept_undo_redo_and_history(session):
    base = session.stack.current.clone()
    with pytest.raises(StackError, match="nothing to accept"):
        session.accept(0)
    with pytest.raises(StackError, match="nothing to undo"):
        session.stack.undo()
    session.propose("itan.resample", {"code": 3, "region": BOX, "variations": 3}, settings={"seed": 3, "variations": 3})
    with pytest.raises(StackError, match="index in 0..2"):
        session.accept(3)
    step = session.accept(2)
    assert session.pending is None
    inside = step.mask[0, 0] > 0.5
    assert inside.any() and not inside.all()
    changed = (session.stack.current - base).abs().amax(1)[0]
    assert changed[inside].mean() > 0.05 and changed[~inside].max() == 0  # only the region changed
    assert len(session.stack.history()) == 2 and "itan.resample #2" in session.stack.history()[1]
    assert session.stack.settings(1) == {"seed": 3, "variations": 3}
    session.stack.undo()
    assert torch.equal(session.stack.current, base) and session.stack.can_redo
    session.stack.redo()
    assert torch.equal(session.stack.before, base)
    session.propose("itan.transfer", {"target": 3, "reference": 11, "region": "box:0,0,16,16"})
    session.accept(0)
    session.stack.undo()
    session.propose("itan.saliency", {"code": 3, "region": BOX, "psi": 1.5})
    session.accept(0)
    assert not session.stack.can_redo  # accepting drops the undone edit
    assert [s.method for s in session.stack.steps] == ["itan.resample", "itan.saliency"]


def test_the_stack_recipe_replays_bit_for_bit_and_imports(session, faces, tmp_path):
    session.propose("itan.resample", {"code": 3, "region": BOX, "variations": 2})
    session.accept(1)
    session.propose("editing_in_style.transfer_part", {"target": 3, "reference": 11, "part": "eyes"})
    session.accept(0)
    png, js = export_stack(session.recipe(), session.stack.current, tmp_path, "stack")
    assert rg.load_recipe(js).method == STACK_METHOD
    again = rg.replay(js)
    assert torch.equal(again.images, session.stack.current)
    assert again.extras["step_masks"].shape == (2, 1, 64, 64)
    with pytest.raises(FileExistsError):
        export_stack(session.recipe(), session.stack.current, tmp_path, "stack")  # never replaces a file
    other = StudioSession.start("faces-64", faces, seed=0)
    other.import_recipe(rg.load_recipe(js))
    assert other.seed == 3 and len(other.stack.steps) == 2
    assert torch.equal(other.stack.current, session.stack.current)
    other.import_recipe(rg.resample(faces, 5, BOX, variations=2).recipe)  # a single recipe becomes the base
    assert other.seed == 5 and other.stack.steps == []


def test_a_stack_refuses_bad_steps(faces):
    from regiongan.recipes import RecipeError

    base = {"method": "generate", "params": {"code": 3}, "choice": 0}
    with pytest.raises(RecipeError, match="mask must be a tensor"):
        rg.registry.get_method(STACK_METHOD).run(faces, base=base, steps=[{"method": "generate", "params": {"code": 4}, "choice": 0}])
    with pytest.raises(RecipeError, match="cannot hold another stack"):
        rg.registry.get_method(STACK_METHOD).run(faces, base={"method": STACK_METHOD, "params": {}, "choice": 0})
    with pytest.raises(RecipeError, match="choice 3"):
        rg.registry.get_method(STACK_METHOD).run(faces, base={"method": "generate", "params": {"code": 3}, "choice": 3})


def test_edit_mask_and_composite():
    images = torch.zeros(2, 3, 4, 4)
    masks = torch.zeros(2, 2, 4, 4)
    masks[:, 0] = 1
    masks[1, 0, :2] = 0
    masks[1, 1, :2] = 1
    r = rg.Result(images=images, extras={"masks": masks})
    assert edit_mask(r, 1).sum() == 8 and edit_mask(r, 0).sum() == 0
    assert edit_mask(rg.Result(images=images), 0).sum() == 16  # no mask: the whole image
    m = edit_mask(r, 1)
    out = composite(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4), m)
    assert out[0, 0, 0, 0] == 1 and out[0, 0, 3, 3] == 0


def test_edit_stack_base_has_no_mask():
    with pytest.raises(ValueError, match="base"):
        EditStack(Step("generate", {}, 0, torch.ones(1, 1, 2, 2), torch.zeros(1, 3, 2, 2)))


def test_model_cache_shares_one_model_per_path_and_fingerprint(tmp_path):
    loads = []

    def loader(spec):
        loads.append(spec)
        return rg.load_model(spec)

    cache = ModelCache(loader)
    assert cache.get("faces-64") is cache.get("faces-64")
    assert loads == ["faces-64"] and cache.keys()[0][1].startswith("sha256:")
