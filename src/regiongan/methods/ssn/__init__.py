"""SSN block resampling — Spatially Stochastic Networks (NeurIPS 2020); docs/ssn.md.

:mod:`.blocks` holds the core (one image's latent grid with chosen blocks taken from donor seeds),
:mod:`.operations` the registered operation ``ssn.resample_blocks`` built on it. The generator family is
:mod:`regiongan.generators.ssn`, the block geometry :mod:`regiongan.ops.blocks`.
"""

from .blocks import (
    BlockResampleOutput,
    block_partition,
    code_grid,
    donor_grids,
    latent_grid_size,
    region_blocks,
    resample_block_grid,
)
from .operations import resample_blocks

__all__ = [
    "BlockResampleOutput", "block_partition", "code_grid", "donor_grids", "latent_grid_size", "region_blocks",
    "resample_block_grid", "resample_blocks",
]  # fmt: skip
