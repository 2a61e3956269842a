"""The generator-family registry: ``model_type`` (stored in ``config.json``) -> class.

Like timm's ``_registry``, this module imports no family: each family module registers itself with
:func:`register_family` when :mod:`regiongan.generators` imports it. Every registered family is built from
its constructor arguments (its ``config``) and runs through the shared generator tests.

Before a family is instantiated, :func:`check_config` asks it for the cost of the config —
``cls.config_cost(config)``, computed arithmetically from the config alone, nothing allocated — and compares it
with the ``model_parameters`` and ``model_activation_pixels`` limits (:mod:`regiongan.limits`), so a
checkpoint declaring a 2^30-pixel generator fails in milliseconds instead of allocating gigabytes.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple, TypeVar

import torch
import torch.nn as nn

from ..limits import LIMITS, LimitError, env_name, limit
from ..validate import finite, integer

__all__ = [
    "ModelCost", "register_family", "build_model", "check_config", "check_cost", "list_families", "family_class", "bind_config",
    "config_int", "config_number", "short_repr",
]  # fmt: skip

_FAMILIES: dict[str, type[nn.Module]] = {}
T = TypeVar("T", bound=type)


class ModelCost(NamedTuple):
    """What a config declares, computed from the config alone.

    parameters: elements of the state dict (parameters and buffers), exactly as the built model has them;
    activations: elements of the largest activation of one image (channels × height × width of the widest
        layer output, or of an attention matrix), an estimate of the working memory per image;
    declared: the config fields that set the size, in words (``"img_resolution 1024, channel_max 512"``),
        for the error message.
    """

    parameters: int
    activations: int
    declared: str


def register_family(model_type: str) -> Callable[[T], T]:
    """Class decorator: make ``cls(**config)`` loadable as ``model_type``; sets ``cls.model_type``.

    A family must define ``config_cost(config) -> ModelCost``: a static method that validates the config and
    counts its size without building anything, so no checkpoint can make a family allocate unchecked.
    """

    def deco(cls: T) -> T:
        if not callable(getattr(cls, "config_cost", None)):
            raise TypeError(
                f"generator family {model_type!r} ({cls.__qualname__}) must define a static config_cost(config) -> "
                "ModelCost, so that a checkpoint's declared size is checked before anything is allocated"
            )
        old = _FAMILIES.get(model_type)
        if old is not None and old.__qualname__ != cls.__qualname__:
            raise ValueError(f"generator family {model_type!r} is already registered by {old.__module__}")
        cls.model_type = model_type  # type: ignore[attr-defined]
        _FAMILIES[model_type] = cls  # type: ignore[assignment]
        return cls

    return deco


def list_families() -> list[str]:
    """Registered ``model_type`` names."""
    return sorted(_FAMILIES)


def family_class(model_type: str) -> type[nn.Module]:
    """The class registered as ``model_type``, or a ValueError listing the known ones."""
    if not isinstance(model_type, str) or model_type not in _FAMILIES:
        raise ValueError(f"unknown model_type {model_type!r}; known: {list_families()}")
    return _FAMILIES[model_type]


def check_config(model_type: str, config: Any) -> ModelCost:
    """Validate ``config`` for ``model_type`` and check its size against the limits, allocating nothing.

    Raises a one-line ValueError for a field of the wrong type or range and :class:`~regiongan.limits.LimitError`
    (naming the declared size and how to raise the limit) for a model above ``model_parameters`` or
    ``model_activation_pixels``. Returns the cost.
    """
    cls = family_class(model_type)
    if not isinstance(config, dict):
        raise ValueError(f"the config of a {model_type} model must be an object, got {type(config).__name__}")
    return check_cost(model_type, cls.config_cost(config))


def check_cost(model_type: str, cost: ModelCost) -> ModelCost:
    """``cost`` if it is within the ``model_parameters`` and ``model_activation_pixels`` limits, else a
    one-line :class:`~regiongan.limits.LimitError` naming what the config declares and how to raise the limit."""
    for name, value, what in (
        ("model_parameters", cost.parameters, "parameters and buffers"),
        ("model_activation_pixels", cost.activations, "activation elements per image in its largest layer"),
    ):
        cap = limit(name)
        if value > cap:
            hint = str(value) if value < 10**15 else "<a larger number>"
            raise LimitError(
                f"the {model_type} config declares {cost.declared}: {_count(value)} {what}, above the limit of "
                f"{_count(cap)} ({LIMITS[name].what.split(' (')[0]}); if you trust this model, raise it with "
                f"{env_name(name)}={hint} or `regiongan --limit {name}={hint}`"
            )
    return cost


def _count(n: int) -> str:
    """``30,370,060``; ``4.61e+18``; ``about 2^4000`` (no float overflow, no 4300-digit string)."""
    if n < 10**12:
        return f"{n:,}"
    return f"{float(n):.3g}" if n.bit_length() < 1000 else f"about 2^{n.bit_length() - 1}"


def build_model(model_type: str, config: dict[str, Any]) -> nn.Module:
    """Instantiate a registered family from its constructor arguments, after :func:`check_config`."""
    cls = family_class(model_type)
    check_config(model_type, config)
    try:
        return cls(**config)
    except TypeError as e:
        raise ValueError(f"config does not fit {model_type}: {e}") from e


# --------------------------------------------------------------------------------------------------
# Config fields: the validators every family's config_cost and constructor use (one line each, naming the
# family and the field).


def bind_config(cls: type, config: dict[str, Any], family: str) -> dict[str, Any]:
    """``config`` bound to ``cls.__init__``'s keyword arguments, defaults filled in; an unknown or missing
    field is a one-line ValueError (not a TypeError from deep inside the constructor)."""
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    known = {p.name for p in params}
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        raise ValueError(f"{family} config: unknown field(s) {unknown[:5]}; known: {sorted(known)}")
    missing = [p.name for p in params if p.default is inspect.Parameter.empty and p.name not in config]
    if missing:
        raise ValueError(f"{family} config: missing field(s) {missing}")
    return {p.name: config.get(p.name, p.default) for p in params}


def config_int(value: Any, name: str, family: str, minimum: int = 0, optional: bool = False) -> int | None:
    """``value`` if it is an int (not a bool, not a float) ``>= minimum`` (or None when ``optional``);
    :func:`regiongan.validate.integer` with the family and field in the message."""
    if value is None and optional:
        return None
    return integer(value, f"{family} config: {name}{' (or null)' if optional else ''}", lo=minimum)


def config_number(
    value: Any, name: str, family: str, low: float | None = None, high: float | None = None, low_open: bool = False,
    optional: bool = False,
) -> float | None:
    """``value`` as a float if it is a finite number in ``[low, high]`` (``(low, high]`` when ``low_open``),
    or None when ``optional``; :func:`regiongan.validate.finite`, refusing tensors (a config is JSON data)."""
    if value is None and optional:
        return None
    what = f"{family} config: {name}{' (or null)' if optional else ''}"
    if isinstance(value, torch.Tensor):
        raise ValueError(f"{what} must be a finite number, got a tensor")
    return finite(value, what, lo=low, hi=high, lo_open=low_open)


def short_repr(value: Any, most: int = 60) -> str:
    """``repr(value)`` cut to ``most`` characters (a config field can be a list of a million items)."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python converts to text
        return f"an int of {value.bit_length()} bits"
    return text if len(text) <= most else text[: most - 1] + "…"
