"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``).

The scripts import this module as ``common``: ``benchmarks/`` is on ``sys.path`` when one of them runs as
a script. Sections: models and parsers, command line, timing, output files (CSV, JSON), In-/Out-MSE
accumulation, and the PIL drawing helpers of the plots and documentation figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator

import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
DOCS_IMG = REPO / "docs" / "img"


# --------------------------------------------------------------------------------------------------
# Models and parsers


def load_shipped(name: str):
    """A model by name/path, or None when it is not available (benchmarks then fall back to a random model)."""
    from regiongan.checkpoints import CheckpointError, load_model

    try:
        return load_model(name)
    except (CheckpointError, FileNotFoundError):
        return None


def random_stylegan2(**kwargs):
    """A StyleGAN2 with these arguments and random weights (seed 0), in eval mode without gradients."""
    from regiongan.generators.stylegan2 import StyleGAN2

    torch.manual_seed(0)
    return StyleGAN2(**kwargs).eval().requires_grad_(False)


def model_or_random(name: str, make_random: Callable[[], torch.nn.Module], using: str, label: str):
    """``(G, label, trained)``: the model ``name`` (labelled ``name``), else ``make_random()`` labelled
    ``label``, with a note on stderr that says it is ``using`` that instead."""
    G = load_shipped(name)
    if G is not None:
        return G, name, True
    print(f"note: model {name!r} not found; using {using}", file=sys.stderr)
    return make_random(), label, False


def trained_or_skip(name: str, advice: str):
    """The model ``name`` for ``--eval``, or None after saying why the evaluation is skipped (random weights
    have no parts to measure; ``advice`` says what to do)."""
    G = load_shipped(name)
    if G is None:
        print(f"skipping --eval: model {name!r} is not available (not shipped in src/regiongan/models/ and not a path). {advice}")
    return G


def load_parser_or_none(name: str | None, failure: str = "skipping part regions: cannot load part parser"):
    """The part parser ``name``; None when no name is given, or (after ``failure`` and the reason on stderr)
    when it cannot be loaded."""
    if not name:
        return None
    try:
        from regiongan.parser import load_parser

        return load_parser(name)
    except Exception as e:  # noqa: BLE001 - any failure means: no parser, say why
        print(f"{failure} {name!r} ({type(e).__name__}: {e})", file=sys.stderr)
        return None


# --------------------------------------------------------------------------------------------------
# Command line


def method_parser(doc: str, eval_help: str, figures_help: str, child: bool = False) -> argparse.ArgumentParser:
    """The parser of a method benchmark: ``doc`` as description, the mutually exclusive modes ``--eval`` and
    ``--figures`` (the default mode is speed; ``child``: also a hidden ``--child TASK``, for a script that runs
    its measurements in subprocesses of itself), and ``--model`` (default ``faces-64``)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--eval", action="store_true", help=eval_help)
    mode.add_argument("--figures", action="store_true", help=figures_help)
    if child:
        mode.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="faces-64")
    return ap


def add_threads(ap: argparse.ArgumentParser) -> None:
    """``--threads`` (default: torch's choice); apply it with :func:`set_threads`."""
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")


def add_output_dirs(ap: argparse.ArgumentParser, out_dir: str, out_help: str) -> None:
    """``--out-dir`` (where ``--eval`` writes) and ``--figures-dir`` (default: docs/img)."""
    ap.add_argument("--out-dir", default=out_dir, help=out_help)
    ap.add_argument("--figures-dir", default=str(DOCS_IMG))


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads; None or 0 leaves torch's choice."""
    if threads:
        torch.set_num_threads(threads)


def machine() -> str:
    return platform.processor() or platform.machine()


def torch_env() -> str:
    """``torch <version>, <n> threads, <processor>`` for the header line of a measurement."""
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, {machine()}"


# --------------------------------------------------------------------------------------------------
# Timing


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one ``fn()`` call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def clocked(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(fn(), wall seconds, process CPU seconds)`` of one call; with one thread, CPU time is what an idle
    machine would take."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - t0, time.process_time() - c0


def interleaved(configs: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds per configuration: one untimed warm-up call each (oneDNN kernel selection),
    then ``repeats`` rounds that run every configuration once, so that background load hits all alike."""
    wall: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    for fn in configs.values():
        fn()
    for _ in range(repeats):
        for name, fn in configs.items():
            _, w, c = clocked(fn)
            wall[name].append(w)
            cpu[name].append(c)
    return wall, cpu


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------------------------------
# Output files


def write_csv(path: Path, rows: list[dict]) -> Path:
    """``rows`` as CSV, columns in the order of the first row's keys (creates the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def print_table(rows: list[dict], columns: list[tuple[str, str, str | Callable[[dict], Any]]]) -> None:
    """A heading line, then a line per row, fields one space apart. ``columns``: ``(heading, format spec,
    key of the row or function of the row)``; headings are left-aligned over text columns (spec ``14s``)
    and right-aligned over the others (numbers, ``>10s``), like the values under them."""
    heads = []
    for heading, spec, _ in columns:
        width = spec.lstrip("<>^").split(".")[0].rstrip("sdfgeEn%")
        align = "" if spec.endswith("s") and spec[0] not in "<>^" else ">"
        heads.append(f"{heading:{align}{width}s}")
    print(" ".join(heads))
    for r in rows:
        print(" ".join(format(key(r) if callable(key) else r[key], spec) for _, spec, key in columns))


def write_json(path: Path, obj: object, end: str = "\n") -> Path:
    """``obj`` as indented JSON followed by ``end`` (creates the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + end)
    return path


# --------------------------------------------------------------------------------------------------
# In-/Out-MSE


class InOut:
    """In-/Out-MSE (CIELAB, regiongan.metrics.locality) collected per key over batches of images."""

    def __init__(self) -> None:
        self._acc: dict[Hashable, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}

    def add(self, key: Hashable, original: torch.Tensor, edited: torch.Tensor, mask: torch.Tensor) -> None:
        from regiongan.metrics.locality import in_out_mse

        i_mse, o_mse = in_out_mse(original, edited, mask)
        ins, outs = self._acc.setdefault(key, ([], []))
        ins.append(i_mse)
        outs.append(o_mse)

    def valid(self) -> Iterator[tuple[Hashable, torch.Tensor, torch.Tensor]]:
        """``(key, in_mse, out_mse)`` in the order the keys came, over the images where both are defined
        (an empty or full region leaves one of them NaN)."""
        for key, (ins, outs) in self._acc.items():
            i_all, o_all = torch.cat(ins), torch.cat(outs)
            ok = ~torch.isnan(i_all) & ~torch.isnan(o_all)
            yield key, i_all[ok], o_all[ok]


# --------------------------------------------------------------------------------------------------
# Plots


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is not installed (plots are then
    drawn with PIL)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def log_decades(values: list[float]) -> tuple[int, int]:
    """The powers of ten just below the smallest and just above the largest of ``values`` (all > 0)."""
    return math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))


def dashed_line(d: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], fill: str, width: int = 2, n: int = 8) -> None:
    """A dashed line from ``a`` to ``b``: ``n`` equal pieces, every other one drawn."""
    for s in range(0, n, 2):
        p0 = (a[0] + (b[0] - a[0]) * s / n, a[1] + (b[1] - a[1]) * s / n)
        p1 = (a[0] + (b[0] - a[0]) * (s + 1) / n, a[1] + (b[1] - a[1]) * (s + 1) / n)
        d.line([p0, p1], fill=fill, width=width)


# --------------------------------------------------------------------------------------------------
# Figures


def outline(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The border of ``mask [1, 1, H, W]`` drawn in white on a copy of ``image [1, 3, H, W]``."""
    inner = torch.nn.functional.max_pool2d(1 - mask, 3, stride=1, padding=1)  # touches the outside
    border = ((mask > 0.5) & (inner > 0.5)).expand(1, 3, -1, -1)
    out = image.clone()
    out[border] = 1.0
    return out


def label_row(images: torch.Tensor, labels: list[str], scale: int = 3) -> Image.Image:
    """One row of images with a caption under each."""
    from regiongan.images import make_grid

    grid = make_grid(images, ncols=images.shape[0], pad=4, scale=scale)
    cell = grid.width / images.shape[0]
    out = Image.new("RGB", (grid.width, grid.height + 16), "white")
    out.paste(grid, (0, 0))
    d = ImageDraw.Draw(out)
    for i, lab in enumerate(labels):
        d.text((i * cell + 6, grid.height), lab, fill="black")
    return out


def stack(rows: list[Image.Image]) -> Image.Image:
    """Pictures one under the other, left-aligned on white."""
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out


def hconcat(images: list[Image.Image], labels: list[str]) -> Image.Image:
    """Pictures side by side, 4 px apart, each with a caption under it."""
    w = sum(i.width for i in images) + 4 * (len(images) + 1)
    h = max(i.height for i in images) + 20
    out = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(out)
    x = 4
    for im, lab in zip(images, labels):
        out.paste(im, (x, 4))
        d.text((x + 2, im.height + 6), lab, fill="black")
        x += im.width + 4
    return out


def caption(image: Image.Image, text: str) -> Image.Image:
    """``image`` with a one-line caption above it."""
    out = Image.new("RGB", (image.width, image.height + 16), "white")
    out.paste(image, (0, 16))
    ImageDraw.Draw(out).text((4, 2), text, fill="black")
    return out


def export_at(run_dir: Path, kimg: float, out: Path) -> Path:
    """The EMA model of ``run_dir``'s last snapshot at or before ``kimg``, exported into ``out/model``.

    Copies that snapshot and the run's ``train_config.json`` into ``out`` and resumes a trainer there,
    whose snapshot export writes ``out/model`` — so two runs trained at different speeds are compared at
    the same number of images seen."""
    import shutil

    from regiongan.training.config import load_config
    from regiongan.training.distributed import Distributed
    from regiongan.training.loop import Trainer
    from regiongan.training.snapshot import list_snapshots

    cfg = load_config(run_dir / "train_config.json")
    steps = [(p, int(p.stem.split("step")[-1])) for p in list_snapshots(run_dir)]
    usable = [(p, st) for p, st in steps if st * cfg.batch <= kimg * 1000 + 1e-6]
    if not usable:
        raise SystemExit(f"{run_dir}: no snapshot at or before {kimg} kimg")
    snap, step = max(usable, key=lambda t: t[1])
    out.mkdir(parents=True, exist_ok=True)
    for old in list_snapshots(out):
        old.unlink()
    shutil.copy(run_dir / "train_config.json", out / "train_config.json")
    shutil.copy(snap, out / snap.name)
    cfg.run_dir, cfg.resume, cfg.progress = str(out), True, False
    trainer = Trainer(cfg, Distributed())
    trainer.prepare_run_dir()  # loads the copied snapshot
    trainer.save_snapshot()
    print(f"{run_dir}: exported the snapshot of step {step} ({step * cfg.batch / 1000:g} kimg) to {out / 'model'}", file=sys.stderr)
    return out / "model"


def print_written(paths: list[Path]) -> None:
    for p in paths:
        print(f"wrote {p}")
