"""Tiny seeded parsers shared by the parser tests."""

from __future__ import annotations

import pytest
import torch

from regiongan.data.worlds import get_world
from regiongan.parser import PartParser, train_parser

TINY_CHANNELS = (8, 16, 32)


def tiny_parser(seed: int = 0) -> PartParser:
    """A randomly initialised faces parser (8/16/32 channels) in eval mode with non-trivial BN statistics."""
    torch.manual_seed(seed)
    w = get_world("faces")
    parser = PartParser(w.part_names, w.attribute_names, channels=TINY_CHANNELS, world="faces")
    with torch.no_grad():
        for name, buf in parser.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    return parser.eval()


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Parser tests are small: one thread (restored after the package) avoids oversubscribing a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def parser() -> PartParser:
    return tiny_parser()


@pytest.fixture(scope="package")
def trained_tiny_parser() -> PartParser:
    """50 steps on 32x32 faces (one thread via ``one_thread``, which runs first): a few seconds."""
    return train_parser("faces", size=32, steps=50, batch=16, seed=0, progress=False, lr=3e-2, channels=TINY_CHANNELS)
