"""Small vectorised colour helpers shared by the worlds (all values in [0, 1])."""

from __future__ import annotations

import numpy as np

__all__ = ["hsv_to_rgb", "mix"]


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV ``[B]`` each (hue wraps at 1) -> RGB ``[B, 3]``."""
    h = np.asarray(h, np.float64) % 1.0
    s = np.asarray(s, np.float64)
    v = np.asarray(v, np.float64)
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Linear blend ``a + t (b - a)``; ``t`` broadcasts (``[B, 1]`` for per-sample blends of ``[B, 3]``)."""
    return a + (b - a) * t
