"""``TrainConfig``: every knob of a training run, JSON-serialisable, with its command-line option.

One dataclass is the single place where an option lives: its default, its help text and its validation.
:func:`add_train_arguments` (argparse) and :func:`click_train_options` (click) build command-line options from
the fields, and :meth:`TrainConfig.from_kwargs` turns parsed options back into a config, so the
``python -m regiongan.training`` entry point and a ``regiongan train`` subcommand stay in step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = [
    "TrainConfig",
    "RUN_CONTROL_FIELDS",
    "AUGMENT_OPS",
    "parse_channels",
    "add_train_arguments",
    "click_train_options",
]

#: DiffAugment operations understood by ``--augment`` (see :mod:`regiongan.training.augment`).
AUGMENT_OPS = ("color", "translation", "cutout")

#: Fields that may change when a run is resumed; every other field must match the snapshot.
RUN_CONTROL_FIELDS = frozenset(
    {"run_dir", "kimg", "resume", "snap_kimg", "log_every", "keep_snapshots", "grid", "progress", "threads", "device"}
)


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field that carries its command-line help text."""
    return field(default=default, metadata={"help": help, **extra})


def parse_channels(spec: str | dict | None) -> dict[int, int] | None:
    """``"4:256,8:256,16:128"`` (or a dict with str/int keys) -> ``{4: 256, 8: 256, 16: 128}``; ""/None -> None."""
    if spec is None or spec == "" or spec == {}:
        return None
    items = spec.items() if isinstance(spec, dict) else [part.split(":") for part in str(spec).split(",") if part.strip()]
    try:
        out = {int(k): int(v) for k, v in items}
    except (TypeError, ValueError):
        raise ValueError(f"bad channel spec {spec!r}: use 'resolution:channels' pairs, e.g. '4:256,8:256,16:128'") from None
    bad = {r: c for r, c in out.items() if r < 4 or r & (r - 1) or c <= 0}
    if bad:
        raise ValueError(f"bad channel spec {spec!r}: resolutions must be powers of two >= 4 and channels > 0 ({bad})")
    return out


@dataclass
class TrainConfig:
    """A StyleGAN2 training run. Field names are the option names (``g_channels`` -> ``--g-channels``)."""

    # -- data and run ---------------------------------------------------------------------------------
    data: str = _opt("faces", "a world name (see regiongan.data.list_worlds) or a folder of square images")
    resolution: int = _opt(64, "image resolution (power of two >= 8)")
    data_seed: int = _opt(0, "random stream of the world's samples (worlds only)")
    conditional: bool = _opt(False, "condition G and D on the class id (world classes or the folder's class_ids.npy)")
    run_dir: str = _opt("runs/train", "output folder: snapshots, metrics.jsonl, samples/, model/")
    kimg: float = _opt(500.0, "train until this many thousand real images have been shown")
    batch: int = _opt(16, "total batch size over all processes")
    seed: int = _opt(0, "seed of initialisation, latents, noise, mixing and augmentation")
    resume: bool = _opt(False, "continue from the newest valid snapshot in run_dir (starts fresh when there is none)")
    precision: str = _opt("fp32", "fp32, or bf16 (synthesis convolutions and D under autocast)", choices=("fp32", "bf16"))
    device: str = _opt("auto", "auto, cpu or cuda")
    threads: int = _opt(0, "CPU threads per process (0: cores / processes)")
    # -- generator ------------------------------------------------------------------------------------
    z_dim: int = _opt(256, "latent size")
    w_dim: int = _opt(256, "intermediate latent size")
    mapping_layers: int = _opt(4, "layers of G's mapping network")
    channel_base: int = _opt(16384, "feature maps at resolution r: min(channel_base // r, channel_max) (G and D)")
    channel_max: int = _opt(256, "upper bound of feature maps per layer (G and D)")
    g_channels: dict | None = _opt(None, "G feature maps per resolution, e.g. '4:256,8:256,16:256,32:128,64:64'")
    d_channels: dict | None = _opt(None, "D feature maps per resolution (default: as G)")
    g_architecture: str = _opt("skip", "G synthesis architecture", choices=("orig", "skip", "resnet"))
    mbstd_group: int = _opt(4, "minibatch-stddev group size of D")
    # -- objective and optimiser ----------------------------------------------------------------------
    g_lr: float = _opt(0.0025, "Adam learning rate of G")
    d_lr: float = _opt(0.0025, "Adam learning rate of D")
    beta1: float = _opt(0.0, "Adam beta1")
    beta2: float = _opt(0.99, "Adam beta2")
    r1_gamma: float = _opt(1.0, "R1 weight gamma (0 disables)")
    r1_interval: int = _opt(16, "lazy R1: every this many steps")
    pl_weight: float = _opt(0.0, "path-length regulariser weight (0 disables; StyleGAN2 uses 2)")
    pl_interval: int = _opt(4, "lazy path-length regularisation: every this many steps")
    pl_decay: float = _opt(0.01, "decay of the path-length EMA")
    pl_batch_shrink: int = _opt(2, "path-length batch = batch / this")
    style_mixing: float = _opt(0.9, "probability of style mixing regularisation")
    ema_kimg: float = _opt(10.0, "half-life of G's EMA in thousand images")
    ema_rampup: float = _opt(0.05, "EMA half-life ramp-up as a fraction of images seen (0 disables)")
    augment: str = _opt("", "DiffAugment ops applied to real and fake images before D: '' or e.g. 'color,translation,cutout'")
    # -- outputs --------------------------------------------------------------------------------------
    snap_kimg: float = _opt(20.0, "snapshot, model export and sample grid every this many kimg")
    log_every: int = _opt(20, "append averaged losses to metrics.jsonl every this many steps")
    keep_snapshots: int = _opt(2, "how many training snapshots to keep")
    grid: int = _opt(32, "images in the sample grid (fixed latents)")
    progress: bool = _opt(True, "show a progress bar")

    def __post_init__(self) -> None:
        self.g_channels = parse_channels(self.g_channels)
        self.d_channels = parse_channels(self.d_channels)
        self.validate()

    # ------------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        """Raise a ValueError naming every bad field, what it must be and what was given."""
        errors: list[str] = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                errors.append(message)

        r = self.resolution
        need(isinstance(r, int) and r >= 8 and r & (r - 1) == 0, f"resolution must be a power of two >= 8, got {r}")
        for name in ("batch", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group",
                     "r1_interval", "pl_interval", "pl_batch_shrink", "log_every", "keep_snapshots", "grid"):  # fmt: skip
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v > 0, f"{name} must be a positive integer, got {v!r}")
        for name in ("seed", "data_seed", "threads"):
            v = getattr(self, name)
            need(isinstance(v, int) and v >= 0, f"{name} must be an integer >= 0, got {v!r}")
        for name in ("kimg", "snap_kimg", "g_lr", "d_lr"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and v > 0, f"{name} must be > 0, got {v!r}")
        for name in ("r1_gamma", "pl_weight", "ema_kimg", "ema_rampup"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and v >= 0, f"{name} must be >= 0, got {v!r}")
        for name in ("beta1", "beta2", "pl_decay", "style_mixing"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and 0 <= v <= 1, f"{name} must be in [0, 1], got {v!r}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                errors.append(f"{f.name} must be one of {', '.join(choices)}; got {getattr(self, f.name)!r}")
        need(self.device in ("auto", "cpu", "cuda") or str(self.device).startswith("cuda:"),
             f"device must be auto, cpu or cuda, got {self.device!r}")  # fmt: skip
        unknown = [op for op in self.augment_ops() if op not in AUGMENT_OPS]
        need(not unknown, f"augment: unknown op(s) {unknown}; choose from {', '.join(AUGMENT_OPS)}")
        need(bool(str(self.data).strip()), "data must be a world name or an image folder")
        for name in ("g_channels", "d_channels"):
            chans = getattr(self, name) or {}
            extra = sorted(k for k in chans if isinstance(r, int) and k > r)
            need(not extra, f"{name} lists resolutions above --resolution {r}: {extra}")
        if errors:
            raise ValueError("invalid training config:\n  " + "\n  ".join(errors))

    def augment_ops(self) -> list[str]:
        spec = str(self.augment or "").strip().lower()
        return [] if spec in ("", "none", "off") else [op.strip() for op in spec.split(",") if op.strip()]

    # ---------------------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (channel dicts get int keys back in :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error (a typo must not be ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known options: {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "TrainConfig":
        """From parsed command-line options (argparse ``vars(ns)`` or click ``**kwargs``); None means default."""
        return cls.from_dict({k: v for k, v in kwargs.items() if v is not None})

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainConfig":
        return cls.from_kwargs(**vars(args))

    def changed_fields(self, other: "TrainConfig", ignore: frozenset[str] = RUN_CONTROL_FIELDS) -> dict[str, tuple]:
        """``{name: (self value, other value)}`` for fields that differ, except ``ignore``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if k not in ignore and a[k] != b[k]}


# ------------------------------------------------------------------------------------------------ CLI glue


def _option_specs() -> list[tuple[dataclasses.Field, str]]:
    return [(f, "--" + f.name.replace("_", "-")) for f in dataclasses.fields(TrainConfig)]


def _value_type(f: dataclasses.Field) -> Callable[[str], Any]:
    if f.name in ("g_channels", "d_channels"):
        return str
    if isinstance(f.default, float):
        return float
    if isinstance(f.default, int) and not isinstance(f.default, bool):
        return int
    return str


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add one option per :class:`TrainConfig` field (defaults come from the dataclass)."""
    for f, flag in _option_specs():
        helptext = f.metadata.get("help", "")
        if isinstance(f.default, bool):
            if f.default:
                parser.add_argument("--no-" + flag[2:], dest=f.name, action="store_false", default=None, help=f"do not: {helptext}")
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", default=None, help=helptext)
            continue
        kw: dict[str, Any] = dict(dest=f.name, type=_value_type(f), default=None, help=f"{helptext} (default: {f.default})")
        if f.metadata.get("choices"):
            kw["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **kw)
    return parser


def click_train_options(func: Callable) -> Callable:
    """Decorator adding the same options to a click command; call ``train(TrainConfig.from_kwargs(**kw))``."""
    import click

    for f, flag in reversed(_option_specs()):
        helptext = f.metadata.get("help", "")
        if isinstance(f.default, bool):
            func = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=helptext)(func)
            continue
        typ: Any = click.Choice(f.metadata["choices"]) if f.metadata.get("choices") else _value_type(f)
        func = click.option(flag, f.name, type=typ, default=None, show_default=str(f.default), help=helptext)(func)
    return func


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``train_config.json`` written by a run."""
    return TrainConfig.from_dict(json.loads(Path(path).read_text()))
