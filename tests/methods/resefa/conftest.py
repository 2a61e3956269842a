"""Shared by the ReSeFa tests: a tiny in-gamut model and one set of directions for a box, built once."""

from __future__ import annotations

import pytest
import torch

from regiongan.methods.resefa import Directions, find_directions

from ...conftest import tiny_stylegan2

BOX = "box:8,8,20,20"


def tiny_in_gamut(seed: int = 0):
    """tiny_stylegan2 with its ToRGB layers scaled by 0.15, so that ~98% of its pixels lie in [-1, 1]: the
    CIELAB locality metric clamps to the displayable range, and the raw tiny model saturates 60% of them."""
    G = tiny_stylegan2(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if ".torgb." in name and "affine" not in name:
                p.mul_(0.15)
    return G


@pytest.fixture(scope="session")
def G():
    return tiny_in_gamut()


@pytest.fixture(scope="session")
def dirs(G) -> Directions:
    """8 samples, k = 4, W space, the box region."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return find_directions(G, BOX, samples=8, k=4)
    finally:
        torch.set_num_threads(before)
