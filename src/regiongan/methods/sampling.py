"""Plain generation: codes -> images, the "before" of every edit, as a registered operation."""

from __future__ import annotations

from typing import Literal

import torch

from ..generators.base import NoiseMode, Precision
from ..hardware import resolve_precision
from ..limits import check_count
from ..latents import (
    Code,
    Space,
    check_code,
    check_truncation_cutoff,
    check_truncation_psi,
    class_vector,
    code_tensor,
    codes_to_ws,
)
from ..registry import register_method
from ..results import Result
from ..validate import seed

#: The noise modes of plain generation.
NOISE_MODES = ("const", "random", "none")

__all__ = ["render", "generate", "MAX_BATCH"]

#: Images per synthesis call in :func:`render` (bounds memory for long seed lists).
MAX_BATCH = 16


def render(
    G,
    ws: torch.Tensor,
    noise_mode: NoiseMode = "const",
    generator: torch.Generator | None = None,
    precision: Precision = "fp32",
    batch: int = MAX_BATCH,
) -> torch.Tensor:
    """``ws [N, num_ws, w_dim]`` -> images ``[N, C, R, R]``, ``batch`` at a time, without gradients."""
    with torch.no_grad():
        return torch.cat([
            G.synthesize(G.styles(ws[i : i + batch]), noise_mode=noise_mode, generator=generator, precision=precision).image
            for i in range(0, ws.shape[0], batch)
        ])  # fmt: skip


@register_method("generate")
def generate(
    G,
    code: Code,
    space: Space = "z",
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    c: int | torch.Tensor | None = None,
    noise: Literal["const", "random", "none"] = "const",
    noise_seed: int = 0,
    precision: Precision = "fp32",
) -> Result:
    """Generate images from codes (seeds, or tensors in ``space``); ``c``: the class of a conditional model.

    ``noise="random"`` draws the noise from ``torch.Generator().manual_seed(noise_seed)``. Returns a
    :class:`Result` with ``images [N, C, R, R]`` and extras ``ws`` ``[N, num_ws, w_dim]``.
    """
    psi = check_truncation_psi(truncation_psi)
    cutoff = check_truncation_cutoff(G, truncation_cutoff)
    if cutoff is not None and space != "z":
        raise ValueError(
            "truncation_cutoff applies to z codes (seeds), which the mapping truncates; leave it out for w / w+ codes"
        )
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
    noise_seed = seed(noise_seed, "noise_seed")
    precision = resolve_precision(precision, G.device)  # "auto" -> what runs here; the recipe records that
    z = check_code(G, code_tensor(G, code, space), space)
    check_count(z.shape[0], "images", "the number of images")
    if space == "z" and cutoff is not None:
        ws = G.map(z.to(G.device, torch.float32), class_vector(G, c, z.shape[0]), psi, cutoff)
    else:
        ws = codes_to_ws(G, z, space, c, psi)
    gen = torch.Generator(device=ws.device).manual_seed(noise_seed) if noise == "random" else None
    images = render(G, ws, noise_mode=noise, generator=gen, precision=precision)
    return Result(images=images, extras={"ws": ws}, recorded={"precision": precision})
