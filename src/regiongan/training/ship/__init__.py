"""Ship a trained generator: copy a run's EMA model into the package and write its model card.

    regiongan ship --run-dir runs/faces64 --name faces-64 --launcher "torchrun --standalone --nproc_per_node=2"

(``python -m regiongan.training.ship ARGS`` is the same command: :mod:`.__main__` forwards to it.)

The card is written from the run's own records (``train_config.json``, ``metrics.jsonl``, the exported
``model/config.json``), so every number on it comes from the run or from a measurement made here:
FD-parser against the procedural world, next to the floor (procedural vs procedural).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import torch

from ...checkpoints import MODELS_DIR, load_model
from ...checkpoints.files import MODEL_DIR, check_folder, is_model_dir, swap_directory
from ...hardware import describe_cpu
from ...images import make_grid
from ..config import TrainConfig
from ..families import get_family
from ..data import open_real_images
from ..families import RealBatch
from ..samples import random_images

__all__ = ["ship", "training_command"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The files of a shipped model folder; anything else in it is kept when it is shipped again.
_SHIPPED = frozenset({"config.json", "model.safetensors", "samples.png", "README.md"})


def training_command(cfg: TrainConfig, launcher: str = "python") -> str:
    """The command that reproduces ``cfg``: every option that differs from its default, spelled out."""
    defaults = TrainConfig()
    parts = [f"{launcher} -m regiongan.training"]
    for f in dataclasses.fields(cfg):
        value, default = getattr(cfg, f.name), getattr(defaults, f.name)
        if f.name in ("progress",) or value is None or value == default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool) and isinstance(f.default, bool):  # an on/off flag
            parts.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, bool):  # a family option that takes a value (--use-vae true)
            parts.append(f"{flag} {str(value).lower()}")
        elif isinstance(value, dict):
            parts.append(f"{flag} " + ",".join(f"{k}:{v}" for k, v in sorted(value.items(), key=lambda kv: int(kv[0]))))
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _last_metrics(run_dir: Path) -> dict:
    """The last logged training step (event lines such as snapshots carry no timings)."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().strip().splitlines() if path.exists() else []
    steps = [d for d in map(json.loads, lines) if "event" not in d]
    return steps[-1] if steps else {}


def ship(
    run_dir: str | Path, name: str, launcher: str = "python", fd_count: int = 1000, grid: int = 40,
    models_dir: str | Path = MODELS_DIR,
) -> Path:
    """Copy ``run_dir/model`` to ``<models_dir>/<name>`` (the package's ``regiongan/models``) with ``README.md`` (card) and ``samples.png``.

    The shipped folder is built next to ``models/<name>`` and swapped in as one unit, so an interrupted ship
    leaves the earlier shipped model whole. An existing ``models/<name>`` must be a regiongan model
    directory (it is replaced, other files in it kept); any other folder of that name is refused.
    """
    run_dir = Path(run_dir)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"model name {name!r}: use one folder name of letters, digits, '.', '_' and '-', e.g. faces-64")
    src = run_dir / "model"
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src}: no exported model (config.json) yet; wait for the first snapshot")
    meta = json.loads((src / "config.json").read_text())
    extra = meta.get("extra", {})
    cfg = TrainConfig.from_dict({**extra.get("train_config", {}), "resume": True})
    dest = Path(models_dir) / name
    check_folder(dest, True, MODEL_DIR, is_model_dir)  # re-shipping replaces the earlier one
    write = lambda tmp: _write_shipped(tmp, run_dir, src, dest, cfg, extra, launcher, fd_count, grid)  # noqa: E731
    swap_directory(dest, write, owned=_SHIPPED.__contains__)
    return dest


def _carry_companions(new_config: Path, old_config: Path) -> None:
    """Keep the part parser the earlier shipped model declared: it reads images, not weights. Its catalog
    fits only the old weights, so it is not carried over (a stale one would be refused on every use)."""
    if not old_config.is_file():
        return
    old = json.loads(old_config.read_text()).get("companions", {})
    if not isinstance(old, dict) or "parser" not in old:
        return
    meta = json.loads(new_config.read_text())
    meta["companions"] = {"parser": old["parser"]}
    new_config.write_text(json.dumps(meta, indent=2) + "\n")


def _fd_line(G, cfg: TrainConfig, label_maps: bool, fd_count: int) -> str:
    """The card's quality line: FD-parser of ``fd_count`` samples against the world, next to its floor."""
    if label_maps:  # a label-map model is scored on held-out label maps by its family's benchmark
        return f"FD-parser, pixel accuracy and mIoU: `python benchmarks/{cfg.family}.py --eval` (scored on held-out label maps)."
    from ...parser import load_parser
    from ...parser.metrics import fd_parser, fd_parser_floor

    name = f"parser-{cfg.data}-{cfg.resolution}"
    try:
        parser = load_parser(name)
    except (FileNotFoundError, ValueError) as e:
        return f"FD-parser: not measured (no part parser for this world is shipped: {e})."
    gen = torch.Generator().manual_seed(12345)
    fd = fd_parser(lambda n: random_images(G, n, gen), parser, count=fd_count)
    floor = fd_parser_floor(parser, count=fd_count)
    drawn = ", classes drawn uniformly" if G.c_dim else ""
    return (
        f"FD-parser ({fd_count} generated{drawn} vs {fd_count} procedural images, parser `{name}`): **{fd:.2f}**; "
        f"floor (procedural vs procedural, same count): **{floor:.2f}**."
    )


def _write_shipped(
    tmp: Path, run_dir: Path, src: Path, dest: Path, cfg: TrainConfig, extra: dict, launcher: str, fd_count: int, grid: int
) -> None:
    """The shipped folder's files, written into the empty folder ``tmp``: the model, samples and card."""
    for f in ("config.json", "model.safetensors"):
        shutil.copy2(src / f, tmp / f)
    name = dest.name
    _carry_companions(tmp / "config.json", dest / "config.json")

    G = load_model(tmp)
    family = get_family(cfg.family)
    reals = None
    if family.needs_labels:  # label-map families draw the data stream's first label maps
        data = open_real_images(cfg.data, cfg.resolution, cfg.data_seed, cfg.seed, cfg.conditional, labels=True)
        images, c, labels = data.batch_with_labels(0, grid)
        reals = RealBatch(images, c, labels)
    images, ncols = family.sample_grid_images(G, grid, reals)
    make_grid(images, ncols=ncols, scale=2).save(tmp / "samples.png")
    facts = family.card(cfg, G)
    c_dim = getattr(G, "c_dim", 0)  # label-map families have no classes
    class_names = extra.get("data", {}).get("class_names") or [str(i) for i in range(c_dim)]

    fd_line = _fd_line(G, cfg, family.needs_labels, fd_count)

    last = _last_metrics(run_dir)
    kimg = extra.get("kimg", last.get("kimg"))
    wall_h = last.get("wall_s", 0) / 3600
    size_mb = (tmp / "model.safetensors").stat().st_size / 1e6
    n_params = sum(p.numel() for p in G.parameters()) / 1e6
    if family.needs_labels:
        caption = f"The first {grid} label maps of the `{cfg.data}` world's stream {cfg.data_seed}: label map, generated image, real image."
    elif c_dim:
        caption = (f"Seeds 0–{grid - 1}, class = seed mod {G.c_dim} ({ncols} columns: " + ", ".join(class_names[:ncols])
                   + f"), ψ = 1 (`regiongan generate --model {name} --seeds 0-{grid - 1} --class C`).")  # fmt: skip
    else:
        caption = f"Seeds 0–{grid - 1}, ψ = 1, const noise (`regiongan generate --model {name} --seeds 0-{grid - 1}`)."
    classes_row = f"| classes | {', '.join(class_names)} |\n" if c_dim else ""
    card = f"""# {name}

A {facts.title} ({G.img_resolution}×{G.img_resolution}, {n_params:.2f} M parameters, {size_mb:.1f} MB fp16 EMA weights) trained by
regiongan's own code on the procedural `{cfg.data}` world. Nothing here was downloaded.

![samples](samples.png)

*{caption}*

## Training

```bash
{training_command(cfg, launcher)}
```

Re-running the same command continues the run from its newest snapshot (`--resume`); `--kimg` may be raised.

| fact | value |
|---|---|
| images shown | {kimg:.1f} kimg (of {cfg.kimg:g} planned) |
| training wall time | {wall_h:.2f} h (as of the last logged step) |
| hardware | {describe_cpu()} (the machine it was shipped on) |
| precision | {cfg.precision} |
| batch | {cfg.batch} |
| G config | {facts.config} |
{classes_row}
## Quality

{fd_line}

## Honest status

This is an early snapshot of a run that is still going: {kimg:.1f} kimg is far below what a usual run needs
({facts.kimg_note}). The images above show how far it got. Later sessions continue the run and
re-ship with `regiongan ship --run-dir {run_dir} --name {name}`. A re-ship keeps the part parser the earlier
shipped model declared (`companions` in config.json) but not its Editing-in-Style catalog, which fits only
the weights it was built on: rebuild it (see the catalog's card) and declare it again.
"""
    (tmp / "README.md").write_text(card)
