"""``TrainConfig``: every knob of a training run, JSON-serialisable, with its command-line option.

One dataclass is the single place where an option lives: its default, its help text and its validation.
:func:`add_train_arguments` (argparse) and :func:`click_train_options` (click) build command-line options from
the fields, and :meth:`TrainConfig.from_kwargs` turns parsed options back into a config, so the
``python -m regiongan.training`` entry point and a ``regiongan train`` subcommand stay in step.

``family`` picks the generator family (``stylegan2``, ``biggan-deep``, ``ssn`` or ``spade``). Options whose default differs per
family are ``None`` in the dataclass and filled from :data:`FAMILY_DEFAULTS` when the config is built; an
option that only one family has stays ``None`` for the other, and giving it a value there is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..hardware import resolve_precision

__all__ = [
    "TrainConfig",
    "FAMILIES",
    "FAMILY_DEFAULTS",
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


#: Generator families the loop can train (``regiongan.training.families`` holds one module per family).
FAMILIES = ("stylegan2", "biggan-deep", "ssn", "spade")

_SG2_ONLY = dict(
    w_dim=256, mapping_layers=4, channel_base=16384, channel_max=256, g_architecture="skip", mbstd_group=4,
    r1_gamma=1.0, r1_interval=16, pl_weight=0.0, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2, style_mixing=0.9,
)  # fmt: skip
#: SSN (docs/ssn.md): StyleGAN2's skeleton, objective and D, a latent grid, the low-distortion regulariser
#: (λ_D = 100, the paper's knee; lazy, every 4 steps), an optional global gate, and optional initialisation
#: from a StyleGAN2 (transfer) or an SSN run (fine-tune).
_SSN_ONLY = dict(
    block_grid=4, encoder_global=False, gate_lr_multiplier=1.0, distortion_weight=100.0, distortion_interval=4,
    distortion_ramp_kimg=0.0, init_from=None,
)  # fmt: skip
_BIGGAN_ONLY = dict(
    channel_width=32, d_channel_width="channel_width", blocks_per_resolution=2, attention="resolution/2",
    n_stats=17, standing_samples=64, ortho_reg=0.0,
)  # fmt: skip
#: SPADE (docs/spade.md "Training"): NVlabs' objective and D; ngf 16 keeps a 64² model under 25 MB (fp16).
_SPADE_ONLY = dict(
    ngf=16, ndf=64, num_upsampling_layers="normal", g_norm="spectralspadebatch3x3", use_vae=True,
    label_injection="spade", d_scales=2, d_layers=3, lambda_feat=10.0, lambda_kld=0.05,
)  # fmt: skip

#: Per-family values of the options left ``None`` in the dataclass. A string value names a rule resolved
#: from other fields (``"channel_width"``: the same value; ``"resolution/2"``). Options absent from a
#: family's table do not apply to it and stay ``None``.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "stylegan2": dict(z_dim=256, g_lr=0.0025, d_lr=0.0025, beta2=0.99, d_steps=1, **_SG2_ONLY),
    # BigGAN (Brock et al. 2019, appendix C): Adam 1e-4 / 4e-4, betas (0, 0.999), two D steps per G step.
    "biggan-deep": dict(z_dim=128, g_lr=1e-4, d_lr=4e-4, beta2=0.999, d_steps=2, **_BIGGAN_ONLY),
    # SSN: StyleGAN2's values (z_dim / w_dim are per block), skip architecture only.
    "ssn": dict(
        z_dim=256, g_lr=0.0025, d_lr=0.0025, beta2=0.99, d_steps=1,
        **{k: v for k, v in _SG2_ONLY.items() if k != "g_architecture"}, **_SSN_ONLY,
    ),  # fmt: skip
    # SPADE (Park et al. 2019; NVlabs' TTUR): Adam 1e-4 / 4e-4, betas (0, 0.9); a 64-d style code for CPU.
    "spade": dict(z_dim=64, g_lr=1e-4, d_lr=4e-4, beta2=0.9, d_steps=1, **_SPADE_ONLY),
}
_RULES = {"d_channel_width", "attention"}  # BigGAN fields whose default is a rule, not a literal


def _opt(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field that carries its command-line help text."""
    return field(default=default, metadata={"help": help, **extra})


def _family_opt(type_: type, help: str, **extra: Any) -> Any:
    """An option whose default depends on ``family`` (``None`` until :meth:`TrainConfig.__post_init__`)."""
    return field(default=None, metadata={"help": help, "type": type_, "per_family": True, **extra})


def _parse_bool(text: str | bool) -> bool:
    """A per-family on/off option from the command line: true/false, yes/no, on/off, 1/0."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


_parse_bool.__name__ = "bool"  # the metavar click shows


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
    """A training run of any family. Field names are the option names (``g_channels`` -> ``--g-channels``)."""

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
    precision: str = _opt(
        "fp32", "fp32, bf16 (synthesis convolutions and D under autocast), or auto: bf16 where the hardware has native bf16",
        choices=("fp32", "bf16", "auto"),
    )
    device: str = _opt("auto", "auto, cpu or cuda")
    threads: int = _opt(0, "CPU threads per process (0: cores / processes)")
    # -- generator ------------------------------------------------------------------------------------
    family: str = _opt("stylegan2", "generator family: sets the networks, the loss and the per-family defaults", choices=FAMILIES)
    z_dim: int | None = _family_opt(int, "latent size (ssn: channels of each block's z)")
    w_dim: int | None = _family_opt(int, "intermediate latent size (ssn: channels of each block's w)")
    mapping_layers: int | None = _family_opt(int, "layers of G's mapping network")
    channel_base: int | None = _family_opt(int, "feature maps at resolution r: min(channel_base // r, channel_max) (G and D)")
    channel_max: int | None = _family_opt(int, "upper bound of feature maps per layer (G and D)")
    g_channels: dict | None = _opt(None, "G feature maps per resolution, e.g. '4:256,8:256,16:256,32:128,64:64' (stylegan2, ssn)")
    d_channels: dict | None = _opt(None, "D feature maps per resolution (default: as G) (stylegan2, ssn)")
    g_architecture: str | None = _family_opt(str, "G synthesis architecture", choices=("orig", "skip", "resnet"))
    mbstd_group: int | None = _family_opt(int, "minibatch-stddev group size of D")
    channel_width: int | None = _family_opt(int, "BigGAN's ch: G has 16·ch feature maps at 4², halved four times down to ch")
    d_channel_width: int | None = _family_opt(int, "BigGAN D's ch: ch feature maps at full resolution, doubled per halving up to 16·ch")
    blocks_per_resolution: int | None = _family_opt(int, "residual blocks per resolution in G and D (BigGAN-deep: 2)")
    attention: int | None = _family_opt(int, "resolution of the self-attention layer in G and D (0: none)")
    n_stats: int | None = _family_opt(int, "BN statistics rows in the exported G, one per truncation on an even grid of [0, 1]")
    standing_samples: int | None = _family_opt(int, "samples per truncation row for the exported G's standing BN statistics")
    block_grid: int | None = _family_opt(int, "SSN's latent grid: n × n blocks (a power of two <= resolution)")
    encoder_global: bool | None = _family_opt(_parse_bool, "SSN: a per-channel gate blends every block's w towards the code of the pooled z (init 1: a transfer starts as the StyleGAN2 of the pooled z)")
    gate_lr_multiplier: float | None = _family_opt(float, "SSN: learning-rate multiplier of the --encoder-global gate")
    init_from: str | None = _family_opt(
        str, "SSN initialisation: a StyleGAN2 model name or path (e.g. faces-64) with the run's widths, D fresh; or an SSN training run folder, both networks from its newest snapshot (a fine-tune)"
    )
    ngf: int | None = _family_opt(int, "SPADE G width: 16·ngf feature maps at the input grid, halved four times to ngf")
    ndf: int | None = _family_opt(int, "SPADE D width: ndf feature maps in the first PatchGAN layer, doubled per layer (<= 512)")
    num_upsampling_layers: str | None = _family_opt(
        str, "SPADE: 5 / 6 / 7 upsamplings from the input grid (resolution >= 32 / 64 / 128)", choices=("normal", "more", "most")
    )
    g_norm: str | None = _family_opt(str, "SPADE's norm_G: [spectral]spade{batch|syncbatch|instance}KxK")
    use_vae: bool | None = _family_opt(_parse_bool, "SPADE: a VAE style code z (multimodal, example-guided synthesis) with its encoder")
    label_injection: str | None = _family_opt(
        str, "SPADE: 'spade' (label map modulates every norm) or 'input' (the same-capacity baseline that sees it only at its input)",
        choices=("spade", "input"),
    )  # fmt: skip
    d_scales: int | None = _family_opt(int, "SPADE D: PatchGANs at successively halved scales (NVlabs' num_D)")
    d_layers: int | None = _family_opt(int, "SPADE D: strided layers per PatchGAN (NVlabs' n_layers_D)")
    # -- objective and optimiser ----------------------------------------------------------------------
    g_lr: float | None = _family_opt(float, "Adam learning rate of G")
    d_lr: float | None = _family_opt(float, "Adam learning rate of D")
    beta1: float = _opt(0.0, "Adam beta1")
    beta2: float | None = _family_opt(float, "Adam beta2")
    d_steps: int | None = _family_opt(int, "D steps per G step, each on its own real batch")
    r1_gamma: float | None = _family_opt(float, "R1 weight gamma (0 disables)")
    r1_interval: int | None = _family_opt(int, "lazy R1: every this many steps")
    pl_weight: float | None = _family_opt(float, "path-length regulariser weight (0 disables; StyleGAN2 uses 2)")
    pl_interval: int | None = _family_opt(int, "lazy path-length regularisation: every this many steps")
    pl_decay: float | None = _family_opt(float, "decay of the path-length EMA")
    pl_batch_shrink: int | None = _family_opt(int, "path-length batch = batch / this")
    style_mixing: float | None = _family_opt(float, "probability of style mixing regularisation")
    ortho_reg: float | None = _family_opt(float, "BigGAN's orthogonal regularisation of G's weights (0 disables)")
    distortion_weight: float | None = _family_opt(float, "SSN's low-distortion regulariser weight λ_D (0 disables; paper: 100)")
    distortion_interval: int | None = _family_opt(int, "lazy low-distortion regularisation: every this many steps")
    distortion_ramp_kimg: float | None = _family_opt(float, "SSN: λ_D grows linearly from 0 to --distortion-weight over this many kimg (0: full weight from the start)")
    lambda_feat: float | None = _family_opt(float, "SPADE: weight of the D feature-matching loss (0 disables)")
    lambda_kld: float | None = _family_opt(float, "SPADE: weight of the VAE's KL term (0 disables)")
    ema_kimg: float = _opt(10.0, "half-life of G's EMA in thousand images")
    ema_rampup: float = _opt(0.05, "EMA half-life ramp-up as a fraction of images seen (0 disables)")
    d_warmup_kimg: float = _opt(0.0, "train only D for this many kimg first, G frozen: for a G initialised elsewhere (--init-from) facing a fresh D")
    augment: str = _opt("", "DiffAugment ops applied to real and fake images before D: '' or e.g. 'color,translation,cutout'")
    # -- outputs --------------------------------------------------------------------------------------
    snap_kimg: float = _opt(20.0, "snapshot, model export and sample grid every this many kimg")
    log_every: int = _opt(20, "append averaged losses to metrics.jsonl every this many steps")
    keep_snapshots: int = _opt(2, "how many training snapshots to keep")
    grid: int = _opt(32, "images in the sample grid (fixed latents)")
    progress: bool = _opt(True, "show a progress bar")

    def __post_init__(self) -> None:
        if self.precision == "auto":  # resolved once, so the run records (and resumes with) what it trains in
            device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
            self.precision = resolve_precision("auto", device)
        self.g_channels = parse_channels(self.g_channels)
        self.d_channels = parse_channels(self.d_channels)
        self._fill_family_defaults()
        self.validate()

    def _fill_family_defaults(self) -> None:
        """Options left ``None`` take the value of :data:`FAMILY_DEFAULTS` for ``family`` (if it applies)."""
        defaults = FAMILY_DEFAULTS.get(self.family, {})
        for name, value in defaults.items():
            if getattr(self, name) is None and name not in _RULES:
                setattr(self, name, value)
        if "d_channel_width" in defaults and self.d_channel_width is None:
            self.d_channel_width = self.channel_width
        if "attention" in defaults and self.attention is None and isinstance(self.resolution, int):
            self.attention = self.resolution // 2

    # ------------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        """Raise a ValueError naming every bad field, what it must be and what was given."""
        errors: list[str] = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                errors.append(message)

        def given(name: str) -> bool:  # options of the other family stay None
            return getattr(self, name) is not None

        r = self.resolution
        need(isinstance(r, int) and r >= 8 and r & (r - 1) == 0, f"resolution must be a power of two >= 8, got {r}")
        for name in ("batch", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group",
                     "r1_interval", "pl_interval", "pl_batch_shrink", "log_every", "keep_snapshots", "grid",
                     "d_steps", "blocks_per_resolution", "n_stats", "standing_samples", "block_grid",
                     "distortion_interval"):  # fmt: skip
            v = getattr(self, name)
            if name == "batch" or given(name):
                need(isinstance(v, int) and not isinstance(v, bool) and v > 0, f"{name} must be a positive integer, got {v!r}")
        for name in ("seed", "data_seed", "threads", "attention"):
            v = getattr(self, name)
            if given(name):
                need(isinstance(v, int) and v >= 0, f"{name} must be an integer >= 0, got {v!r}")
        for name in ("kimg", "snap_kimg", "g_lr", "d_lr") + (("gate_lr_multiplier",) if given("gate_lr_multiplier") else ()):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and v > 0, f"{name} must be > 0, got {v!r}")
        for name in ("r1_gamma", "pl_weight", "ema_kimg", "ema_rampup", "ortho_reg", "distortion_weight", "distortion_ramp_kimg", "d_warmup_kimg"):
            v = getattr(self, name)
            if given(name):
                need(isinstance(v, (int, float)) and v >= 0, f"{name} must be >= 0, got {v!r}")
        for name in ("beta1", "beta2", "pl_decay", "style_mixing"):
            v = getattr(self, name)
            if given(name):
                need(isinstance(v, (int, float)) and 0 <= v <= 1, f"{name} must be in [0, 1], got {v!r}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and given(f.name) and getattr(self, f.name) not in choices:
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
        if self.family in FAMILY_DEFAULTS:
            errors += self._family_errors()
        if errors:
            raise ValueError("invalid training config:\n  " + "\n  ".join(errors))

    def _family_errors(self) -> list[str]:
        """Options given that ``family`` does not have, and BigGAN's architecture limits."""
        errors = []
        for f in dataclasses.fields(self):
            if f.name in ("g_channels", "d_channels"):
                owners = ["stylegan2", "ssn"]
            elif f.metadata.get("per_family"):
                owners = [fam for fam in FAMILIES if f.name in FAMILY_DEFAULTS[fam]]
            else:
                continue
            if self.family not in owners and getattr(self, f.name) is not None:
                flag = "--" + f.name.replace("_", "-")
                errors.append(f"{flag} applies to --family {' / '.join(owners)} only; leave it out with --family {self.family}")
        if self.family == "biggan-deep" and isinstance(self.resolution, int) and self.resolution >= 8:
            for name in ("channel_width", "d_channel_width"):
                v = getattr(self, name)
                if isinstance(v, int) and v < 4:
                    errors.append(f"{name} must be >= 4 (bottlenecks have ch/4 feature maps), got {v}")
            ups = self.resolution.bit_length() - 3  # upsampling blocks from 4² to the resolution
            depth = self.blocks_per_resolution
            if isinstance(depth, int) and depth > 0 and depth * ups < 4:
                errors.append(
                    f"BigGAN-deep halves its width 16·ch -> ch in 4 blocks, but resolution {self.resolution} with "
                    f"--blocks-per-resolution {depth} has {depth * ups}; raise --blocks-per-resolution to {-(-4 // ups)}"
                )
            a = self.attention
            if isinstance(a, int) and a and (a & (a - 1) or not 4 <= a <= self.resolution // 2):
                errors.append(f"attention must be 0 or a power of two in [4, {self.resolution // 2}], got {a}")
        if self.family == "ssn":
            g = self.block_grid
            if isinstance(g, int) and isinstance(self.resolution, int) and (g & (g - 1) or g > self.resolution):
                errors.append(f"block_grid must be a power of two <= resolution ({self.resolution}), got {g}")
            if self.init_from is not None and (not isinstance(self.init_from, str) or not self.init_from.strip()):
                errors.append(f"init_from must be a StyleGAN2 model name or path or an SSN run folder, got {self.init_from!r}")
        if self.family == "spade":
            errors += self._spade_errors()
        return errors

    def _spade_errors(self) -> list[str]:
        """SPADE's option values: widths, weights, the resolution its upsamplings need, no classes, and only
        colour augmentation (translation and cutout would move the image off its label map)."""
        errors = []
        for name in ("ngf", "ndf", "d_scales", "d_layers"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                errors.append(f"{name} must be a positive integer, got {v!r}")
        for name in ("lambda_feat", "lambda_kld"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0):
                errors.append(f"{name} must be >= 0, got {v!r}")
        if not isinstance(self.use_vae, bool):
            errors.append(f"use_vae must be true or false, got {self.use_vae!r}")
        if not (isinstance(self.g_norm, str) and self.g_norm.removeprefix("spectral").startswith("spade")):
            errors.append(f"g_norm must be [spectral]spade{{batch|syncbatch|instance}}KxK, got {self.g_norm!r}")
        need = {"normal": 32, "more": 64, "most": 128}.get(self.num_upsampling_layers)
        if need and isinstance(self.resolution, int) and self.resolution < need:
            errors.append(
                f"num_upsampling_layers {self.num_upsampling_layers!r} needs resolution >= {need}, got {self.resolution}"
            )
        if self.conditional:
            errors.append("--conditional does not apply to --family spade: the label map is its condition")
        moving = [op for op in self.augment_ops() if op != "color"]
        if moving:
            errors.append(f"--family spade takes only the 'color' augmentation ({', '.join(moving)} would misalign the label map)")
        return errors

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
    if "type" in f.metadata:
        return f.metadata["type"]
    if isinstance(f.default, float):
        return float
    if isinstance(f.default, int) and not isinstance(f.default, bool):
        return int
    return str


def _default_text(f: dataclasses.Field) -> str:
    """``0.0025`` or, for a per-family option, ``stylegan2: 0.0025, biggan-deep: 0.0001``."""
    if not f.metadata.get("per_family"):
        return str(f.default)
    return ", ".join(f"{fam}: {FAMILY_DEFAULTS[fam][f.name]}" for fam in FAMILIES if f.name in FAMILY_DEFAULTS[fam])


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
        kw: dict[str, Any] = dict(dest=f.name, type=_value_type(f), default=None, help=f"{helptext} (default: {_default_text(f)})")
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
        func = click.option(flag, f.name, type=typ, default=None, show_default=_default_text(f), help=helptext)(func)
    return func


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``train_config.json`` written by a run."""
    return TrainConfig.from_dict(json.loads(Path(path).read_text()))
