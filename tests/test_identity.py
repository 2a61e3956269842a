"""One model identity (regiongan.identity): fingerprints change with weights and config, checks say why."""

from __future__ import annotations

import pytest
import torch

from regiongan.identity import (
    ModelMismatchError, check_same_architecture, check_same_weights, model_fingerprint, model_record,
)  # fmt: skip

from .conftest import tiny_stylegan2


def test_fingerprint_follows_weights_and_is_recomputed_after_in_place_changes():
    G = tiny_stylegan2()
    fp = model_fingerprint(G)
    assert fp.startswith("sha256:") and model_fingerprint(tiny_stylegan2()) == fp
    assert model_fingerprint(tiny_stylegan2(seed=1)) != fp
    with torch.no_grad():
        next(G.parameters()).add_(1e-3)  # in place: the cache must notice
    assert model_fingerprint(G) != fp


def test_checks_name_the_problem():
    G, other = tiny_stylegan2(), tiny_stylegan2(seed=1)
    record = model_record(G, "mine")
    check_same_weights(G, record, "this catalog")
    with pytest.raises(ModelMismatchError, match=r"this catalog does not fit this model: it was made with other weights \(model 'mine'\)"):
        check_same_weights(other, record, "this catalog")
    check_same_architecture(other, record, "these directions")  # a fine-tune of the same architecture
    with pytest.raises(ModelMismatchError, match=r"made for num_ws=8, img_resolution=32 \(model 'mine'\), this model has num_ws=6, img_resolution=16"):
        check_same_architecture(tiny_stylegan2(img_resolution=16), record, "these directions")
