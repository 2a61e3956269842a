"""Shared test helpers: fixture location, tiny seeded models, one-thread torch.

Modules that run tiny models opt in to one torch thread with
``pytestmark = pytest.mark.usefixtures("one_thread")``, and build their models with
``tiny_stylegan2(seed, **overrides)``: saved with ``save_tiny``, or built and saved once per module by the
``saved_tiny`` / ``model_dir`` fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from regiongan.checkpoints import save_pretrained
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


def save_tiny(directory: str | Path, G: StyleGAN2) -> str:
    """Save a (tiny) model as ``directory/tiny``; returns that path as a string, ready for ``--model``."""
    return str(save_pretrained(G, Path(directory) / "tiny"))


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module, restored after it. Tiny models run fastest on one thread; with two
    threads on a busy 2-core machine (e.g. a training run in the background) OpenMP contention makes each
    forward ~50x slower. Opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``, which sets it
    up before the module's other module-scoped fixtures."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory) -> tuple[StyleGAN2, str]:
    """``tiny_stylegan2()`` (seed 0), built and saved once per module: ``(G, the saved model's path)``."""
    G = tiny_stylegan2()
    return G, save_tiny(tmp_path_factory.mktemp("m"), G)


@pytest.fixture(scope="module")
def model_dir(saved_tiny) -> str:
    """The path of ``saved_tiny``'s model, to pass as ``--model``."""
    return saved_tiny[1]
