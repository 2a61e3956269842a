"""Which class of a world an image *region* shows (the biome of a `scenes` region): a class scorer.

A :class:`ClassScorer` is a multinomial logistic regression on a part parser's bottleneck features pooled
over the region (:func:`region_features`): the parser already embeds what it sees there, so the scorer
needs only ``classes × D`` weights, trained in seconds on the world's own images (the class of every
rendered image is known). It scores whole images (an all-ones mask) as well as regions, which is what class
hybridization is judged by: does the region show the class it was given?

::

    scorer = load_class_scorer("classes-scenes-64")        # names its parser: parser-scenes-64
    probs = scorer.score(images, masks)                    # [N, 3, H, W], [N, 1, H, W] -> [N, classes]

The bottleneck sees beyond the region (receptive field), so a region's score is influenced by its
surroundings; a copy-paste of a real class-B region into a class-A image measures how much
(``benchmarks/biggan.py --eval hybrid`` reports it next to the method it judges).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoints.files import (
    CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_FILE, check_format, check_state_dict, read_safetensors,
    save_model_dir,
)  # fmt: skip
from ..checkpoints.reading import check_regular_file, header_shapes, read_json_file, read_safetensors_header
from ..data.worlds import World, get_world
from ..generators.registry import bind_config, config_int, short_repr
from .checkpoint import MODELS_DIR, load_parser
from .model import PartParser

__all__ = [
    "ClassScorer", "region_features", "random_boxes", "train_class_scorer", "evaluate_class_scorer",
    "save_class_scorer", "load_class_scorer",
]  # fmt: skip

MODEL_TYPE = "class-scorer"


@torch.no_grad()
def region_features(parser: PartParser, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The parser's bottleneck features averaged over each region: ``images [N, 3, H, W]`` in [-1, 1],
    ``masks [N, 1, H, W]`` in [0, 1] -> ``[N, D]``. The mask is area-averaged to the bottleneck grid and
    used as pooling weights; a region that covers no pixel is a ValueError."""
    parser._check_images(images)
    if masks.ndim != 4 or masks.shape[0] != images.shape[0] or masks.shape[1] != 1 or masks.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"masks must be [N, 1, H, W] = [{images.shape[0]}, 1, {images.shape[2]}, {images.shape[3]}], got {tuple(masks.shape)}")
    grid, _ = parser._encode(images)
    weights = F.adaptive_avg_pool2d(masks.to(grid.dtype), grid.shape[-2:])
    total = weights.sum(dim=(2, 3))
    if bool((total <= 0).any()):
        empty = torch.nonzero(total[:, 0] <= 0).flatten().tolist()
        raise ValueError(f"region(s) {empty[:5]} cover no pixel: a class can only be scored over a non-empty region")
    return (grid * weights).sum(dim=(2, 3)) / total


class ClassScorer(nn.Module):
    """Logistic regression from region features ``[N, D]`` to class logits ``[N, C]`` (standardised inputs).

    Args:
        class_names: the world's classes, index = class id.
        parser: name (or path) of the part parser whose features it reads.
        feature_dim: that parser's feature dimension D.
        world: the world it was trained on.
    """

    model_type = MODEL_TYPE

    def __init__(self, class_names: Sequence[str], parser: str, feature_dim: int, world: str | None = None) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(class_names=list(class_names), parser=parser, feature_dim=int(feature_dim), world=world)
        self.class_names = tuple(class_names)
        self.linear = nn.Linear(int(feature_dim), len(self.class_names))
        self.register_buffer("feature_mean", torch.zeros(int(feature_dim)))
        self.register_buffer("feature_std", torch.ones(int(feature_dim)))
        self.attach(None)

    def attach(self, parser: PartParser | None) -> "ClassScorer":
        """Use ``parser``'s features (kept outside the state dict: the scorer's weights are its own)."""
        object.__setattr__(self, "part_parser", parser)
        return self

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features [N, D]`` -> logits ``[N, C]``."""
        return self.linear((features - self.feature_mean) / self.feature_std)

    @torch.no_grad()
    def score(self, images: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities ``[N, C]`` of each image's region (``masks [N, 1, H, W]``; whole images when None)."""
        if self.part_parser is None:
            raise ValueError("this class scorer has no parser attached; load it with load_class_scorer")
        images = images.to(self.feature_mean.device, torch.float32)
        masks = torch.ones_like(images[:, :1]) if masks is None else masks.to(images.device, torch.float32)
        return self(region_features(self.part_parser, images, masks)).softmax(dim=1)

    def class_id(self, name: str | int) -> int:
        """A class index from its name or index; unknown ones raise a ValueError listing the classes."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool) and 0 <= int(name) < len(self.class_names):
            return int(name)
        if isinstance(name, str) and name in self.class_names:
            return self.class_names.index(name)
        raise ValueError(f"unknown class {name!r}; classes are {list(self.class_names)} (or 0..{len(self.class_names) - 1})")


def random_boxes(n: int, size: int, generator: torch.Generator, min_area: float = 0.1) -> torch.Tensor:
    """``n`` random axis-aligned box masks ``[n, 1, size, size]`` of area fraction in ``[min_area, 1]``;
    one in four is the whole image."""
    masks = torch.zeros(n, 1, size, size)
    for i in range(n):
        if torch.rand((), generator=generator) < 0.25:
            masks[i] = 1
            continue
        area = float(min_area + (1 - min_area) * torch.rand((), generator=generator))
        aspect = float(torch.exp((torch.rand((), generator=generator) - 0.5) * 1.4))
        h = max(1, min(size, round(size * (area * aspect) ** 0.5)))
        w = max(1, min(size, round(size * area / max(h / size, 1e-6))))
        y = int(torch.randint(size - h + 1, (), generator=generator))
        x = int(torch.randint(size - w + 1, (), generator=generator))
        masks[i, :, y : y + h, x : x + w] = 1
    return masks


@torch.no_grad()
def _world_features(
    parser: PartParser, world: World, seed: int, count: int, size: int, generator: torch.Generator, batch: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    feats, labels = [], []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        images, _, _, classes = world.sample_batch(seed, start, n, size)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        feats.append(region_features(parser, x, random_boxes(n, size, generator)))
        labels.append(torch.from_numpy(np.asarray(classes, np.int64)))
    return torch.cat(feats), torch.cat(labels)


def train_class_scorer(
    parser: PartParser | str = "parser-scenes-64", world: World | str | None = None, samples: int = 4000,
    size: int = 64, seed: int = 2000, l2: float = 1e-3, steps: int = 200,
) -> ClassScorer:
    """Fit a :class:`ClassScorer` on ``samples`` world images (stream ``seed``), each with a random box region
    (:func:`random_boxes`), by L-BFGS on the cross-entropy + ``l2``·‖W‖². Deterministic for its arguments."""
    parser_name = parser if isinstance(parser, str) else (parser.world and f"parser-{parser.world}-{size}") or "parser"
    parser = load_parser(parser) if isinstance(parser, str) else parser.eval()
    world = get_world(world or parser.world) if not isinstance(world, World) else world
    if not world.class_names:
        raise ValueError(f"world {world.name!r} has no classes to score")
    config_int(samples, "samples", "train_class_scorer", 2 * len(world.class_names))
    gen = torch.Generator().manual_seed(seed)
    feats, labels = _world_features(parser, world, seed, samples, size, gen)
    scorer = ClassScorer(world.class_names, parser_name, feats.shape[1], world.name)
    scorer.feature_mean.copy_(feats.mean(0))
    scorer.feature_std.copy_(feats.std(0).clamp_min(1e-6))
    torch.manual_seed(seed)
    nn.init.zeros_(scorer.linear.weight), nn.init.zeros_(scorer.linear.bias)
    opt = torch.optim.LBFGS(scorer.linear.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(scorer(feats), labels) + l2 * scorer.linear.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return scorer.attach(parser).eval().requires_grad_(False)


@torch.no_grad()
def evaluate_class_scorer(scorer: ClassScorer, count: int = 1000, seed: int = 0, size: int = 64) -> dict[str, float]:
    """Accuracy on ``count`` held-out world images (stream ``seed``): whole images and random box regions."""
    world = get_world(scorer.config["world"])
    gen = torch.Generator().manual_seed(seed + 1)
    right_whole = right_box = 0
    for start in range(0, count, 64):
        n = min(64, count - start)
        images, _, _, classes = world.sample_batch(seed, start, n, size)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        truth = torch.from_numpy(np.asarray(classes, np.int64))
        right_whole += int((scorer.score(x).argmax(1) == truth).sum())
        right_box += int((scorer.score(x, random_boxes(n, size, gen)).argmax(1) == truth).sum())
    return {"whole_image_accuracy": right_whole / count, "box_accuracy": right_box / count, "count": count}


def save_class_scorer(scorer: ClassScorer, directory: str | Path, overwrite: bool = False, extra: dict | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (float32: a few KB) as one unit, as :func:`save_parser` does."""
    return save_model_dir(scorer, Path(directory), MODEL_TYPE, torch.float32, extra, overwrite=overwrite)


def load_class_scorer(name_or_path: str | Path = "classes-scenes-64", device: torch.device | str = "cpu") -> ClassScorer:
    """Load a scorer by shipped name or directory, with its parser attached (eval mode, float32).

    Checks as :func:`load_parser`: the JSON, every config field, the safetensors header against the scorer,
    then the weights; each failure is one line."""
    path = Path(name_or_path)
    directory = path if (path / CONFIG_FILE).is_file() else MODELS_DIR / str(name_or_path)
    if "/" in str(name_or_path) and directory != path or not (directory / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"no class scorer at {str(name_or_path)!r}: expected a directory with {CONFIG_FILE} and {WEIGHTS_FILE}")
    meta = check_format(read_json_file(directory / CONFIG_FILE, ValueError, "config.json"), directory / CONFIG_FILE,
                        FORMAT_NAME, FORMAT_VERSION, "config", ValueError)  # fmt: skip
    if meta.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{directory}: model_type is {short_repr(meta.get('model_type'))}, not {MODEL_TYPE!r}")
    a = bind_config(ClassScorer, meta.get("config") if isinstance(meta.get("config"), dict) else {}, f"{directory}: {MODEL_TYPE}")
    names = a["class_names"]
    if not isinstance(names, list) or not 2 <= len(names) <= 10_000 or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{directory}: class_names must be a list of 2-10000 strings, got {short_repr(names)}")
    config_int(a["feature_dim"], "feature_dim", f"{directory}: {MODEL_TYPE}", 1)
    if a["feature_dim"] > 65536 or not isinstance(a["parser"], str):
        raise ValueError(f"{directory}: feature_dim must be at most 65536 and parser a name, got {short_repr(a)}")
    scorer = ClassScorer(**a)
    weights = directory / WEIGHTS_FILE
    check_regular_file(weights, "safetensors file")
    expected = scorer.state_dict()
    check_state_dict(expected, header_shapes(read_safetensors_header(weights, ValueError)), str(weights))
    state, _ = read_safetensors(weights, ValueError)
    scorer.load_state_dict({k: v.float() for k, v in state.items()})
    parser = load_parser(a["parser"], device)
    if parser.feature_dim != scorer.config["feature_dim"]:
        raise ValueError(f"{directory}: parser {a['parser']!r} has {parser.feature_dim} features, the scorer expects {a['feature_dim']}")
    return scorer.to(device).attach(parser).eval().requires_grad_(False)
