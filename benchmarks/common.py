"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations


def load_shipped(name: str):
    """A model by name/path, or None when it is not available (benchmarks then fall back to a random model)."""
    from regiongan.checkpoints import CheckpointError, load_model

    try:
        return load_model(name)
    except (CheckpointError, FileNotFoundError):
        return None
