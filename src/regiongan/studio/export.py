"""The studio's export: a PNG plus the recipe of the whole edit stack (:mod:`regiongan.methods.stack`),
which ``regiongan replay`` reproduces bit-for-bit."""

from __future__ import annotations

from pathlib import Path

import torch

from ..images import to_pil
from ..methods.stack import STACK_METHOD, composite, edit_mask, stack, stack_recipe
from ..recipes import Recipe, recipe_files

__all__ = ["STACK_METHOD", "stack", "edit_mask", "composite", "stack_recipe", "export_stack"]


def export_stack(recipe: Recipe, image: torch.Tensor, folder: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.png`` (``image [1, 3, R, R]`` at its own size) and ``<stem>.json`` (+ sidecar) into
    ``folder`` (an existing folder), never replacing a file -> ``(png, json)``.

    The PNG's pixels are exactly ``to_uint8`` of the image the recipe replays to.
    """
    from ..checkpoints.files import atomic_write, check_overwrite

    folder = Path(folder)
    png, js = folder / f"{stem}.png", folder / f"{stem}.json"
    recipe.outputs = [png.name]
    picture = to_pil(image[0])
    files = {png.name: lambda path: picture.save(path, format="PNG"), **recipe_files(recipe, js)}  # the JSON last
    check_overwrite([folder / name for name in files], False)
    atomic_write(folder, files)
    return png, js
