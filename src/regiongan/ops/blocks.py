"""Latent-block geometry of a spatial latent grid (SSN, docs/ssn.md).

A spatial latent ``z [N, C, n, n]`` has ``n × n`` blocks; block ``(i, j)`` (row ``i``, column ``j``, flat
index ``a = i·n + j``) drives the image block of rows ``[i·H/n, (i+1)·H/n)`` and columns ``[j·W/n, (j+1)·W/n)``.
When ``H`` is not a multiple of ``n`` a pixel belongs to the block its centre falls in (``⌊row·n/H⌋``), so the
image blocks always partition the image. Everything here is a pure function of tensors and indices.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = [
    "Block", "block_masks", "check_blocks", "check_grid", "blocks_for_region", "resample_blocks", "mix_block",
    "block_index",
]  # fmt: skip

#: A latent block: ``(row, column)`` in the ``n × n`` grid.
Block = tuple[int, int]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_n(n: object) -> int:
    if not _is_int(n) or n < 1:  # type: ignore[operator]
        raise ValueError(f"the block grid size n must be an int >= 1, got {n!r}")
    return n  # type: ignore[return-value]


def check_blocks(blocks: Sequence[Block], n: int) -> list[Block]:
    """``blocks`` as a list of ``(i, j)`` int pairs inside the ``n × n`` grid, else a one-line ValueError."""
    n = _check_n(n)
    if isinstance(blocks, (str, bytes, torch.Tensor)) or not isinstance(blocks, Sequence) or not blocks:
        raise ValueError(f"blocks must be a non-empty list of (row, column) pairs in the {n}x{n} grid, got {blocks!r}")
    out: list[Block] = []
    for b in blocks:
        if not isinstance(b, (tuple, list)) or len(b) != 2 or not all(_is_int(v) for v in b):
            raise ValueError(f"a block must be a (row, column) pair of ints, got {b!r}")
        i, j = int(b[0]), int(b[1])
        if not (0 <= i < n and 0 <= j < n):
            raise ValueError(f"block {(i, j)} is outside the {n}x{n} latent grid (rows and columns 0..{n - 1})")
        out.append((i, j))
    return out


def block_index(block: Block, n: int) -> int:
    """Flat index ``i·n + j`` of block ``(i, j)`` (checked)."""
    i, j = check_blocks([block], n)[0]
    return i * n + j


def check_grid(z: torch.Tensor, n: int, channels: int | None = None, what: str = "z") -> torch.Tensor:
    """``z`` if it is a latent grid ``[N, C, n, n]`` (with ``C == channels`` when given), else a one-line
    ValueError naming the expected and the given shape."""
    n = _check_n(n)
    want = f"[N, {channels if channels is not None else 'C'}, {n}, {n}]"
    if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[2:] != (n, n) or (
        channels is not None and z.shape[1] != channels
    ):
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{what} must be a latent grid {want}, got {got}")
    return z


def block_masks(n: int, height: int, width: int) -> torch.Tensor:
    """The image blocks as hard masks ``[n·n, height, width]`` (float32, a partition: they sum to one);
    mask ``a = i·n + j`` is image block ``(i, j)``."""
    n = _check_n(n)
    if not (_is_int(height) and _is_int(width)) or height < 1 or width < 1:
        raise ValueError(f"block_masks: height and width must be ints >= 1, got {height!r}x{width!r}")
    rows = (torch.arange(height) * n) // height  # [H] block row of each pixel row
    cols = (torch.arange(width) * n) // width  # [W]
    flat = rows[:, None] * n + cols[None, :]  # [H, W]
    return (flat[None] == torch.arange(n * n)[:, None, None]).to(torch.float32)


def blocks_for_region(mask: torch.Tensor, n: int, min_coverage: float = 0.0) -> list[Block]:
    """The latent blocks a region overlaps, in row-major order.

    mask: a soft mask ``[H, W]``, ``[1, H, W]`` or ``[N, 1, H, W]`` in [0, 1] (the union over N is taken).
    A block is selected when the mean of the mask over its image block exceeds ``min_coverage`` (in
    ``[0, 1)``; 0 selects every block the region touches at all).
    """
    n = _check_n(n)
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4) or (mask.ndim > 2 and mask.shape[-3] != 1):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"a region mask must be [H, W], [1, H, W] or [N, 1, H, W], got {got}")
    if isinstance(min_coverage, bool) or not isinstance(min_coverage, (int, float)) or not 0 <= min_coverage < 1:
        raise ValueError(f"min_coverage must be a number in [0, 1), got {min_coverage!r}")
    m = mask.detach().to(torch.float32).reshape(-1, *mask.shape[-2:]).amax(dim=0)  # [H, W], union over N
    if not bool(torch.isfinite(m).all()):
        raise ValueError("the region mask has NaN or infinite values")
    h, w = m.shape
    if h < n or w < n:
        raise ValueError(f"a {h}x{w} mask is smaller than the {n}x{n} block grid; give it at the image size")
    bm = block_masks(n, h, w).to(m.device)  # [n², H, W]
    coverage = (bm * m).sum(dim=(1, 2)) / bm.sum(dim=(1, 2))  # [n²]
    return [(a // n, a % n) for a in range(n * n) if float(coverage[a]) > min_coverage]


def _grid_size(z: object) -> int:
    """``n`` of a square latent grid ``[N, C, n, n]``, else a one-line ValueError."""
    if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[2] != z.shape[3] or z.shape[2] < 1:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be a square latent grid [N, C, n, n], got {got}")
    return int(z.shape[2])


def _block_selector(a: torch.Tensor | int | Block | Sequence[Block], n: int, batch: int, device) -> torch.Tensor:
    """Which blocks to take from the other code, as a bool map ``[N|1, 1, n, n]``."""
    if isinstance(a, torch.Tensor):
        if a.ndim != 1 or a.shape[0] != batch or a.dtype in (torch.bool,) or a.is_floating_point():
            raise ValueError(f"a per-sample block index must be an int tensor [N={batch}], got {a.dtype} {tuple(a.shape)}")
        if bool(((a < 0) | (a >= n * n)).any()):
            raise ValueError(f"block indices must be in 0..{n * n - 1} for a {n}x{n} grid, got {a.tolist()}")
        flat = torch.arange(n * n, device=device)[None] == a.to(device)[:, None]  # [N, n²]
        return flat.reshape(batch, 1, n, n)
    if _is_int(a):
        if not 0 <= a < n * n:  # type: ignore[operator]
            raise ValueError(f"block index {a} is outside the {n}x{n} grid (0..{n * n - 1})")
        blocks = [(a // n, a % n)]  # type: ignore[operator]
    elif isinstance(a, tuple) and len(a) == 2 and all(_is_int(v) for v in a):
        blocks = check_blocks([a], n)  # type: ignore[list-item]
    else:
        blocks = check_blocks(a, n)  # type: ignore[arg-type]
    sel = torch.zeros(1, 1, n, n, dtype=torch.bool, device=device)
    for i, j in blocks:
        sel[0, 0, i, j] = True
    return sel


def resample_blocks(z: torch.Tensor, blocks: Sequence[Block], z_new: torch.Tensor) -> torch.Tensor:
    """``z [N, C, n, n]`` with the listed blocks taken from ``z_new [N|1, C, n, n]``, every other block kept.

    Resampling every block gives ``z_new``: an independent sample (the block-resampling of the SSN paper).
    """
    n = _grid_size(z)
    check_grid(z_new, n, z.shape[1], what="z_new")
    if z_new.shape[0] not in (1, z.shape[0]):
        raise ValueError(f"z_new has batch {z_new.shape[0]}, z has {z.shape[0]}; give the same batch or 1")
    sel = _block_selector(list(blocks), n, z.shape[0], z.device)
    return torch.where(sel, z_new.to(z.dtype), z)


def mix_block(z: torch.Tensor, z_prime: torch.Tensor, a: torch.Tensor | int | Block) -> torch.Tensor:
    """``z̃^a``: ``z [N, C, n, n]`` with block ``a`` taken from ``z_prime [N|1, C, n, n]`` (paper Eq. 2, the
    resampling of one block the low-distortion regulariser penalises).

    a: a flat index ``i·n + j``, a ``(i, j)`` pair, or an int tensor ``[N]`` (one block per sample).
    """
    n = _grid_size(z)
    check_grid(z_prime, n, z.shape[1], what="z_prime")
    if z_prime.shape[0] not in (1, z.shape[0]):
        raise ValueError(f"z_prime has batch {z_prime.shape[0]}, z has {z.shape[0]}; give the same batch or 1")
    sel = _block_selector(a, n, z.shape[0], z.device)
    return torch.where(sel, z_prime.to(z.dtype), z)
