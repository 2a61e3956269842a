"""Latent-block geometry: image blocks, region -> blocks, block index validation, block resampling."""

from __future__ import annotations

import pytest
import torch

from regiongan.ops.blocks import (
    block_index, block_masks, blocks_for_region, check_blocks, check_grid, mix_block, resample_blocks,
)  # fmt: skip


def test_block_masks_partition_the_image_in_row_major_order():
    m = block_masks(4, 16, 16)
    assert m.shape == (16, 16, 16)
    assert torch.equal(m.sum(dim=0), torch.ones(16, 16))
    expected = torch.zeros(16, 16)
    expected[4:8, 8:12] = 1.0  # block (1, 2): rows 4..7, columns 8..11
    assert torch.equal(m[1 * 4 + 2], expected)
    uneven = block_masks(3, 10, 7)  # not a multiple: still a partition, blocks differ by at most a row
    assert torch.equal(uneven.sum(dim=0), torch.ones(10, 7))
    assert sorted({int(v) for v in uneven.sum(dim=(1, 2))}) == [6, 8, 9, 12]


def test_blocks_for_region_returns_the_blocks_a_region_touches():
    mask = torch.zeros(16, 16)
    mask[2:6, 5:7] = 1.0  # rows 2..5 (block rows 0, 1), columns 5..6 (block column 1)
    assert blocks_for_region(mask, 4) == [(0, 1), (1, 1)]
    assert blocks_for_region(mask[None, None].expand(2, 1, -1, -1), 4) == [(0, 1), (1, 1)]
    # coverage: block (0, 1) holds 2x2 of its 16 pixels (0.25), block (1, 1) too
    assert blocks_for_region(mask, 4, min_coverage=0.25) == []
    mask[4:8, 4:8] = 1.0
    assert blocks_for_region(mask, 4, min_coverage=0.5) == [(1, 1)]
    assert blocks_for_region(torch.zeros(1, 16, 16), 4) == []


@pytest.mark.parametrize(
    "mask, kwargs, message",
    [
        (torch.zeros(2, 2, 8, 8), {}, r"a region mask must be \[H, W\], \[1, H, W\] or \[N, 1, H, W\], got \(2, 2, 8, 8\)"),
        (torch.zeros(8, 8), dict(min_coverage=1.0), r"min_coverage must be a number in \[0, 1\), got 1.0"),
        (torch.zeros(2, 2), {}, r"a 2x2 mask is smaller than the 4x4 block grid"),
        (torch.full((8, 8), float("nan")), {}, "NaN"),
    ],
)
def test_bad_region_masks_are_one_line_errors(mask, kwargs, message):
    with pytest.raises(ValueError, match=message):
        blocks_for_region(mask, 4, **kwargs)


def test_block_indices_outside_the_grid_are_one_line_errors():
    assert check_blocks([(0, 0), [3, 1]], 4) == [(0, 0), (3, 1)]
    assert block_index((2, 3), 4) == 11
    with pytest.raises(ValueError, match=r"block \(4, 0\) is outside the 4x4 latent grid \(rows and columns 0..3\)"):
        check_blocks([(4, 0)], 4)
    with pytest.raises(ValueError, match=r"block \(0, -1\) is outside"):
        check_blocks([(0, -1)], 4)
    with pytest.raises(ValueError, match=r"a block must be a \(row, column\) pair of ints, got \(1.0, 2\)"):
        check_blocks([(1.0, 2)], 4)
    with pytest.raises(ValueError, match="non-empty list"):
        check_blocks([], 4)
    with pytest.raises(ValueError, match=r"block index 16 is outside the 4x4 grid \(0..15\)"):
        mix_block(torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4), 16)
    with pytest.raises(ValueError, match=r"block indices must be in 0..15 for a 4x4 grid, got \[0, 16\]"):
        mix_block(torch.zeros(2, 2, 4, 4), torch.ones(2, 2, 4, 4), torch.tensor([0, 16]))


def test_a_grid_of_the_wrong_shape_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"z must be a latent grid \[N, 8, 4, 4\], got \(1, 8, 4, 2\)"):
        check_grid(torch.zeros(1, 8, 4, 2), 4, 8)
    with pytest.raises(ValueError, match=r"z must be a square latent grid \[N, C, n, n\], got \(3, 16\)"):
        resample_blocks(torch.zeros(3, 16), [(0, 0)], torch.zeros(3, 16))
    with pytest.raises(ValueError, match=r"z_new must be a latent grid \[N, 2, 4, 4\], got \(1, 3, 4, 4\)"):
        resample_blocks(torch.zeros(1, 2, 4, 4), [(0, 0)], torch.zeros(1, 3, 4, 4))


def test_resampling_takes_exactly_the_listed_blocks():
    g = torch.Generator().manual_seed(0)
    z, z_new = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    out = resample_blocks(z, [(0, 1), (3, 3)], z_new)
    taken = torch.zeros(4, 4, dtype=torch.bool)
    taken[0, 1] = taken[3, 3] = True
    assert torch.equal(out[:, :, taken], z_new[:, :, taken]) and torch.equal(out[:, :, ~taken], z[:, :, ~taken])
    every = [(i, j) for i in range(4) for j in range(4)]
    assert torch.equal(resample_blocks(z, every, z_new), z_new)  # resampling every block: a new sample
    assert torch.equal(mix_block(z, z_new, (0, 1)), resample_blocks(z, [(0, 1)], z_new))
    assert torch.equal(mix_block(z, z_new, 1), mix_block(z, z_new, (0, 1)))


def test_mix_block_takes_one_block_per_sample():
    z, z_new = torch.zeros(3, 2, 2, 2), torch.ones(3, 2, 2, 2)
    out = mix_block(z, z_new, torch.tensor([0, 3, 1]))
    assert out.sum(dim=1).flatten(1).tolist() == [[2, 0, 0, 0], [0, 0, 0, 2], [0, 2, 0, 0]]
