"""Images of a trained generator for its sample grids and its model card: seeds and classes by convention.

Seed ``i`` draws ``z`` as ``regiongan generate --seeds i`` does; a class-conditional model renders it with
class ``i mod c_dim``, so a grid with ``c_dim`` columns has one class per column. ψ = 1, const noise.
"""

from __future__ import annotations

import torch

from ..latents import z_from_seeds

__all__ = ["seed_classes", "seed_images", "grid_columns", "random_images"]


def seed_classes(G, seeds: range | list[int]) -> torch.Tensor | None:
    """One-hot classes ``[len(seeds), c_dim]`` (class ``seed mod c_dim``), or None when unconditional."""
    if not G.c_dim:
        return None
    return torch.nn.functional.one_hot(torch.as_tensor(list(seeds)) % G.c_dim, G.c_dim).float()


def _render(G, z: torch.Tensor, c: torch.Tensor | None, batch: int) -> torch.Tensor:
    out = []
    for lo in range(0, len(z), batch):
        zc = z[lo : lo + batch].to(G.device)
        cc = None if c is None else c[lo : lo + batch].to(G.device)
        out.append(G.synthesize(G.styles(G.map(zc, cc)), noise_mode="const").image.cpu())
    return torch.cat(out)


@torch.no_grad()
def seed_images(G, count: int, batch: int = 16) -> torch.Tensor:
    """Seeds ``0 .. count-1`` -> images ``[count, C, R, R]`` (CPU)."""
    seeds = range(count)
    return _render(G, z_from_seeds(seeds, G.z_dim), seed_classes(G, seeds), batch)


def grid_columns(G, count: int) -> int:
    """Columns of a sample grid: one per class for a conditional model with 4–16 classes, else 8."""
    return G.c_dim if 4 <= G.c_dim <= 16 else min(8, count)


@torch.no_grad()
def random_images(G, n: int, generator: torch.Generator, batch: int = 16) -> torch.Tensor:
    """``n`` images from standard normal z and uniformly drawn classes (``generator`` draws both), CPU."""
    z = torch.randn(n, G.z_dim, generator=generator)
    c = None
    if G.c_dim:
        c = torch.nn.functional.one_hot(torch.randint(G.c_dim, [n], generator=generator), G.c_dim).float()
    return _render(G, z, c, batch)
