"""The method registry: every image-producing operation of every method, by name.

This module imports no method. Each method module decorates its public operations with
:func:`register_method` when :mod:`regiongan.methods` imports it; recipes (:mod:`regiongan.recipes`), the
CLI, the demo and the studio look operations up here, so a new method appears everywhere by registering.

A registered operation is a plain function ``op(G, **params) -> Result``. The decorator

* records the call on the result (the method name, the model's name and fingerprint, and the keyword
  arguments exactly as given), from which ``result.recipe`` is the :class:`~regiongan.recipes.Recipe` that
  replays it by calling ``op`` again with them;
* times it (``result.seconds``);
* derives the accepted and required parameter names from the signature.
"""

from __future__ import annotations

import functools
import inspect
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from .identity import model_fingerprint
from .latents import check_latent_model

__all__ = ["MethodSpec", "register_method", "get_method", "list_methods", "RegistryError"]

F = TypeVar("F", bound=Callable[..., Any])
_METHODS: dict[str, "MethodSpec"] = {}


class RegistryError(ValueError):
    """An unknown method name, or a name registered twice."""


@dataclass(frozen=True)
class MethodSpec:
    """A registered operation: ``run(G, **params) -> Result``; ``required`` / ``allowed`` parameter names;
    ``summary``: the first line of its docstring; ``family``: the paper it implements."""

    name: str
    run: Callable[..., Any]
    required: tuple[str, ...]
    allowed: frozenset[str]
    summary: str
    family: str


def register_method(name: str, latent: bool = True) -> Callable[[F], F]:
    """Decorator: register ``op(G, ...) -> Result`` as ``name`` (``"<method>.<operation>"``) and attach the
    recipe that reproduces each call to its result. ``latent``: the operation drives ``G`` by latent codes,
    so a model without them (a label-map model) is refused in one line before it runs."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.name != "G"]
        required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)

        @functools.wraps(fn)
        def wrapper(G, *args: Any, **kwargs: Any):
            bound = sig.bind(G, *args, **kwargs)
            if latent:
                check_latent_model(G, name)
            t0 = time.perf_counter()
            result = fn(*bound.args, **bound.kwargs)
            result.seconds = time.perf_counter() - t0
            recorded = {k: v for k, v in bound.arguments.items() if k != "G"}
            recorded.update(result.recorded)
            result.method = name
            result.params = recorded
            result.model_name = getattr(G, "model_name", None)
            result.model_fingerprint = model_fingerprint(G)
            return result

        old = _METHODS.get(name)
        if old is not None and old.run.__qualname__ != fn.__qualname__:
            raise RegistryError(f"method {name!r} is already registered by {old.run.__module__}")
        _METHODS[name] = MethodSpec(
            name=name, run=wrapper, required=required, allowed=frozenset(p.name for p in params),
            summary=(fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "", family=name.split(".")[0],
        )  # fmt: skip
        return wrapper  # type: ignore[return-value]

    return deco


def list_methods() -> list[str]:
    """Names of the registered operations (import :mod:`regiongan.methods` to register the built-in ones)."""
    return sorted(_METHODS)


def get_method(name: str) -> MethodSpec:
    """The registered operation ``name``, or a :class:`RegistryError` listing the known ones."""
    if name not in _METHODS:
        hint = " (none registered: import regiongan.methods first)" if not _METHODS else ""
        raise RegistryError(f"unknown method {name!r}; known methods: {list_methods()}{hint}")
    return _METHODS[name]
