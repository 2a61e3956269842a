"""Errors raised while reading checkpoints.

Import-only and standard-library-only on purpose: every loader (and the CLI) can import these without
pulling in torch, and other checkpoint formats add their own subclasses here.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "CorruptCheckpointError", "UnsafeCheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint could not be read, or does not hold what was asked for."""


class UnsafeCheckpointError(CheckpointError):
    """The checkpoint asks for something that could execute code. It was refused; nothing from it ran."""


class CorruptCheckpointError(CheckpointError):
    """The checkpoint file is truncated, damaged, or not in the format it claims to be."""
