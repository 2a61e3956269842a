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
import platform
import shutil
from pathlib import Path

import torch

from ...checkpoints import MODELS_DIR, load_model
from ...images import make_grid
from ...latents import z_from_seeds
from ..config import TrainConfig

__all__ = ["ship", "training_command"]


def training_command(cfg: TrainConfig, launcher: str = "python") -> str:
    """The command that reproduces ``cfg``: every option that differs from its default, spelled out."""
    defaults = TrainConfig()
    parts = [f"{launcher} -m regiongan.training"]
    for f in dataclasses.fields(cfg):
        value, default = getattr(cfg, f.name), getattr(defaults, f.name)
        if f.name in ("progress",) or value == default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{flag[2:]}")
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


def ship(run_dir: str | Path, name: str, launcher: str = "python", fd_count: int = 1000, grid: int = 32) -> Path:
    """Copy ``run_dir/model`` to ``regiongan/models/<name>`` with ``README.md`` (card) and ``samples.png``."""
    run_dir = Path(run_dir)
    src = run_dir / "model"
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src}: no exported model (config.json) yet; wait for the first snapshot")
    meta = json.loads((src / "config.json").read_text())
    extra = meta.get("extra", {})
    cfg = TrainConfig.from_dict({**extra.get("train_config", {}), "resume": True})
    dest = MODELS_DIR / name
    tmp = MODELS_DIR / f".{name}.shipping"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy2(src / f, tmp / f)

    G = load_model(tmp)
    with torch.no_grad():
        images = G(z_from_seeds(range(grid), G.z_dim))
    make_grid(images, ncols=8, scale=2).save(tmp / "samples.png")

    fd_line = "FD-parser: not measured (no part parser for this world is shipped)."
    try:
        from ...parser import load_parser
        from ...parser.metrics import fd_parser, fd_parser_floor

        parser = load_parser(f"parser-{cfg.data}-{cfg.resolution}")
        gen = torch.Generator().manual_seed(12345)

        def sample(n: int) -> torch.Tensor:
            return G(torch.randn(n, G.z_dim, generator=gen))

        fd = fd_parser(sample, parser, count=fd_count)
        floor = fd_parser_floor(parser, count=fd_count)
        fd_line = (
            f"FD-parser ({fd_count} generated vs {fd_count} procedural images, parser `parser-{cfg.data}-{cfg.resolution}`): "
            f"**{fd:.2f}**; floor (procedural vs procedural, same count): **{floor:.2f}**."
        )
    except (ImportError, FileNotFoundError, ValueError) as e:
        fd_line += f" ({e})"

    last = _last_metrics(run_dir)
    kimg = extra.get("kimg", last.get("kimg"))
    wall_h = last.get("wall_s", 0) / 3600
    size_mb = (tmp / "model.safetensors").stat().st_size / 1e6
    n_params = sum(p.numel() for p in G.parameters()) / 1e6
    card = f"""# {name}

A StyleGAN2 ({G.img_resolution}×{G.img_resolution}, {n_params:.2f} M parameters, {size_mb:.1f} MB fp16 EMA weights) trained by
regiongan's own code on the procedural `{cfg.data}` world. Nothing here was downloaded.

![samples](samples.png)

*Seeds 0–{grid - 1}, ψ = 1, const noise (`regiongan generate --model {name} --seeds 0-{grid - 1}`).*

## Training

```bash
{training_command(cfg, launcher)}
```

Re-running the same command continues the run from its newest snapshot (`--resume`); `--kimg` may be raised.

| fact | value |
|---|---|
| images shown | {kimg:.1f} kimg (of {cfg.kimg:g} planned) |
| training wall time | {wall_h:.2f} h (as of the last logged step) |
| hardware | {platform.machine()} CPU, 2 cores (AVX2, no AMX), no GPU; fp32 |
| batch | {cfg.batch} |
| G config | z/w {G.z_dim}/{G.w_dim}, {cfg.mapping_layers} mapping layers, channels {G.config.get('channels')} |

## Quality

{fd_line}

## Honest status

This is an early snapshot of a run that is still going: {kimg:.1f} kimg is far below what StyleGAN2 usually needs
(hundreds of kimg at 64²). The images above show how far it got. Later sessions continue the run and
re-ship with `python -m regiongan.training.ship --run-dir {run_dir} --name {name}`.
"""
    (tmp / "README.md").write_text(card)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest
