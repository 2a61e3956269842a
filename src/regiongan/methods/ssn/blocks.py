"""Block resampling on a spatial latent grid (SSN, docs/ssn.md "Block resampling"): the core.

An SSN's latent is a grid ``z [N, z_c, n, n]`` of independent blocks, each driving mostly its own image
block. Block resampling keeps every block of one image's z but the chosen ones, which it takes from the z
of another seed — one *donor* seed per variation — and renders the result:

    latent_grid_size(G)                       n, or a one-line error for a model without a latent grid
    code_grid(G, code)                        a seed / flat z [1, z_dim] / grid [1, z_c, n, n] -> grid [1, z_c, n, n]
    donor_grids(G, variation_seed, count)     the z grids of seeds variation_seed … variation_seed + count − 1
    region_blocks(G, mask, min_coverage)      a region mask -> the blocks it covers (ops.blocks.blocks_for_region)
    block_partition(G, blocks)                [1, 2, R, R]: (kept, resampled) image blocks
    resample_block_grid(G, z, blocks, donors) -> BlockResampleOutput (images, z grids, ws, masks)

Variation ``k``'s new blocks are exactly the blocks of seed ``variation_seed + k``'s z (the seed convention of
:func:`regiongan.latents.z_from_seeds`), so resampling every block of variation ``k`` gives that seed's image.
Only z changes: the mapping, truncation and the constant noise are those of plain generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ...latents import MAX_SEED, Code, check_code, code_tensor, z_from_seeds
from ...ops.blocks import Block, block_masks, blocks_for_region, check_blocks, resample_blocks
from ..sampling import render

__all__ = [
    "BlockResampleOutput",
    "latent_grid_size",
    "code_grid",
    "donor_grids",
    "region_blocks",
    "block_partition",
    "resample_block_grid",
]


@dataclass
class BlockResampleOutput:
    """images ``[V, 3, R, R]``; z: the variations' latent grids ``[V, z_c, n, n]``; ws ``[V, num_ws, w_dim]``;
    blocks: the resampled ``(row, column)`` blocks; masks ``[1, 2, R, R]``: the kept and the resampled image
    blocks (a partition, background first, as ITAN's ``masks``)."""

    images: torch.Tensor
    z: torch.Tensor
    ws: torch.Tensor
    blocks: list[Block]
    masks: torch.Tensor


def latent_grid_size(G) -> int:
    """The block grid size ``n`` of a model with a spatial latent grid (an SSN), else a one-line ValueError."""
    n = getattr(G, "block_grid", None)
    if isinstance(n, bool) or not isinstance(n, int) or not callable(getattr(G, "z_grid", None)):
        family = getattr(G, "model_type", type(G).__name__)
        raise ValueError(
            f"block resampling needs a model with a spatial latent grid (model type 'ssn'); "
            f"{getattr(G, 'model_name', None) or 'this model'} is a {family!r} model: use ITAN's local resample "
            "(regiongan.resample) instead"
        )
    return n


def code_grid(G, code: Code, what: str = "code") -> torch.Tensor:
    """One image's code -> its latent grid ``[1, z_c, n, n]`` (float32, on the model's device).

    code: a seed, a flat z ``[1, z_dim]`` (channel-major, as ``G.flat_z`` writes it) or a grid
    ``[1, z_c, n, n]``. A wrong shape, a batch other than 1, NaN or absurd values are one-line ValueErrors.
    """
    latent_grid_size(G)
    z = code_tensor(G, code, "z", what)
    try:
        grid = G.z_grid(z)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    if grid.shape[0] != 1:
        raise ValueError(f"{what}: block resampling varies one image, give batch 1, got {grid.shape[0]}")
    check_code(G, G.flat_z(grid), "z", what)  # finite and within ±MAX_CODE
    return grid.to(device=G.device, dtype=torch.float32)


def donor_grids(G, variation_seed: int, count: int) -> torch.Tensor:
    """The latent grids ``[count, z_c, n, n]`` of seeds ``variation_seed … variation_seed + count − 1``."""
    last = variation_seed + count - 1
    if last > MAX_SEED:
        raise ValueError(
            f"variation_seed {variation_seed} with {count} variations needs seeds up to {last}, past the largest "
            f"seed {MAX_SEED}; give variation_seed <= {MAX_SEED - count + 1}"
        )
    z = z_from_seeds(list(range(variation_seed, last + 1)), G.z_dim)  # [count, z_dim]
    return G.z_grid(z).to(device=G.device, dtype=torch.float32)


def region_blocks(G, mask: torch.Tensor, min_coverage: float = 0.0) -> list[Block]:
    """The blocks a region covers (mean mask over the image block > ``min_coverage``), row-major.

    mask: ``[1, 1, R, R]`` (or any form :func:`~regiongan.ops.blocks.blocks_for_region` takes) at the image
    size. A region that covers no block is a one-line ValueError.
    """
    n = latent_grid_size(G)
    blocks = blocks_for_region(mask, n, min_coverage)
    if not blocks:
        raise ValueError(
            f"the region covers no block of the {n}x{n} latent grid by more than min_coverage={min_coverage:g}; "
            "give a larger region or a lower min_coverage"
        )
    return blocks


def block_partition(G, blocks: Sequence[Block]) -> torch.Tensor:
    """``[1, 2, R, R]``: the image blocks kept (channel 0) and resampled (channel 1), a hard partition."""
    n = latent_grid_size(G)
    r = G.img_resolution
    masks = block_masks(n, r, r)  # [n², R, R]
    index = torch.tensor([i * n + j for i, j in check_blocks(list(blocks), n)])
    resampled = masks[index].sum(dim=0).clamp(max=1.0)  # [R, R]
    return torch.stack([1.0 - resampled, resampled])[None].to(G.device)


def resample_block_grid(
    G, z: torch.Tensor, blocks: Sequence[Block], donors: torch.Tensor, truncation_psi: float = 1.0
) -> BlockResampleOutput:
    """Resample ``blocks`` of one image's grid ``z [1, z_c, n, n]`` from each donor ``[V, z_c, n, n]``.

    Variation ``v`` is ``z`` with the listed blocks of ``donors[v]`` (every other block exactly ``z``'s),
    mapped with ``truncation_psi`` and rendered with the constant noise. Returns images ``[V, 3, R, R]``.
    """
    n = latent_grid_size(G)
    blocks = check_blocks(list(blocks), n)
    grids = resample_blocks(z.expand(donors.shape[0], -1, -1, -1), blocks, donors)  # [V, z_c, n, n]
    with torch.no_grad():
        ws = G.map(grids, None, truncation_psi)
        images = render(G, ws)
    return BlockResampleOutput(images=images, z=grids, ws=ws, blocks=blocks, masks=block_partition(G, blocks))
