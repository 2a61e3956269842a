"""The studio on a label-map model (SPADE), without Gradio: the session starts on ``spade.synthesize`` of a
``world:scenes`` label map, the SPADE panels (and only they) are available, a repaint runs with the session's
labels and style and stacks like any edit (mask = the repainted region), and the export replays bit-for-bit."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
import regiongan.api  # noqa: F401  (registers the built-in operations)
from regiongan.latents import z_from_seeds
from regiongan.studio import STACK_METHOD, StudioSession
from regiongan.studio.export import export_stack
from regiongan.studio.panels import build_panels, call_params
from regiongan.studio.session import is_label_model, label_world
from tests.methods.test_spade_methods import tiny_spade

pytestmark = pytest.mark.usefixtures("one_thread")
BOX = "box:0,16,32,32"


@pytest.fixture(scope="module")
def G():
    return tiny_spade()


@pytest.fixture
def session(G):
    return StudioSession.start("tiny-spade", G, seed=3)


def _context(s: StudioSession, region=None) -> dict:
    return {"seed": s.seed, "region": region, "layers": None, "truncation_psi": 1.0, "class": None, "directions": None,
            "labels": s.labels, "world": s.world}  # fmt: skip


def test_a_label_map_model_starts_on_synthesize_of_a_world_label_map(session, G):
    assert is_label_model(G) and label_world(G) == "scenes" and session.world == "scenes"
    base = session.stack.base
    assert base.method == "spade.synthesize" and base.params["labels"] == "world:scenes:3" and base.params["seed"] == 3
    expected = rg.synthesize(G, "world:scenes:3", seed=3).images
    assert torch.equal(session.stack.current, expected)
    assert session.labels == "world:scenes:3"


def test_a_model_without_a_known_world_asks_for_a_label_map():
    G = tiny_spade(label_nc=5)
    with pytest.raises(ValueError, match="names no training world.*label map"):
        StudioSession.start("odd", G, seed=0)
    s = StudioSession.start("odd", G, seed=2, labels=torch.zeros(1, 32, 32, dtype=torch.long))
    assert s.stack.base.method == "spade.synthesize" and s.world is None


def test_only_the_spade_panels_are_available(G):
    faces = rg.load_model("faces-64")
    panels = {p.method: p for p in build_panels()}
    spade = {m for m, p in panels.items() if p.available(G)}
    assert spade == {"spade.repaint", "spade.synthesize", "spade.region_styles"}
    assert not any(p.available(faces) for p in panels.values() if p.label_map)
    assert panels["itan.resample"].available(faces) and not panels["itan.resample"].available(G)


def test_repaint_stacks_and_the_export_replays_bit_for_bit(session, G, tmp_path):
    panels = {p.method: p for p in build_panels()}
    base = session.stack.current.clone()
    params = call_params(panels["spade.repaint"], {"to": "water"}, _context(session, BOX))
    assert params == {"labels": "world:scenes:3", "region": BOX, "seed": 3, "class_names": "scenes", "to": "water"}
    result = session.propose("spade.repaint", params)
    assert torch.equal(result.extras["before"], base)  # the same style code as the base image
    step = session.accept(0)
    inside = step.mask[0, 0] > 0.5
    assert torch.equal(step.mask, result.extras["mask"])  # mask = the repainted region
    assert inside.any() and not inside.all()
    changed = (session.stack.current - base).abs().amax(1)[0]
    assert changed[inside].max() > 0 and changed[~inside].max() == 0
    assert torch.equal(session.labels, result.extras["labels"])  # the next edit starts from the repainted map
    # a second repaint on the current labels, then a synthesize gallery accepted inside a box
    params = call_params(panels["spade.repaint"], {"to": "tree"}, _context(session, "box:0,0,8,8"))
    assert torch.equal(params["labels"], session.labels)
    session.propose("spade.repaint", params)
    session.accept(0)
    corner = torch.zeros(1, 1, 32, 32)
    corner[..., :16, 16:] = 1
    gallery = session.propose("spade.synthesize", call_params(panels["spade.synthesize"], {"n": 3}, _context(session)),
                              fallback_mask=corner)  # fmt: skip
    assert len(gallery) == 3
    session.accept(2)
    assert [s.method for s in session.stack.steps] == ["spade.repaint", "spade.repaint", "spade.synthesize"]
    session.stack.undo()
    session.stack.undo()
    assert torch.equal(session.labels, result.extras["labels"])  # undo restores the labels too
    session.stack.redo()
    session.stack.redo()
    png, js = export_stack(session.recipe(), session.stack.current, tmp_path, "spade")
    recipe = rg.load_recipe(js)
    assert recipe.method == STACK_METHOD and recipe.params["base"]["method"] == "spade.synthesize"
    again = rg.replay(js, G=G)
    assert torch.equal(again.images, session.stack.current)
    other = StudioSession.start("tiny-spade", G, seed=0)
    other.import_recipe(recipe)
    assert other.seed == 3 and len(other.stack.steps) == 3
    assert torch.equal(other.stack.current, session.stack.current)


def test_repaint_uses_the_sessions_style_code(session, G):
    out = session.run("spade.repaint", {"labels": session.labels, "region": BOX, "to": 1, "seed": session.seed})
    assert torch.equal(out.extras["codes"], z_from_seeds([3], G.z_dim).to(out.extras["codes"]))
