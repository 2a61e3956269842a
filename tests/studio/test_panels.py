"""Panels come from the method registry: every operation but generate and the stack has one, a new
registration gets one, and the panel's values become the operation's keyword arguments."""

from __future__ import annotations

import pytest

import regiongan.api  # noqa: F401  (registers the built-in operations)
from regiongan.registry import MethodSpec, list_methods
from regiongan.studio.panels import EXCLUDED, FIRST, build_panels, call_params, panel_for


def test_every_registered_operation_has_a_panel():
    names = [p.method for p in build_panels()]
    assert sorted(names) == sorted(set(list_methods()) - EXCLUDED)
    assert names[: len(FIRST)] == [n for n in FIRST if n in names]


def test_a_new_operation_gets_a_panel_with_a_json_box_for_unknown_parameters():
    def repaint(G, code, region, labels, strength: float = 1.0, psi: float = 1.5):
        """Repaint a region from a label map."""

    spec = MethodSpec("spade.repaint", repaint, ("code", "region", "labels"), frozenset({"code", "region", "labels", "strength", "psi"}),
                      "Repaint a region from a label map.", "spade")  # fmt: skip
    panel = panel_for(spec)
    assert panel.shared == {"code": "seed", "region": "region"}
    assert [(c.name, c.kind) for c in panel.controls] == [("labels", "json"), ("psi", "slider")]
    params = call_params(panel, {"labels": "[[0, 1], [1, 0]]", "psi": 1.25}, {"seed": 4, "region": "box:0,0,8,8"})
    assert params == {"code": 4, "region": "box:0,0,8,8", "labels": [[0, 1], [1, 0]], "psi": 1.25}
    with pytest.raises(ValueError, match="labels: not valid JSON"):
        call_params(panel, {"labels": "[[0"}, {"seed": 4})


def test_panel_values_become_the_operations_arguments():
    panels = {p.method: p for p in build_panels()}
    ctx = {"seed": 3, "region": "part:mouth", "layers": "fine", "truncation_psi": 0.7, "class": None, "directions": None}
    assert call_params(panels["itan.resample"], {"variations": 4.0, "variation_seed": 2, "feather": 1.0}, ctx) == {
        "code": 3, "region": "part:mouth", "layers": "fine", "truncation_psi": 0.7, "variations": 4,
        "variation_seed": 2, "feather": 1.0,
    }  # fmt: skip
    edit = call_params(panels["resefa.edit"], {"index": 1, "strengths": 2.5}, ctx)
    assert edit["strengths"] == [2.5] and edit["index"] == 1 and "directions" not in edit
    assert panels["itan.hybridize"].needs_classes and not panels["itan.resample"].needs_classes
