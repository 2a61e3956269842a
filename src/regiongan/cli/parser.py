"""``regiongan parser train | eval | classes``: part parsers and class scorers (``regiongan.parser``).

``python -m regiongan.parser`` forwards here (one argument parser per command).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import click
import torch

from ..checkpoints.files import CONFIG_FILE, WEIGHTS_FILE
from ..data.worlds import list_worlds
from ..data.worlds.base import check_size
from ..parser import evaluate_parser, fd_parser_floor, load_parser, train_parser
from ..parser.classes import evaluate_class_scorer, save_class_scorer, train_class_scorer
from ..validate import finite
from .common import SEED, Checked, count_type, overwrite_option
from .output import OutputPlan, describe


def _channels(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        return [int(c) for c in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"must be comma-separated ints like 16,32,64,128, got {value!r}") from None


def _print_scores(scores: dict) -> None:
    click.echo(f"world={scores['world']} count={scores['count']} seed={scores['seed']} size={scores['size']}")
    click.echo(f"mIoU {scores['miou']:.4f}   pixel accuracy {scores['pixel_acc']:.4f}")
    for name, iou in scores["per_part_iou"].items():
        click.echo(f"  {name:<12} {'absent' if iou is None else f'{iou:.4f}'}")
    if scores.get("attribute_r2_median") is not None:
        best = sorted(((v, k) for k, v in scores["attribute_r2"].items() if v is not None), reverse=True)[:5]
        listed = ", ".join(f"{k} {v:.2f}" for v, k in best)
        click.echo(f"attribute R^2: median {scores['attribute_r2_median']:.3f}; best {listed}")
    if "fd_parser_floor" in scores:
        click.echo(f"FD-parser floor (N={scores['fd_count']}, procedural vs procedural): {scores['fd_parser_floor']:.4f}")


def _write_model_files(plan: OutputPlan, files: list[Path], trained: Path) -> list[Path]:
    """Copy a model directory written into a temporary folder (``trained``) to ``files`` through the plan,
    as one group, and commit: the planned outputs appear together or not at all."""

    def copy(directory: Path) -> None:
        for f in files:
            shutil.copy(trained / f.name, directory / f.name)

    plan.write_group(files, copy)
    return plan.commit()


@click.group("parser")
def parser() -> None:
    """Train and evaluate part parsers (they resolve part: regions and measure FD-parser).

    \b
    Examples:
      regiongan parser train --world faces --steps 1500 --out src/regiongan/models/parser-faces-64 --overwrite
      regiongan parser eval --parser parser-faces-64 --count 1000 --fd --json out/scores.json
    """


@parser.command("train")
@click.option("--world", default="faces", show_default=True, type=click.Choice(list_worlds()))
@click.option("--size", default=64, show_default=True, type=Checked("INT", int, check_size), help="Image side in pixels.")
@click.option("--steps", default=2000, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=3e-3, show_default=True, type=Checked("LR", float, lambda v: finite(v, "--lr (learning rate)", 0, lo_open=True)))
@click.option("--channels", default="16,32,64,128", show_default=True, callback=_channels, help="Channels per level, full resolution first.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Initial weights; training images come from stream 1000+seed.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch CPU threads.")
@click.option("--out", "-o", required=True, help="Output directory (config.json + model.safetensors; other files are kept).")
@overwrite_option
@click.option("--eval-count", default=1000, show_default=True, type=click.IntRange(min=0), help="Held-out images scored after training (0: skip).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def parser_train(world, size, steps, batch, lr, channels, seed, threads, out, overwrite, eval_count, progress) -> None:
    """Train a parser on a procedural world and save it (one CPU thread by default)."""
    folder = Path(out)
    plan = OutputPlan(overwrite)
    files = plan.add(folder / CONFIG_FILE, folder / WEIGHTS_FILE)
    plan.check()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="regiongan-parser.") as tmp:
        trained = Path(tmp) / "parser"
        model = train_parser(
            world, size, steps, batch, seed, out_dir=trained, progress=progress, lr=lr, channels=channels,
        )  # fmt: skip
        written = _write_model_files(plan, files, trained)
    click.echo(f"trained in {time.perf_counter() - t0:.0f} s; wrote {describe(written)}")
    if eval_count:
        _print_scores(evaluate_parser(model, world, count=eval_count, size=size))


@parser.command("eval")
@click.option("--parser", "parser_name", default="parser-faces-64", show_default=True, help="Shipped parser name or directory.")
@click.option("--world", default=None, help="Default: the world the parser was trained on.")
@click.option("--count", default=1000, show_default=True, type=count_type("samples", "--count"), help="Held-out images (limit: samples).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Evaluation stream (training uses 1000+).")
@click.option("--size", default=64, show_default=True, type=Checked("INT", int, check_size))
@click.option("--fd", is_flag=True, help="Also compute the FD-parser floor at N=--count.")
@click.option("--threads", default=None, type=click.IntRange(min=1), help="torch CPU threads (default: torch's choice).")
@click.option("--json", "json_path", default=None, help="Also write the scores as JSON here.")
@overwrite_option
def parser_eval(parser_name, world, count, seed, size, fd, threads, json_path, overwrite) -> None:
    """Score a parser on held-out procedural images: mIoU, per-part IoU, pixel accuracy (and FD floor)."""
    plan = OutputPlan(overwrite)
    if json_path:
        plan.add(json_path)
    plan.check()
    if threads is not None:
        torch.set_num_threads(threads)
    model = load_parser(parser_name)
    scores = evaluate_parser(model, world, count=count, seed=seed, size=size)
    if fd:
        scores["fd_count"] = count
        scores["fd_parser_floor"] = fd_parser_floor(model, world, count=count, seed=seed, size=size)
    _print_scores(scores)
    if json_path:
        text = json.dumps(scores, indent=2) + "\n"
        plan.write(json_path, lambda path: path.write_text(text))
        plan.commit()


@parser.command("classes")
@click.option("--parser", "parser_name", default="parser-scenes-64", show_default=True, help="The part parser whose features it reads.")
@click.option("--samples", default=3000, show_default=True, type=count_type("samples", "--samples"), help="Training images (stream --seed).")
@click.option("--seed", default=2000, show_default=True, type=SEED, help="Training stream and box draws (evaluation uses stream 0).")
@click.option("--eval-count", default=1000, show_default=True, type=click.IntRange(min=0), help="Held-out images scored after training (0: skip).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch CPU threads.")
@click.option("--out", "-o", required=True, help="Output directory (config.json + model.safetensors; other files are kept).")
@overwrite_option
def parser_classes(parser_name, samples, seed, eval_count, threads, out, overwrite) -> None:
    """Train a class scorer (which class a region shows, e.g. a scene's biome) on the parser's world."""
    folder = Path(out)
    plan = OutputPlan(overwrite)
    files = plan.add(folder / CONFIG_FILE, folder / WEIGHTS_FILE)
    plan.check()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    scorer = train_class_scorer(parser_name, samples=samples, seed=seed)
    seconds = time.perf_counter() - t0
    scores = evaluate_class_scorer(scorer, count=eval_count) if eval_count else {}
    facts = {"samples": samples, "seed": seed, "train_seconds": round(seconds, 1), "threads": threads, **scores}
    with tempfile.TemporaryDirectory(prefix="regiongan-classes.") as tmp:
        written = _write_model_files(plan, files, save_class_scorer(scorer, Path(tmp) / "scorer", extra=facts))
    click.echo(f"trained in {seconds:.0f} s; wrote {describe(written)}")
    if scores:
        click.echo(f"held-out accuracy ({scores['count']} images, stream 0): whole image {scores['whole_image_accuracy']:.3f}, "
                   f"random box regions {scores['box_accuracy']:.3f}")  # fmt: skip
