"""Shared fixtures of the Editing in Style tests: the tiny seeded model of tests/conftest.py, once per module."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_stylegan2


@pytest.fixture(scope="module")
def G():
    return tiny_stylegan2()
