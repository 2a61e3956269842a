"""SSN's registered operation: block resampling (docs/ssn.md "Block resampling").

    resample_blocks(G, code, region=…, variations=8)     the blocks a region covers, from new seeds
    resample_blocks(G, code, blocks=[(1, 2)], …)         or the blocks given by index

Returns a :class:`~regiongan.results.Result` whose recipe replays bit-for-bit. A ``region`` is any region
argument (:func:`regiongan.methods.inputs.resolve_region`, ``part:`` included, found on the image that is
varied); the recipe stores it as ITAN's operations do, and the blocks follow from it deterministically.
"""

from __future__ import annotations

from typing import Any, Sequence

from ...latents import Code, check_truncation_psi
from ...limits import check_count
from ...ops.blocks import Block
from ...registry import register_method
from ...results import Result
from ...validate import finite
from ...validate import seed as check_seed
from ..inputs import RegionLike, needs_images, resolve_region
from ..sampling import render
from .blocks import code_grid, donor_grids, latent_grid_size, region_blocks, resample_block_grid

__all__ = ["resample_blocks"]


@register_method("ssn.resample_blocks")
def resample_blocks(
    G,
    code: Code,
    region: RegionLike | None = None,
    blocks: Sequence[Block] | None = None,
    variations: int = 8,
    variation_seed: int = 0,
    min_coverage: float = 0.0,
    truncation_psi: float = 1.0,
    parser: Any = None,
) -> Result:
    """Block resampling (SSN): new z in the latent blocks a region covers (or given blocks), the rest kept.

    code: one image (a seed, a flat z ``[1, z_dim]`` or a grid ``[1, z_c, n, n]``). Give ``region`` (its
    blocks are those whose image block it covers by more than ``min_coverage``, 0: touches at all) or
    ``blocks`` (``[(row, column), …]`` in the ``n × n`` grid), not both. Variation ``k`` takes those blocks
    from the z of seed ``variation_seed + k``. Returns ``images [variations, 3, R, R]``; extras ``blocks``,
    ``masks [1, 2, R, R]`` (kept, resampled image blocks), ``z [variations, z_c, n, n]``, ``ws``,
    ``donor_seeds``, and ``region [1, 1, R, R]`` when a region was given.
    """
    n = latent_grid_size(G)
    variations = check_count(variations, "variations", "variations")
    variation_seed = check_seed(variation_seed, "variation_seed")
    min_coverage = finite(min_coverage, "min_coverage", 0.0, 1.0, hi_open=True)
    truncation_psi = check_truncation_psi(truncation_psi)
    if (region is None) == (blocks is None):
        raise ValueError(
            f"give either region (e.g. 'box:16,16,48,40') or blocks (e.g. [(1, 2)] in the {n}x{n} grid), "
            f"{'not both' if region is not None else 'got neither'}"
        )
    z = code_grid(G, code)
    extras: dict[str, Any] = {}
    recorded: dict[str, Any] = {}
    if region is not None:
        images = render(G, G.map(z, None, truncation_psi)) if needs_images(region) else None
        reg, record = resolve_region(G, region, images, parser)
        if reg.batch != 1:
            raise ValueError(f"region has batch {reg.batch}; block resampling varies one image, give one mask")
        blocks = region_blocks(G, reg.require_nonempty("region").mask, min_coverage)
        extras["region"] = reg.mask
        recorded = {"region": record, "parser": None}
    donors = donor_grids(G, variation_seed, variations)
    out = resample_block_grid(G, z, blocks, donors, truncation_psi)  # checks the blocks
    extras.update(
        blocks=out.blocks, masks=out.masks, z=out.z, ws=out.ws,
        donor_seeds=list(range(variation_seed, variation_seed + variations)),
    )  # fmt: skip
    return Result(images=out.images, extras=extras, recorded=recorded)
