"""Latent codes: seeds -> z, the latent spaces (z, w, w+), truncation, and codes -> ws.

One vocabulary for every method (docs/vocabulary.md):

* a **seed** names a z exactly as NVlabs' ``generate.py`` does (``RandomState(seed).randn(z_dim)``), so
  seed 42 is the same image here and in the official tools;
* a **code** is what a method edits: an int seed, a list of seeds, or a tensor in ``space`` —
  ``"z"`` ``[N, z_dim]``, ``"w"`` ``[N, w_dim]`` or ``"w+"`` ``[N, num_ws, w_dim]``;
* **truncation_psi** pulls every code towards the model's mean ``w̄``: ``w̄ + ψ (w − w̄)`` (for z codes
  through the mapping, exactly as plain generation).

*Directions* (ReSeFa) live in a latent space too: z, w, w+, or a space a model family declares beyond them
(:class:`LatentSpace`, :data:`DIRECTION_SPACES`; e.g. ``"class"``, BigGAN's class embedding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence, Union

import numpy as np
import torch

from .limits import check_count
from .validate import MAX_SEED, finite, integer

__all__ = [
    "Space",
    "SPACES",
    "DIRECTION_SPACES",
    "CLASS_SPACE",
    "LatentSpace",
    "Code",
    "MAX_SEED",
    "MAX_PSI",
    "MAX_CODE",
    "parse_seeds",
    "z_from_seeds",
    "check_truncation_psi",
    "check_truncation_cutoff",
    "code_tensor",
    "code_record",
    "codes_to_ws",
    "check_code",
    "class_vector",
    "class_index",
    "check_latent_model",
]

Space = Literal["z", "w", "w+"]
#: The spaces a code tensor can be given in (every model has them: z through the mapping, w, w+).
SPACES: tuple[str, ...] = ("z", "w", "w+")
#: The word for a class-conditional model's class-embedding space (docs/vocabulary.md).
CLASS_SPACE = "class"
#: Every word a *direction*'s space may be (docs/vocabulary.md): the code spaces, which are generic, and the
#: spaces a family may declare with ``G.latent_spaces()`` (:func:`regiongan.generators.base.latent_spaces`).
#: A family that needs a new kind of space adds its word here and to the vocabulary.
DIRECTION_SPACES: tuple[str, ...] = (*SPACES, CLASS_SPACE)
#: An int seed, a list of seeds, ``{"seed": s}`` / ``{"seeds": [...]}`` (the recipe forms) or a tensor.
Code = Union[int, Sequence[int], dict, torch.Tensor]
#: The largest truncation ψ. ψ = 100 puts a code 100× as far from w̄ as the model samples it; faces-64's
#: images are saturated there (their pixel std changes by under 4 % from ψ = 100 to ψ = 10⁸), so a larger ψ
#: shows nothing new, and from about 10³⁸ w overflows float32 and the images come out black.
MAX_PSI = 100.0
#: The largest |entry| of a code tensor. z is N(0, I) (|z_i| < 6 in practice) and a faces-64 w stays within
#: ±10 (±300 even at ψ = 100); 10⁴ leaves room for any inversion, while codes near 10³⁸ overflow float32 in
#: the mapping or the affine layers and give black images.
MAX_CODE = 1e4


@dataclass(frozen=True)
class LatentSpace:
    """A latent space a model family declares beyond z / w / w+ (``G.latent_spaces()``), described by how
    it sits inside ws — so directions can be found in it (the image as a function of its coordinates) and
    applied to any code (``ws + move(ws, t·n)``) by generic code.

    dim: ``d``, the size of a vector in the space. read: ``ws [N, num_ws, w_dim] -> [N, d]``, a code's
    coordinates in the space (BigGAN's ``"class"``: the class embedding ``e``). move: ``(ws [N|1, num_ws,
    w_dim], delta [N, d]) -> dws [N, num_ws, w_dim]``, how an offset ``delta`` of those coordinates moves ws;
    it must be linear in ``delta`` (it may depend on ws, e.g. on each row's truncation) and functional
    (no in-place writes: it runs under ``torch.func.jvp`` / ``vmap``). description: a few words for
    messages and summaries (``"the class embedding e = E·c"``).
    """

    dim: int
    read: Callable[[torch.Tensor], torch.Tensor]
    move: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    description: str

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"LatentSpace.dim must be an int >= 1, got {self.dim!r}")
        if not callable(self.read) or not callable(self.move):
            raise TypeError("LatentSpace.read and LatentSpace.move must be callables (see the LatentSpace docstring)")
        if not isinstance(self.description, str) or not self.description or "\n" in self.description:
            raise ValueError(f"LatentSpace.description must be one non-empty line, got {self.description!r}")


def _is_seed(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= int(v) <= MAX_SEED


def parse_seeds(spec: str) -> list[int]:
    """``"0-3,10,12-13"`` -> ``[0, 1, 2, 3, 10, 12, 13]`` (at most ``limits.limit("images")`` seeds)."""
    ranges: list[tuple[int, int]] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            a, b = (int(t) for t in part.split("-", 1)) if "-" in part else (int(part), int(part))
        except ValueError:
            a, b = 1, 0
        if b < a or a < 0 or b > MAX_SEED:
            raise ValueError(
                f"bad seed list {spec!r}: use seeds in 0..{MAX_SEED} and ranges like '0-15' or '1,5,9-12'"
            )
        ranges.append((a, b))
    if not ranges:
        raise ValueError(f"bad seed list {spec!r}: need at least one seed, e.g. '0-15' or '1,5,9-12'")
    check_count(sum(b - a + 1 for a, b in ranges), "images", f"the number of seeds in {spec!r}")
    return [s for a, b in ranges for s in range(a, b + 1)]


def z_from_seeds(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """Seeds -> ``z [N, z_dim]``, the same convention as NVlabs' generate.py (``RandomState(seed).randn``),
    so a seed names the same latent here and in the official tools."""
    check_count(len(seeds), "images", "the number of seeds")
    bad = [s for s in seeds if not _is_seed(s)]
    if bad:
        raise ValueError(f"seeds must be ints in 0..{MAX_SEED}, got {bad[:3]}")
    return torch.from_numpy(np.stack([np.random.RandomState(int(s)).randn(z_dim) for s in seeds])).float()


def check_truncation_psi(psi: Any, what: str = "truncation_psi") -> float:
    """ψ as a float, or a ValueError: it must be a finite number in ``(0, MAX_PSI]`` (the one rule for every
    ψ: a method's truncation, saliency's per-region ψ, a command's ``--truncation``)."""
    try:
        return finite(psi, what, 0, MAX_PSI, lo_open=True)
    except ValueError:
        raise ValueError(
            f"{what} must be a finite number > 0 and <= {MAX_PSI:g}, got {psi!r}: ψ = 1 keeps the code, ψ < 1 pulls "
            "it towards the average w̄ (blends in), ψ > 1 pushes it away (stands out)"
        ) from None


def check_truncation_cutoff(G, cutoff: Any) -> int | None:
    """A truncation cutoff (truncate only the first ``cutoff`` ws) as an int in ``0 .. G.num_ws``, or None
    (truncate every w)."""
    if cutoff is None:
        return None
    return integer(cutoff, "truncation_cutoff (the number of ws truncated)", 0, G.num_ws)


def code_tensor(G, value: Code, space: Space = "z", what: str = "code") -> torch.Tensor:
    """A code in any accepted form -> a tensor in ``space``: seeds give z ``[N, z_dim]`` (so they need
    ``space="z"``); tensors are returned as they are (checked by :func:`codes_to_ws`)."""
    if isinstance(value, torch.Tensor):
        return value
    seeds: list[int] | None = None
    if _is_seed(value):
        seeds = [int(value)]  # type: ignore[arg-type]
    elif isinstance(value, dict) and set(value) == {"seed"} and _is_seed(value["seed"]):
        seeds = [int(value["seed"])]
    elif isinstance(value, dict) and set(value) == {"seeds"} and isinstance(value["seeds"], list):
        seeds = value["seeds"] if value["seeds"] and all(map(_is_seed, value["seeds"])) else None
    elif isinstance(value, (list, tuple)) and value and all(map(_is_seed, value)):
        seeds = [int(v) for v in value]
    if seeds is None:
        raise ValueError(
            f"{what} must be a seed (int in 0..{MAX_SEED}), a list of seeds, or a tensor in space {space!r}, "
            f"got {value!r}"
        )
    if space != "z":
        raise ValueError(f"{what}: seeds name z codes; pass space='z' (the default) or give a {space} tensor")
    return z_from_seeds(seeds, G.z_dim)


def code_record(value: Code) -> Any:
    """How a recipe stores a code: ``{"seed": s}`` / ``{"seeds": [...]}`` for seeds, the tensor otherwise."""
    if isinstance(value, torch.Tensor):
        return value
    if _is_seed(value):
        return {"seed": int(value)}  # type: ignore[arg-type]
    if isinstance(value, (list, tuple)):
        return {"seeds": [int(v) for v in value]}
    return value


#: What codes (seeds, z, w, w+) need of a model: the latent half of the generator Protocol.
_LATENT_MEMBERS = ("map", "styles", "synthesize", "control_points", "num_ws", "w_dim", "z_dim")


def check_latent_model(G, what: str) -> None:
    """A one-line ValueError when ``G`` cannot be driven by latent codes (a label-map model such as SPADE,
    or not a model at all), naming ``what`` needed them and what to use instead."""
    missing = [m for m in _LATENT_MEMBERS if not hasattr(G, m)]
    if not missing:
        return
    kind = getattr(G, "model_type", type(G).__name__)
    hint = (
        "; it is a label-map model: use rg.synthesize / rg.repaint (regiongan synthesize / repaint)"
        if hasattr(G, "synthesize_labels") else f" (it lacks {', '.join(missing)})"
    )  # fmt: skip
    raise ValueError(f"{what} needs a latent generator (StyleGAN2, BigGAN-deep, SSN); this {kind} model has no latent codes{hint}")


def class_vector(G, c: int | str | torch.Tensor | None, n: int) -> torch.Tensor | None:
    """The class condition of ``n`` z codes: ``c [n, c_dim]`` on the model's device, or None for an
    unconditional model. ``c``: a class index or name (one-hot; names from the model's ``class_names``), or a
    tensor ``[n|1, c_dim]`` — one-hot or soft: entries ≥ 0 that sum to 1 per row (a mix of classes)."""
    c_dim = getattr(G, "c_dim", 0)
    if c_dim == 0:
        if c is not None:
            raise ValueError("this model is unconditional (no classes): leave the class (c) out")
        return None
    if c is None:
        raise ValueError(f"this model is class-conditional with {c_dim} classes: give a class c in 0..{c_dim - 1}")
    if isinstance(c, torch.Tensor):
        if c.ndim != 2 or c.shape[1] != c_dim or c.shape[0] not in (1, n):
            raise ValueError(f"c must be [{n} or 1, {c_dim}] (one row per code), got {tuple(c.shape)}")
        if not bool(torch.isfinite(c).all()):
            raise ValueError("c contains NaN or inf values")
        if bool((c < 0).any()):
            raise ValueError(f"a soft class vector must not have negative entries (min {float(c.min()):.3g}); use weights >= 0 that sum to 1")
        sums = c.double().sum(dim=1)
        if bool(((sums - 1).abs() > 1e-4).any()):
            bad = float(sums[(sums - 1).abs().argmax()])
            raise ValueError(f"each row of a soft class vector must sum to 1, got a row summing to {bad:.4g}; divide by its sum")
        return c.to(device=G.device, dtype=torch.float32).expand(n, -1)
    if isinstance(c, str):
        c = class_index(G, c)
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= int(c) < c_dim:
        raise ValueError(f"the class c must be an int in 0..{c_dim - 1} (or a class name) or a [N, {c_dim}] tensor, got {c!r}")
    return torch.nn.functional.one_hot(torch.full([n], int(c)), c_dim).float().to(G.device)


def class_index(G, name: str) -> int:
    """The index of class ``name`` (a name in ``G.class_names``, or an index written as digits)."""
    names = tuple(getattr(G, "class_names", ()) or ())
    if name in names:
        return names.index(name)
    if name.strip().isdigit():
        return int(name)
    if not names:
        raise ValueError(f"unknown class {name!r}: this model has no class names; give an index in 0..{G.c_dim - 1}")
    raise ValueError(f"unknown class {name!r}; this model's classes are {', '.join(names)} (or 0..{len(names) - 1})")


def codes_to_ws(
    G, code: torch.Tensor, space: Space = "z", c: int | torch.Tensor | None = None, truncation_psi: float = 1.0,
    what: str = "code",
) -> torch.Tensor:
    """One code -> ``ws [N, num_ws, w_dim]`` on the model's device.

    ``"z"``: ``[N, z_dim]`` through the mapping (with the class ``c``, see :func:`class_vector`, and the
    truncation, exactly as plain generation); ``"w"``: ``[N, w_dim]`` repeated over the layers; ``"w+"``: ``[N, num_ws, w_dim]``.
    For w / w+ a ``truncation_psi`` ≠ 1 applies ``G.truncate`` (``w̄ + ψ (w − w̄)``).
    """
    check_truncation_psi(truncation_psi, "truncation_psi")
    code = check_code(G, code, space, what).to(device=G.device, dtype=torch.float32)
    if space == "z":
        return G.map(code, class_vector(G, c, code.shape[0]), truncation_psi)
    ws = code.unsqueeze(1).repeat(1, G.num_ws, 1) if space == "w" else code
    return G.truncate(ws, truncation_psi) if truncation_psi != 1 else ws


def check_code(G, code: torch.Tensor, space: Space = "z", what: str = "code") -> torch.Tensor:
    """``code`` if it is a tensor of ``space``'s shape for ``G`` (see :func:`codes_to_ws`) holding finite
    values within ``±MAX_CODE``, else a ValueError (TypeError for a non-tensor)."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if not isinstance(code, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(code).__name__}")
    expected = {"z": f"[N, {G.z_dim}]", "w": f"[N, {G.w_dim}]", "w+": f"[N, {G.num_ws}, {G.w_dim}]"}[space]
    shape_ok = {
        "z": code.ndim == 2 and code.shape[1] == G.z_dim,
        "w": code.ndim == 2 and code.shape[1] == G.w_dim,
        "w+": code.ndim == 3 and tuple(code.shape[1:]) == (G.num_ws, G.w_dim),
    }[space]
    if not shape_ok:
        hint = " (one code: add a batch dimension, e.g. z[None])" if code.ndim == (1 if space != "w+" else 2) else ""
        raise ValueError(f"{what} in space {space!r} must be {expected}, got {tuple(code.shape)}{hint}")
    if not bool(torch.isfinite(code).all()):
        raise ValueError(f"{what} contains NaN or inf values")
    if code.numel() and float(code.abs().max()) > MAX_CODE:
        raise ValueError(
            f"{what} has entries up to {float(code.abs().max()):.3g}; codes must lie within ±{MAX_CODE:g} (z is N(0, I), "
            "w of a trained model within about ±10): was it scaled by mistake?"
        )
    return code
