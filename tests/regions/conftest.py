"""Shared helpers for the regiongan.regions tests."""

from __future__ import annotations

SIZE = (32, 48)  # (H, W), deliberately not square
