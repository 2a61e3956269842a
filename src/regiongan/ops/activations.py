"""Bias + activation + gain + clamp, in one function (NVlabs ``bias_act`` semantics)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["bias_act", "DEFAULT_GAINS", "LRELU_SLOPE"]

#: Negative slope of StyleGAN2's leaky ReLU.
LRELU_SLOPE = 0.2
#: Default gain per activation: keeps the signal's second moment when inputs are unit Gaussian.
DEFAULT_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0)}


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    dim: int = 1,
) -> torch.Tensor:
    """``clamp(act(x + b) * gain)``. x: any shape with channels on ``dim``; bias: ``[C]``."""
    if activation not in DEFAULT_GAINS:
        raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(DEFAULT_GAINS)}")
    if bias is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + bias.to(x.dtype).reshape(shape)
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    g = DEFAULT_GAINS[activation] if gain is None else gain
    if g != 1:
        x = x * g
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x
