"""The world interface: sampled parameters -> rendered image, part labels, attributes, class.

A world is split into two explicit verbs so that tests and region methods can edit what was sampled:

    params = world.sample_params(seed, indices)       # dict of arrays, one row per sample
    images, labels = world.render(params, size, part_colors={"mouth": (255, 0, 0)})

``sample`` and ``sample_batch`` are thin conveniences over these. Randomness: sample ``i`` of seed ``s``
draws a fixed-length vector of uniforms from ``np.random.default_rng([s, i])`` and every parameter is a
deterministic function of that vector, so batching never changes a sample.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Mapping, Sequence

import numpy as np

from ...limits import check_count

__all__ = ["WorldSample", "World", "Params", "Draws", "check_positive", "check_nonnegative", "check_size"]

Params = dict[str, np.ndarray]
"""Sampled world parameters: name -> array whose first axis is the batch ``[B, ...]``."""


def check_positive(name: str, value: int) -> int:
    """Return ``value`` as int, or raise a ValueError that says what was expected."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_size(size: int) -> int:
    """An image side in pixels: a positive int, at most ``limit("preview_size")`` (checked before a single
    pixel is allocated: ``size=100000`` would need 30 GB per image)."""
    return check_count(check_positive("size", size), "preview_size", "size (pixels per image side)")


def check_nonnegative(name: str, value: int) -> int:
    """Return ``value`` as int, or raise a ValueError (seeds and indices must be >= 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value} (seeds and indices index a random stream)")
    return int(value)


class Draws:
    """Hands out columns of a ``[B, K]`` table of uniforms in [0, 1), in a fixed order.

    Each call to :meth:`take` consumes the next columns, so a parameter always reads the same column of
    the per-sample stream whatever values the other parameters took.
    """

    def __init__(self, table: np.ndarray):
        self.table = table
        self.used = 0

    def take(self, n: int | None = None) -> np.ndarray:
        """Next column ``[B]`` (``n`` is None) or next ``n`` columns ``[B, n]``."""
        k = 1 if n is None else n
        if self.used + k > self.table.shape[1]:
            raise RuntimeError(
                f"world needs more than {self.table.shape[1]} uniforms per sample; raise its num_uniforms"
            )
        cols = self.table[:, self.used : self.used + k]
        self.used += k
        return cols[:, 0] if n is None else cols

    def uniform(self, low: float, high: float, n: int | None = None) -> np.ndarray:
        """Uniform in ``[low, high)``: ``[B]`` or ``[B, n]``."""
        return low + (high - low) * self.take(n)

    def bernoulli(self, p: float | np.ndarray) -> np.ndarray:
        """0/1 float64 ``[B]`` with probability ``p``."""
        return (self.take() < p).astype(np.float64)

    def choice(self, weights: Sequence[float]) -> np.ndarray:
        """Index ``[B]`` int64 drawn with the given (unnormalised) weights."""
        w = np.asarray(weights, np.float64)
        edges = np.cumsum(w) / w.sum()
        return np.minimum(np.searchsorted(edges, self.take(), side="right"), len(w) - 1).astype(np.int64)

    def palette(self, colors: Sequence[Sequence[float]], jitter: float = 0.0, weights: Sequence[float] | None = None) -> np.ndarray:
        """A colour ``[B, 3]`` in [0, 1] picked from ``colors`` (RGB 0-255) with +-``jitter`` per channel."""
        table = np.asarray(colors, np.float64) / 255.0
        idx = self.choice(weights if weights is not None else [1.0] * len(table))
        rgb = table[idx] + jitter * (2.0 * self.take(3) - 1.0)
        return np.clip(rgb, 0.0, 1.0)


@dataclass
class WorldSample:
    """One rendered sample.

    image: ``[H, W, 3]`` uint8; labels: ``[H, W]`` uint8 part ids (see ``World.part_names``);
    attributes: ``[A]`` float32 (see ``World.attribute_names``); class_id: index into ``World.class_names``.
    """

    image: np.ndarray
    labels: np.ndarray
    attributes: np.ndarray
    class_id: int


class World(ABC):
    """A procedural, part-annotated image distribution (see :mod:`regiongan.data.worlds`)."""

    name: ClassVar[str]
    part_names: ClassVar[tuple[str, ...]]  # index = label id; 0 is the backmost part
    attribute_names: ClassVar[tuple[str, ...]]
    class_names: ClassVar[tuple[str, ...]]
    num_uniforms: ClassVar[int]  # length of each sample's random vector

    # -- the two verbs ----------------------------------------------------------------------------------------
    def sample_params(self, seed: int, indices: Sequence[int] | np.ndarray) -> Params:
        """Draw parameters for samples ``indices`` of stream ``seed``: dict of ``[B, ...]`` arrays."""
        seed = check_nonnegative("seed", seed)
        idx = [check_nonnegative("index", int(i)) for i in np.asarray(indices, np.int64).reshape(-1)]
        if not idx:
            raise ValueError("indices must hold at least one sample index")
        table = np.stack([np.random.default_rng([seed, i]).random(self.num_uniforms) for i in idx])
        return self._params_from_uniforms(Draws(table))

    @abstractmethod
    def _params_from_uniforms(self, draws: Draws) -> Params:
        """Map a ``[B, num_uniforms]`` table of uniforms to parameters (vectorised over B)."""

    @abstractmethod
    def _render(self, params: Params, size: int, part_colors: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Render ``[B, size, size, 3]`` uint8 images and ``[B, size, size]`` uint8 labels."""

    @abstractmethod
    def attributes(self, params: Params) -> np.ndarray:
        """``[B, A]`` float32 attribute vectors (order of ``attribute_names``)."""

    @abstractmethod
    def class_ids(self, params: Params) -> np.ndarray:
        """``[B]`` int64 class ids."""

    def render(
        self,
        params: Params,
        size: int = 64,
        part_colors: Mapping[str, Sequence[float]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render parameters into images ``[B, size, size, 3]`` uint8 and labels ``[B, size, size]`` uint8.

        part_colors: optional ``{part_name: (r, g, b)}`` with 0-255 values. Every layer of that part is
        painted in that flat colour, so only pixels showing the part change (up to its one-pixel
        anti-aliased border). Lighting is still applied on top.
        """
        size = check_size(size)
        self._check_params(params)
        return self._render(params, size, self._part_color_ids(part_colors))

    def _check_params(self, params: Params) -> None:
        expected = set(self.sample_params(0, [0]))
        given = set(params) if isinstance(params, Mapping) else set()
        if given != expected:
            missing, extra = sorted(expected - given), sorted(given - expected)
            raise ValueError(
                f"params for world {self.name!r} must be a dict from sample_params(); "
                f"missing keys {missing}, unexpected keys {extra}"
            )
        sizes = {k: np.shape(v)[0] if np.ndim(v) else None for k, v in params.items()}
        if len(set(sizes.values())) != 1 or None in sizes.values():
            raise ValueError(f"every params array must have the same leading batch size, got {sizes}")

    # -- conveniences ---------------------------------------------------------------------------------------
    def sample(
        self, seed: int, index: int, size: int = 64, part_colors: Mapping[str, Sequence[float]] | None = None
    ) -> WorldSample:
        """Sample ``index`` of stream ``seed``; identical to that element of :meth:`sample_batch`."""
        size = check_size(size)
        index = check_nonnegative("index", index)
        images, labels, attributes, class_ids = self.sample_batch(seed, index, 1, size, part_colors)
        return WorldSample(images[0], labels[0], attributes[0], int(class_ids[0]))

    def sample_batch(
        self,
        seed: int,
        start: int,
        count: int,
        size: int = 64,
        part_colors: Mapping[str, Sequence[float]] | None = None,
        chunk: int = 64,
        workers: int = 1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Samples ``start .. start+count-1`` of stream ``seed``.

        Returns images ``[B, size, size, 3]`` uint8, labels ``[B, size, size]`` uint8, attributes
        ``[B, A]`` float32 and class ids ``[B]`` int64. ``chunk`` bounds how many samples are rendered at
        once (memory and cache use); ``workers > 1`` renders chunks on that many threads (numpy releases
        the GIL in its loops). Neither ever changes the result.
        """
        start = check_nonnegative("start", start)
        count = check_positive("count", count)
        return self.sample_indices(seed, np.arange(start, start + count), size, part_colors, chunk, workers)

    def sample_indices(
        self,
        seed: int,
        indices: Sequence[int] | np.ndarray,
        size: int = 64,
        part_colors: Mapping[str, Sequence[float]] | None = None,
        chunk: int = 64,
        workers: int = 1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`sample_batch` for arbitrary (e.g. shuffled) indices ``[B]``."""
        size = check_size(size)
        chunk = check_positive("chunk", chunk)
        workers = check_positive("workers", workers)
        indices = np.asarray(indices, np.int64).reshape(-1)
        if len(indices) == 0:
            raise ValueError("indices must hold at least one sample index")
        colors = self._part_color_ids(part_colors)

        def render_chunk(lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            params = self.sample_params(seed, indices[lo : lo + chunk])
            images, labels = self._render(params, size, colors)
            return images, labels, self.attributes(params), self.class_ids(params)

        starts = range(0, len(indices), chunk)
        if workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(render_chunk, starts))
        else:
            parts = [render_chunk(lo) for lo in starts]
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))  # type: ignore[return-value]

    def _part_color_ids(self, part_colors: Mapping[str, Sequence[float]] | None) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for name, rgb in (part_colors or {}).items():
            if name not in self.part_names:
                raise ValueError(f"unknown part {name!r} for world {self.name!r}; parts are {list(self.part_names)}")
            arr = np.asarray(rgb, np.float64).reshape(-1)
            if arr.shape != (3,) or np.any(arr < 0) or np.any(arr > 255):
                raise ValueError(f"colour for part {name!r} must be (r, g, b) with 0-255 values, got {rgb!r}")
            out[self.part_names.index(name)] = (arr / 255.0).astype(np.float32)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, parts={len(self.part_names)}, classes={len(self.class_names)})"
