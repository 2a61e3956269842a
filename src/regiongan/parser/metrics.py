"""FD-parser: Fréchet distance between images and a procedural world in part-parser feature space.

Like FID with a world-specific embedding: a :class:`PartParser` trained on the world embeds images with
:meth:`PartParser.features` (``[N, D]`` global-pooled bottleneck), a Gaussian is fitted to each set and
compared with :func:`regiongan.metrics.frechet.frechet_distance`. The reference set is ``count`` procedural
images of stream ``reference_seed`` (indices ``0..count-1``), never seen in training.

:func:`fd_parser_floor` is the distance between two disjoint procedural sets of the same size
(indices ``0..count-1`` and ``count..2*count-1``): the value a perfect generator would score, up to
sampling noise. Compare FD-parser numbers only at the same ``count`` (the estimate is biased upwards at
small N, as FID is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from ..data.worlds import World
from ..data.worlds.base import check_nonnegative, check_positive
from ..metrics.diversity import precision_recall
from ..metrics.frechet import FrechetDistance, frechet_distance
from .model import PartParser
from .training import EVAL_STREAM, _resolve_world, images_to_tensor

__all__ = [
    "ImageSource", "parser_features", "parser_feature_statistics", "world_feature_statistics", "fd_parser",
    "fd_parser_floor", "pr_parser",
]  # fmt: skip

ImageSource = Union[Callable[[int], torch.Tensor], Iterable[torch.Tensor], torch.Tensor]
"""A callable ``batch_size -> images [n, 3, H, W]`` in [-1, 1] (any generator), an iterable of such
batches, or one tensor ``[N, 3, H, W]``."""


def _batches(images: ImageSource, count: int, batch: int) -> Iterable[torch.Tensor]:
    """Yield image batches until ``count`` images were produced (the last batch is cut to fit)."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"an image tensor must be [N, 3, H, W] in [-1, 1], got {tuple(images.shape)}")
        images = images.split(batch)
    if callable(images):
        done = 0
        while done < count:
            n = min(batch, count - done)
            with torch.no_grad():
                x = images(n)
            if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[0] != n:
                got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"the image callable must return [{n}, 3, H, W] in [-1, 1] for batch size {n}, got {got}")
            done += n
            yield x
        return
    done = 0
    for x in images:
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"every image batch must be a [n, 3, H, W] tensor in [-1, 1], got {got}")
        x = x[: count - done]
        done += x.shape[0]
        yield x
        if done >= count:
            return
    raise ValueError(f"the image source ran out after {done} images; FD-parser asked for count={count}")


@torch.no_grad()
def _embedded(parser: PartParser, images: ImageSource, count: int, batch: int, size: int) -> Iterable[torch.Tensor]:
    """Parser features ``[n, D]`` batch by batch for ``count`` images, resized to ``size`` first."""
    count, batch, size = check_positive("count", count), check_positive("batch", batch), check_positive("size", size)
    was_training = parser.training
    parser.eval()
    device = next(parser.parameters()).device
    try:
        for x in _batches(images, count, batch):
            x = x.to(device, torch.float32)
            if x.shape[-2:] != (size, size):
                x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            yield parser.features(x)
    finally:
        parser.train(was_training)


def parser_features(parser: PartParser, images: ImageSource, count: int = 1000, batch: int = 100, size: int = 64) -> torch.Tensor:
    """Parser features ``[count, D]`` of ``count`` images from ``images`` (resized to ``size`` first)."""
    return torch.cat(list(_embedded(parser, images, count, batch, size)))


def parser_feature_statistics(
    parser: PartParser, images: ImageSource, count: int = 1000, batch: int = 100, size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """``(mu [D], sigma [D, D])`` of parser features over ``count`` images from ``images``.

    Images of another resolution are resized to ``size`` x ``size`` (bilinear, antialiased) first, so
    that generated and procedural images are embedded at the same scale.
    """
    if check_positive("count", count) < 2:
        raise ValueError(f"count must be >= 2 to fit a covariance, got {count}")
    acc = FrechetDistance()
    for f in _embedded(parser, images, count, batch, size):
        acc.update(f)
    return acc.statistics()


def _world_images(world: World, seed: int, start: int, size: int) -> Callable[[int], torch.Tensor]:
    """A callable ``n -> [n, 3, size, size]`` that walks through stream ``seed`` from index ``start``."""
    state = {"next": start}

    def render(n: int) -> torch.Tensor:
        images = world.sample_batch(seed, state["next"], n, size)[0]
        state["next"] += n
        return images_to_tensor(images)

    return render


def world_feature_statistics(
    parser: PartParser,
    world: World | str | None = None,
    count: int = 1000,
    seed: int = EVAL_STREAM,
    start: int = 0,
    size: int = 64,
    batch: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Parser feature statistics of procedural images ``start .. start+count-1`` of stream ``seed``."""
    w = _resolve_world(world, parser)
    start = check_nonnegative("start", start)
    return parser_feature_statistics(parser, _world_images(w, seed, start, size), count, batch, size)


def fd_parser(
    images: ImageSource,
    parser: PartParser,
    count: int = 1000,
    world: World | str | None = None,
    reference_seed: int = EVAL_STREAM,
    size: int = 64,
    batch: int = 100,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """FD-parser of ``count`` images against ``count`` procedural images of ``world`` (default: the parser's).

    ``images``: a callable ``batch_size -> [n, 3, H, W]`` in [-1, 1], e.g.
    ``lambda n: G(torch.randn(n, G.z_dim))`` (called under ``torch.no_grad``), an iterable of batches,
    or one tensor. ``reference``: precomputed ``(mu, sigma)`` from :func:`world_feature_statistics` to skip
    re-embedding the procedural set when scoring several generators.
    """
    if reference is None:
        reference = world_feature_statistics(parser, world, count, reference_seed, 0, size, batch)
    mu, sigma = parser_feature_statistics(parser, images, count, batch, size)
    return frechet_distance(mu, sigma, *reference)


def fd_parser_floor(
    parser: PartParser,
    world: World | str | None = None,
    count: int = 1000,
    seed: int = EVAL_STREAM,
    size: int = 64,
    batch: int = 100,
) -> float:
    """FD-parser between two disjoint procedural sets of ``count`` images (indices ``[0, count)`` and
    ``[count, 2 count)`` of stream ``seed``): the floor a generator that matched the world would reach."""
    w = _resolve_world(world, parser)
    mu1, sigma1 = world_feature_statistics(parser, w, count, seed, 0, size, batch)
    mu2, sigma2 = world_feature_statistics(parser, w, count, seed, count, size, batch)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def pr_parser(
    images: ImageSource,
    parser: PartParser,
    count: int = 1000,
    world: World | str | None = None,
    reference_seed: int = EVAL_STREAM,
    size: int = 64,
    batch: int = 100,
    k: int = 3,
) -> tuple[float, float]:
    """Improved (precision, recall) (:func:`regiongan.metrics.diversity.precision_recall`) of ``count``
    images against ``count`` procedural images of ``world``, in parser feature space. Recall near 0 means
    the images cover little of the world's variety (a collapse that FD-parser at small counts can miss)."""
    w = _resolve_world(world, parser)
    real = parser_features(parser, _world_images(w, reference_seed, 0, size), count, batch, size)
    fake = parser_features(parser, images, count, batch, size)
    return precision_recall(real, fake, k)
