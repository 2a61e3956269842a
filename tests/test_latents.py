"""Seeds -> z, codes in any accepted form, truncation and class conditions (regiongan.latents)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from regiongan.latents import (
    MAX_SEED, check_truncation_psi, class_vector, code_record, code_tensor, codes_to_ws, parse_seeds, z_from_seeds,
)  # fmt: skip

from .conftest import tiny_stylegan2


def test_seeds_name_the_same_z_as_nvlabs_generate():
    z = z_from_seeds([42, 7], 16)
    assert torch.equal(z[0], torch.from_numpy(np.random.RandomState(42).randn(16)).float())
    assert z.shape == (2, 16)


def test_parse_seeds_and_their_bounds():
    assert parse_seeds("0-3,10,12-13") == [0, 1, 2, 3, 10, 12, 13]
    for bad in ("", "3-1", "a", f"{MAX_SEED + 1}", "-1"):
        with pytest.raises(ValueError, match="bad seed list"):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="seeds must be ints in 0..4294967295"):
        z_from_seeds([2**32], 4)


def test_codes_in_every_form():
    G = tiny_stylegan2()
    z3 = z_from_seeds([3], 16)
    for value in (3, {"seed": 3}, [3], {"seeds": [3]}):
        assert torch.equal(code_tensor(G, value), z3)
    assert code_record(3) == {"seed": 3} and code_record([1, 2]) == {"seeds": [1, 2]}
    with pytest.raises(ValueError, match="seeds name z codes"):
        code_tensor(G, 3, "w")
    with pytest.raises(ValueError, match="must be a seed"):
        code_tensor(G, "three")


def test_codes_to_ws_in_each_space_and_truncation():
    G = tiny_stylegan2()
    z = z_from_seeds([1, 2], 16)
    ws = codes_to_ws(G, z)
    assert torch.equal(codes_to_ws(G, ws, "w+"), ws)
    assert torch.equal(codes_to_ws(G, ws[:, 0], "w"), ws[:, :1].expand_as(ws))
    torch.testing.assert_close(codes_to_ws(G, ws, "w+", truncation_psi=0.5), G.truncate(ws, 0.5))
    with pytest.raises(ValueError, match=r"must be \[N, 16\], got \(16,\).*z\[None\]"):
        codes_to_ws(G, z[0])
    with pytest.raises(ValueError, match="NaN or inf"):
        codes_to_ws(G, torch.full((1, 16), float("nan")))
    for psi in (0, -1, float("nan"), float("inf"), "x", True):
        with pytest.raises(ValueError, match="truncation_psi must be"):
            check_truncation_psi(psi)


def test_class_conditions():
    G = tiny_stylegan2(c_dim=3)
    one_hot = class_vector(G, 2, 4)
    assert one_hot.shape == (4, 3) and torch.equal(one_hot.argmax(1), torch.full((4,), 2))
    assert torch.equal(class_vector(G, torch.tensor([[0.5, 0.5, 0.0]]), 2), torch.tensor([[0.5, 0.5, 0.0]] * 2))
    with pytest.raises(ValueError, match="class-conditional with 3 classes"):
        class_vector(G, None, 1)
    with pytest.raises(ValueError, match=r"int in 0\.\.2"):
        class_vector(G, 3, 1)
    with pytest.raises(ValueError, match="unconditional"):
        class_vector(tiny_stylegan2(), 0, 1)


def test_direction_spaces_and_the_latent_space_type():
    from regiongan.latents import CLASS_SPACE, DIRECTION_SPACES, SPACES, LatentSpace

    assert DIRECTION_SPACES[: len(SPACES)] == SPACES and CLASS_SPACE in DIRECTION_SPACES
    space = LatentSpace(4, lambda ws: ws[:, 0, :4], lambda ws, d: torch.nn.functional.pad(d, (0, 1))[:, None], "a test space")
    assert space.dim == 4 and space.move(torch.zeros(1, 2, 5), torch.ones(3, 4)).shape == (3, 1, 5)
    for bad, message in ((dict(dim=0), "dim must be an int >= 1"), (dict(dim=True), "dim must be an int >= 1"),
                         (dict(read=3), "must be callables"), (dict(description="two\nlines"), "one non-empty line")):  # fmt: skip
        with pytest.raises((TypeError, ValueError), match=message):
            LatentSpace(**{**dict(dim=4, read=space.read, move=space.move, description="x"), **bad})


def test_soft_class_vectors_must_be_a_mix_of_classes():
    from types import SimpleNamespace

    from regiongan.latents import class_vector

    G = SimpleNamespace(c_dim=3, device=torch.device("cpu"), class_names=("a", "b", "c"))
    mix = torch.tensor([[0.25, 0.75, 0.0]])
    assert torch.equal(class_vector(G, mix, 2), mix.expand(2, -1))
    assert torch.equal(class_vector(G, "b", 1), torch.tensor([[0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match="must not have negative entries"):
        class_vector(G, torch.tensor([[1.5, -0.5, 0.0]]), 1)
    with pytest.raises(ValueError, match="must sum to 1, got a row summing to 0.5"):
        class_vector(G, torch.tensor([[0.25, 0.25, 0.0]]), 1)
    with pytest.raises(ValueError, match=r"unknown class 'd'; this model's classes are a, b, c \(or 0..2\)"):
        class_vector(G, "d", 1)
    with pytest.raises(ValueError, match="this model has no class names"):
        class_vector(SimpleNamespace(c_dim=3, device=torch.device("cpu")), "a", 1)
