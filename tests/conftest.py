"""Shared test helpers: fixture location, tiny seeded models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from regiongan.generators.stylegan2 import StyleGAN2

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("REGIONGAN_FIXTURES", REPO.parent / "shared" / "fixtures"))


def fixture_path(name: str) -> Path:
    """Path of a conformance fixture, or skip the test with a clear reason when ../shared is absent."""
    p = FIXTURES / name
    if not p.is_file():
        pytest.skip(f"conformance fixture {name} not found in {FIXTURES} (set REGIONGAN_FIXTURES or check out ../shared)")
    return p


def tiny_stylegan2(seed: int = 0, **overrides) -> StyleGAN2:
    """A small randomly initialised StyleGAN2 (32², 32 channels) with non-zero noise strengths and biases."""
    torch.manual_seed(seed)
    cfg = dict(z_dim=16, w_dim=16, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32)
    cfg.update(overrides)
    G = StyleGAN2(**cfg)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength") or (name.endswith("bias") and "affine" not in name):
                p.normal_(0, 0.2)
        G.mapping.w_avg.normal_()
    return G.eval().requires_grad_(False)


@pytest.fixture
def G() -> StyleGAN2:
    return tiny_stylegan2()
