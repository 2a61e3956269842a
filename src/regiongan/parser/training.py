"""Training and evaluating a part parser on a procedural world.

Data streams (``World.sample_batch(seed, start, count)``; every ``(stream, index)`` is a distinct sample):

* training reads stream ``TRAIN_STREAM + seed`` (1000, 1001, ...), fresh images every step;
* evaluation and FD-parser read stream ``0`` (:data:`EVAL_STREAM`) by default,

so held-out numbers never see a training image.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..checkpoints.files import check_overwrite
from ..data.worlds import World, get_world
from ..data.worlds.base import check_nonnegative, check_positive
from .checkpoint import save_parser
from .model import PartParser

__all__ = [
    "TRAIN_STREAM", "EVAL_STREAM", "images_to_tensor", "train_parser", "evaluate_parser", "confusion_matrix",
    "soft_dice_loss",
]

TRAIN_STREAM = 1000
EVAL_STREAM = 0


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` (what worlds render) -> float32 ``[N, 3, H, W]`` in [-1, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()


def _resolve_world(world: World | str | None, parser: PartParser | None = None) -> World:
    if world is None:
        if parser is None or parser.world is None:
            raise ValueError("no world given and the parser does not record one; pass world='faces' (or another world name)")
        world = parser.world
    w = get_world(world) if isinstance(world, str) else world
    if parser is not None and tuple(w.part_names) != parser.part_names:
        raise ValueError(
            f"world {w.name!r} has parts {list(w.part_names)} but the parser predicts {list(parser.part_names)}; "
            "evaluate a parser on the world it was trained for"
        )
    return w


def _learning_rate(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 2% of ``lr`` (short runs end sharper with a decayed rate)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * t)))


def soft_dice_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over parts present in the batch of ``1 - 2|P.G| / (|P| + |G|)`` with softmax ``P``.

    logits ``[N, P, H, W]``, labels ``[N, H, W]``. Every present part weighs the same whatever its area,
    which pushes small parts (nose, ears, glasses frames) as hard as the background -- the same weighting
    as mIoU, which cross-entropy alone reaches only slowly.
    """
    probs = logits.softmax(dim=1)
    onehot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    inter = (probs * onehot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    return (1.0 - 2.0 * inter[present] / total[present].clamp_min(1e-6)).mean()


def train_parser(
    world: World | str = "faces",
    size: int = 64,
    steps: int = 2000,
    batch: int = 8,
    seed: int = 0,
    out_dir: str | Path | None = None,
    progress: bool = True,
    lr: float = 3e-3,
    channels: Sequence[int] = (16, 32, 64, 128),
    attribute_weight: float = 0.1,
    dice_weight: float = 1.0,
    overwrite: bool = False,
) -> PartParser:
    """Train a :class:`PartParser` on images rendered on the fly; returns it in eval mode.

    Every step renders ``batch`` new images of stream ``TRAIN_STREAM + seed`` at ``size`` x ``size``.
    Loss: per-pixel cross-entropy + ``dice_weight`` x :func:`soft_dice_loss` + ``attribute_weight`` x MSE
    of the standardised attributes. Adam with a linear warm-up and cosine decay. No augmentation: the world
    supplies unlimited fresh samples (and a horizontal flip would have to swap eye_left / eye_right and
    negate several attributes). ``torch.manual_seed(seed)`` fixes the initial weights; the thread count is
    left to the caller (``torch.set_num_threads``). With ``out_dir`` the parser is saved there (fp16) with
    the training facts under ``extra.training`` in config.json.
    """
    w = _resolve_world(world)
    size, steps, batch = check_positive("size", size), check_positive("steps", steps), check_positive("batch", batch)
    seed = check_nonnegative("seed", seed)
    if batch < 2:
        raise ValueError(f"batch must be >= 2 (BatchNorm needs two images to normalise over), got {batch}")
    if out_dir is not None:
        check_overwrite([Path(out_dir)], overwrite)  # before training, not after
    stream = TRAIN_STREAM + seed

    torch.manual_seed(seed)
    parser = PartParser(w.part_names, w.attribute_names, channels=channels, world=w.name)
    if size % parser.size_multiple:
        raise ValueError(f"size must be a multiple of {parser.size_multiple} for channels={list(channels)}, got {size}")
    # Standardise attributes with statistics of training samples; constant attributes keep std 1.
    attrs = w.sample_batch(stream, 0, 1024, size=8)[2].astype(np.float64)  # attributes do not depend on size
    std = attrs.std(0)
    parser.attribute_mean.copy_(torch.from_numpy(attrs.mean(0)))
    parser.attribute_std.copy_(torch.from_numpy(np.where(std > 1e-6, std, 1.0)))
    parser = parser.to(memory_format=torch.channels_last)  # ~20% faster convolutions on CPU
    parser.train()

    opt = torch.optim.Adam(parser.parameters(), lr=lr)
    warmup = min(100, max(1, steps // 10))
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(range(steps), desc=f"parser-{w.name}-{size}", disable=not progress, dynamic_ncols=True)
    for step in bar:
        images, labels, attributes, _ = w.sample_batch(stream, step * batch, batch, size)
        x = images_to_tensor(images).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels.astype(np.int64))
        a = (torch.from_numpy(attributes) - parser.attribute_mean) / parser.attribute_std
        for g in opt.param_groups:
            g["lr"] = _learning_rate(step, steps, lr, warmup)
        out = parser(x)
        seg_loss = F.cross_entropy(out.logits, y) + dice_weight * soft_dice_loss(out.logits, y)
        attr_loss = F.mse_loss(out.attributes, a) if a.shape[1] else out.attributes.sum() * 0.0
        loss = seg_loss + attribute_weight * attr_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == steps - 1:
            acc = (out.logits.argmax(1) == y).float().mean().item()
            bar.set_postfix(seg=f"{seg_loss.item():.3f}", attr=f"{attr_loss.item():.3f}", acc=f"{acc:.4f}")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    parser = parser.to(memory_format=torch.contiguous_format).eval()
    if out_dir is not None:
        facts: dict[str, Any] = dict(
            world=w.name, size=size, steps=steps, batch=batch, seed=seed, train_stream=stream, lr=lr,
            attribute_weight=attribute_weight, dice_weight=dice_weight, wall_time_s=round(wall, 1),
            cpu_time_s=round(cpu, 1), torch_threads=torch.get_num_threads(),
        )  # fmt: skip
        save_parser(parser, out_dir, overwrite=overwrite, extra={"training": facts})
    return parser


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[N, H, W]`` int predictions and targets -> ``[P, P]`` int64 counts (row = target, column = prediction)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    idx = target.reshape(-1).long() * num_classes + pred.reshape(-1).long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


@torch.no_grad()
def evaluate_parser(
    parser: PartParser,
    world: World | str | None = None,
    count: int = 1000,
    seed: int = EVAL_STREAM,
    size: int = 64,
    batch: int = 100,
) -> dict[str, Any]:
    """Score ``parser`` on ``count`` held-out images (stream ``seed``, indices ``0..count-1``).

    IoU is accumulated over the whole set (intersection and union summed over images) per part;
    ``miou`` is the mean over parts that occur in the ground truth (absent parts get ``None``).
    Attribute predictions are scored by R^2 (1 - residual variance / variance over the set) per
    attribute (``None`` for attributes constant over the set); ``attribute_r2_median`` summarises them.
    Returns ``{"miou", "per_part_iou", "pixel_acc", "attribute_r2", "attribute_r2_median", "count",
    "world", "seed", "size"}``.
    """
    w = _resolve_world(world, parser)
    count, batch = check_positive("count", count), check_positive("batch", batch)
    p = len(parser.part_names)
    was_training = parser.training
    parser.eval()
    cm = torch.zeros(p, p, dtype=torch.int64)
    predicted, true = [], []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        images, labels, attributes, _ = w.sample_batch(seed, start, n, size)
        out = parser(images_to_tensor(images))
        cm += confusion_matrix(out.logits.argmax(dim=1), torch.from_numpy(labels.astype(np.int64)), p)
        predicted.append((out.attributes * parser.attribute_std + parser.attribute_mean).double().numpy())
        true.append(attributes.astype(np.float64))
    parser.train(was_training)
    inter = cm.diag().double()
    union = cm.sum(0).double() + cm.sum(1).double() - inter
    present = cm.sum(1) > 0
    iou = {name: (float(inter[i] / union[i]) if present[i] else None) for i, name in enumerate(parser.part_names)}
    r2: dict[str, float | None] = {}
    if parser.attribute_names and tuple(parser.attribute_names) == tuple(w.attribute_names):
        a_pred, a_true = np.concatenate(predicted), np.concatenate(true)
        var = a_true.var(axis=0)
        for j, name in enumerate(parser.attribute_names):
            r2[name] = float(1.0 - ((a_pred[:, j] - a_true[:, j]) ** 2).mean() / var[j]) if var[j] > 1e-12 else None
    scored = [v for v in r2.values() if v is not None]
    return {
        "miou": float((inter[present] / union[present]).mean()),
        "per_part_iou": iou,
        "pixel_acc": float(inter.sum() / cm.sum()),
        "attribute_r2": r2,
        "attribute_r2_median": float(np.median(scored)) if scored else None,
        "count": count, "world": w.name, "seed": seed, "size": size,
    }  # fmt: skip
