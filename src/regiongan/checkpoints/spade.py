"""NVlabs/SPADE checkpoints -> our SPADE (:class:`~regiongan.generators.spade.SPADEModel`).

NVlabs' ``train.py`` writes ``checkpoints/<name>/latest_net_G.pth`` (and ``<epoch>_net_G.pth``), with
``latest_net_E.pth`` for the VAE encoder and ``latest_net_D.pth``, each a ``torch.save``'d state dict; its
options go to ``opt.txt`` (text) and ``opt.pkl`` (a pickle, which we never read). We accept that directory,
or a ``*_net_G.pth`` file inside it; the weights are read with ``torch.load(weights_only=True)`` and the
architecture comes from ``opt.txt`` — each line ``name: value`` with ``[default: x]`` after options that
differ from their default — or from a preset (:data:`PRESETS`: the released COCO-Stuff, ADE20K and
Cityscapes models) when there is no ``opt.txt``. Our parameter names are NVlabs', so the state dicts load
as they are (strictly; the encoder's under ``encoder.``).

Spectral-norm weights are stored as ``weight_orig`` with ``weight_u`` / ``weight_v``. A state dict saved by
an old torch may lack ``weight_v``: like torch's own upgrade hook we solve for it from the stored
normalised ``weight`` when that is there, otherwise ``v = normalize(Wᵀu)`` (one half power iteration).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ..generators.registry import check_config, short_repr
from ..generators.spade import SPADEModel
from ..limits import LimitError, limit
from .errors import CheckpointError, CorruptCheckpointError
from .native import model_from_state
from .reading import check_regular_file, check_state_tensors, first_line, torch_load

__all__ = [
    "PRESETS", "OPT_FILE", "GENERATOR_FILE", "is_nvlabs_spade_checkpoint", "looks_like_spade_state", "spade_files",
    "read_opt_txt", "config_from_opt", "convert_spade_state", "load_nvlabs_spade", "is_spade_dump", "load_spade_dump",
]  # fmt: skip

OPT_FILE = "opt.txt"
GENERATOR_FILE = "latest_net_G.pth"
_G_SUFFIX = "_net_G.pth"

_COMMON: dict[str, Any] = dict(
    ngf=64, use_vae=False, z_dim=256, norm_G="spectralspadesyncbatch3x3", norm_E="spectralinstance",
    num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0,
)  # fmt: skip
#: NVlabs options of the released models (``semantic_nc`` = label_nc + dontcare + instance edge).
PRESETS: dict[str, dict[str, Any]] = {
    "coco": {**_COMMON, "label_nc": 182, "contain_dontcare_label": True, "no_instance": False},  # 184
    "ade20k": {**_COMMON, "label_nc": 150, "contain_dontcare_label": True, "no_instance": True},  # 151
    "cityscapes": {
        **_COMMON, "label_nc": 35, "contain_dontcare_label": False, "no_instance": False,  # 36
        "crop_size": 512, "aspect_ratio": 2.0, "num_upsampling_layers": "more",
    },
}  # fmt: skip

#: opt.txt fields the architecture needs, with their types.
_FIELDS: dict[str, type] = {
    "label_nc": int, "contain_dontcare_label": bool, "no_instance": bool, "ngf": int, "num_upsampling_layers": str,
    "crop_size": int, "aspect_ratio": float, "use_vae": bool, "z_dim": int, "norm_G": str, "norm_E": str,
}  # fmt: skip
_LINE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s?(.*?)\s*(?:\[default:.*\])?\s*")


def _generator_file(p: Path) -> Path | None:
    if p.is_dir():
        g = p / GENERATOR_FILE
        return g if g.is_file() else None
    return p if p.is_file() and p.name.endswith(_G_SUFFIX) else None


def is_nvlabs_spade_checkpoint(path: str | Path) -> bool:
    """True for an NVlabs checkpoint directory (``latest_net_G.pth`` + ``opt.txt``) or a ``*_net_G.pth``
    file with ``opt.txt`` beside it. Never raises."""
    try:
        g = _generator_file(Path(path))
        return g is not None and (g.parent / OPT_FILE).is_file()
    except OSError:
        return False


def looks_like_spade_state(obj: Any) -> bool:
    """A dict with NVlabs SPADE generator keys (``fc.*``, ``head_0.*``, ``conv_img.*``)."""
    return isinstance(obj, Mapping) and "conv_img.weight" in obj and any(
        isinstance(k, str) and k.startswith("head_0.") for k in obj
    )


def spade_files(path: str | Path) -> tuple[Path, Path | None, Path | None]:
    """``(generator weights, encoder weights or None, opt.txt or None)`` of a checkpoint directory or a
    ``*_net_G.pth`` file (the encoder file is the same name with ``_net_E``)."""
    p = Path(path)
    g = _generator_file(p)
    if g is None:
        raise CheckpointError(
            f"{p}: not an NVlabs SPADE checkpoint (expected a directory with {GENERATOR_FILE} or a *{_G_SUFFIX} file)"
        )
    e = g.with_name(g.name[: -len(_G_SUFFIX)] + "_net_E.pth")
    opt = g.parent / OPT_FILE
    return g, (e if e.is_file() else None), (opt if opt.is_file() else None)


def read_opt_txt(path: str | Path) -> dict[str, str]:
    """``opt.txt`` -> ``{name: value text}`` (the ``[default: …]`` notes and the banner lines dropped).

    A bounded read (at most ``limit("pickle_objects")`` bytes); a line that is not ``name: value`` is skipped.
    """
    path = Path(path)
    size = check_regular_file(path, "opt.txt")
    cap = limit("pickle_objects")
    if size > cap:
        raise LimitError(f"{path} is {size} bytes, above the limit of {cap} (pickle_objects); raise it with REGIONGAN_MAX_PICKLE_OBJECTS={size}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptCheckpointError(f"{path}: not a text file ({first_line(e)})") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.fullmatch(line)
        if m and not line.lstrip().startswith("-"):
            out[m.group(1)] = m.group(2)
    return out


def _typed(name: str, value: Any, source: str) -> Any:
    kind = _FIELDS[name]
    if not isinstance(value, str):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = isinstance(value, bool) if kind is bool else (number if kind is float else isinstance(value, kind))
        if not ok or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"{source}: option {name} must be {kind.__name__}, got {short_repr(value)}")
        return value
    try:
        if kind is bool:
            if value not in ("True", "False"):
                raise ValueError(value)
            return value == "True"
        return kind(value)
    except ValueError:
        raise CheckpointError(f"{source}: option {name} must be {kind.__name__}, got {value!r}") from None


def config_from_opt(opt: Mapping[str, Any], source: str, has_encoder: bool = False) -> dict[str, Any]:
    """NVlabs options (opt.txt text values or typed values) -> ``SPADEModel`` constructor arguments,
    validated and budget-checked (nothing built)."""
    missing = [k for k in _FIELDS if k not in opt]
    if missing:
        raise CheckpointError(f"{source}: the options lack {missing}; is this a SPADE opt.txt?")
    o = {k: _typed(k, opt[k], source) for k in _FIELDS}
    semantic_nc = o["label_nc"] + int(o["contain_dontcare_label"]) + int(not o["no_instance"])
    given = opt.get("semantic_nc")
    if given is not None and str(given) != str(semantic_nc):
        raise CheckpointError(
            f"{source}: semantic_nc is {short_repr(given)} but label_nc + contain_dontcare_label + instance edge = {semantic_nc}"
        )
    if has_encoder and not o["use_vae"]:
        raise CheckpointError(f"{source}: there is an encoder (*_net_E.pth) but the options say use_vae False")
    config = dict(
        label_nc=semantic_nc, ngf=o["ngf"], num_upsampling_layers=o["num_upsampling_layers"], crop_size=o["crop_size"],
        aspect_ratio=o["aspect_ratio"], use_vae=o["use_vae"], z_dim=o["z_dim"], norm_G=o["norm_G"],
        norm_E=o["norm_E"], encoder_ndf=o["ngf"], encoder_size=256, with_encoder=has_encoder,
        instance_edge=not o["no_instance"],
    )  # fmt: skip
    if has_encoder and o["z_dim"] != 256:
        raise CheckpointError(f"{source}: NVlabs' encoder always makes 256-d codes, but z_dim is {o['z_dim']}")
    try:
        check_config("spade", config)
    except LimitError as e:
        raise LimitError(f"{source}: {e}") from None
    except ValueError as e:
        raise CheckpointError(f"{source}: {first_line(e)}") from None
    return config


def _fill_spectral_v(state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Add ``<name>.weight_v`` where a spectral-norm weight has ``weight_orig`` and ``weight_u`` but no v."""
    for key in [k for k in state if k.endswith(".weight_orig")]:
        base = key[: -len("_orig")]
        u = state.get(base + "_u")
        if base + "_v" in state or u is None:
            continue
        mat = state[key].float().flatten(1)
        u = u.float()
        if u.shape != (mat.shape[0],):
            raise CheckpointError(f"{source}: {base}_u has shape {tuple(u.shape)}, expected ({mat.shape[0]},)")
        old = state.pop(base, None)  # the normalised weight, stored by torch < 1.0
        if old is not None and old.shape == state[key].shape:
            # torch's upgrade: v solving W v ∝ u, rescaled so that u·Wv is the σ the stored weight was made with
            sigma = (state[key].float() / old.float()).mean()
            v = torch.linalg.pinv(mat.t() @ mat) @ mat.t() @ u
            v = v * (sigma / torch.dot(u, mat @ v))
        else:
            v = F.normalize(mat.t() @ u, dim=0, eps=1e-12)
        state[base + "_v"] = v.to(state[key].dtype)
    return state


def convert_spade_state(
    state_G: Any, state_E: Any, config: Mapping[str, Any], source: str
) -> dict[str, torch.Tensor]:
    """NVlabs state dicts -> ours: checked to be flat tensor dicts, a ``module.`` prefix (DataParallel)
    dropped, missing ``weight_v`` computed, the encoder under ``encoder.``; the semantic channel count
    checked against the config (the strict comparison follows when the model is built)."""
    out: dict[str, torch.Tensor] = {}
    for prefix, state, what in (("", state_G, "generator"), ("encoder.", state_E, "encoder")):
        if state is None:
            continue
        state = dict(check_state_tensors(state, source, f"{what} state dict"))
        if state and all(k.startswith("module.") for k in state):
            state = {k[len("module.") :]: v for k, v in state.items()}
        out.update({prefix + k: v for k, v in _fill_spectral_v(state, source).items()})
    if not looks_like_spade_state(out):
        raise CheckpointError(f"{source}: not an NVlabs SPADE generator state dict (no head_0.* / conv_img.weight)")
    shared = out.get("head_0.norm_0.mlp_shared.0.weight")
    if shared is not None and shared.ndim == 4 and shared.shape[1] != config["label_nc"]:
        raise CheckpointError(
            f"{source}: the weights take {shared.shape[1]} semantic channels but the options give "
            f"{config['label_nc']} (label_nc + contain_dontcare_label + instance edge); wrong opt.txt or preset?"
        )
    fc = out.get("fc.weight")
    if fc is not None and (fc.ndim == 2) != bool(config["use_vae"]):
        kind = "a VAE (linear fc)" if fc.ndim == 2 else "no VAE (conv fc)"
        raise CheckpointError(f"{source}: the weights are of a generator with {kind} but the options say use_vae {config['use_vae']}")
    return out


def load_nvlabs_spade(
    path: str | Path, opt_txt: str | Path | None = None, preset: str | None = None
) -> SPADEModel:
    """Load an NVlabs SPADE checkpoint -> :class:`SPADEModel` (float32, CPU, eval mode).

    path: the checkpoint directory (``latest_net_G.pth``, optional ``latest_net_E.pth``) or a
        ``*_net_G.pth`` file. opt_txt: the options file (default: ``opt.txt`` beside the weights).
    preset: ``"coco"``, ``"ade20k"`` or ``"cityscapes"`` (:data:`PRESETS`) for the released models, used
        when there is no opt.txt (with one, opt.txt's values win).
    """
    g, e, found_opt = spade_files(path)
    opt: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise CheckpointError(f"unknown SPADE preset {short_repr(preset)}; known: {sorted(PRESETS)}")
        opt.update(PRESETS[preset])
    opt_path = Path(opt_txt) if opt_txt is not None else found_opt
    if opt_path is not None:
        opt.update(read_opt_txt(opt_path))
    elif preset is None:
        raise CheckpointError(
            f"{g}: no {OPT_FILE} beside it; give opt_txt= or preset= one of {sorted(PRESETS)} (regiongan never reads opt.pkl)"
        )
    source = str(opt_path) if opt_path is not None else f"preset {preset!r}"
    config = config_from_opt(opt, source, has_encoder=e is not None)
    state = convert_spade_state(torch_load(g), torch_load(e) if e is not None else None, config, str(g))
    model = model_from_state("spade", config, state, str(g))
    return model.eval().requires_grad_(False)  # type: ignore[return-value]


def is_spade_dump(obj: Any) -> bool:
    """A ``{'opt', 'state_dict_G'[, 'state_dict_E']}`` dict: NVlabs options (a JSON text or dict) with the
    state dicts, the layout of the conformance fixtures."""
    return isinstance(obj, Mapping) and "opt" in obj and "state_dict_G" in obj


def load_spade_dump(obj: Mapping[str, Any], source: str) -> SPADEModel:
    """A :func:`is_spade_dump` dict -> :class:`SPADEModel` (float32, CPU, eval mode)."""
    opt = obj["opt"]
    if isinstance(opt, str):
        cap = limit("pickle_objects")
        if len(opt) > cap:
            raise LimitError(f"{source}: opt is a JSON text of {len(opt)} characters, above the limit of {cap} (pickle_objects)")
        try:
            opt = json.loads(opt)
        except (RecursionError, ValueError) as e:
            raise CheckpointError(f"{source}: opt is not valid JSON ({first_line(e)})") from None
    if not isinstance(opt, dict):
        raise CheckpointError(f"{source}: opt must be a dict of NVlabs options or its JSON text, got {type(opt).__name__}")
    state_E = obj.get("state_dict_E")
    config = config_from_opt(opt, source, has_encoder=state_E is not None)
    state = convert_spade_state(obj["state_dict_G"], state_E, config, source)
    return model_from_state("spade", config, state, source).eval().requires_grad_(False)  # type: ignore[return-value]
