"""The method registry (regiongan.registry): names, parameters from signatures, clashes refused."""

from __future__ import annotations

import pytest

import regiongan.api  # noqa: F401  (registers the built-in methods)
from regiongan.registry import RegistryError, get_method, list_methods, register_method


def test_parameters_come_from_the_signature():
    spec = get_method("itan.resample")
    assert spec.required == ("code", "region") and "variations" in spec.allowed and "G" not in spec.allowed
    assert spec.family == "itan" and spec.summary.startswith("Local resample")


def test_unknown_and_duplicate_names_are_refused():
    with pytest.raises(RegistryError, match=r"unknown method 'itan.nope'; known methods: \["):
        get_method("itan.nope")
    with pytest.raises(RegistryError, match="already registered"):

        @register_method("itan.resample")
        def other(G, code):  # pragma: no cover - never registered
            raise AssertionError

    assert "itan.resample" in list_methods()
