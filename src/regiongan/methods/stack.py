"""Edit stacks: accepted edits applied in order, as one operation that replays bit-for-bit.

Recipes do not chain: every registered operation starts from codes (seeds or z / w / w+ tensors), and an
accepted ITAN or Editing-in-Style edit is a spatially blended style, not a code another operation could
start from. So a stack is a list of recipes applied in order, and its image is built in image space:

    image_0 = base.images[choice_0]                                   (a ``generate`` call, or an imported recipe)
    image_k = image_{k-1} · (1 − mask_k) + step_k.images[choice_k] · mask_k

``mask_k [1, 1, R, R]`` is the region edit k changed (ITAN: its region; part transfer: the part's mask in
the edited image; a direction edit: the region its directions were found for), stored in the recipe, so the
replay needs neither the parser nor the brush. The whole stack is the registered operation ``stack.apply``
(its parameters: the base call and the steps, each a method, its parameters, the chosen output and the
mask), so ``rg.replay(path)`` and ``regiongan replay`` reproduce it with the recipe machinery every other
result uses. The studio (docs/studio.md) builds its undo/redo history and its exports on it.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ..limits import check_count
from ..recipes import Recipe, RecipeError
from ..registry import get_method, register_method
from ..results import Result

__all__ = ["STACK_METHOD", "stack", "edit_mask", "composite", "stack_recipe"]

#: The registered name of the stack operation (hidden from the studio's panels).
STACK_METHOD = "stack.apply"


def edit_mask(result: Result, choice: int, fallback: torch.Tensor | None = None) -> torch.Tensor:
    """The pixels an edit changed, ``[1, 1, R, R]`` float32 in [0, 1], for output ``choice`` of ``result``.

    ITAN operations: one minus the background of the partition they used (``extras["masks"] [N, K, R, R]``);
    Editing in Style: ``extras["part_mask"] [N, 1, R, R]``; otherwise ``fallback`` (the studio's current
    region), else the whole image.
    """
    n, _, h, w = result.images.shape
    masks = result.extras.get("masks")
    if isinstance(masks, torch.Tensor) and masks.ndim == 4 and masks.shape[-2:] == (h, w):
        m = 1.0 - masks[min(choice, masks.shape[0] - 1), 0]
    elif isinstance(result.extras.get("part_mask"), torch.Tensor):
        pm = result.extras["part_mask"]
        m = pm[min(choice, pm.shape[0] - 1), 0]
    elif fallback is not None:
        m = torch.nn.functional.interpolate(fallback.float().reshape(1, 1, *fallback.shape[-2:]), size=(h, w), mode="area")[0, 0]
    else:
        m = torch.ones(h, w)
    return m.detach().float().cpu().clamp(0, 1).reshape(1, 1, h, w).contiguous()


def composite(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``before · (1 − mask) + after · mask``: images ``[1, 3, R, R]``, mask ``[1, 1, R, R]``."""
    if before.shape != after.shape or mask.shape[-2:] != before.shape[-2:]:
        raise ValueError(f"composite needs equal image sizes and a mask of that size, got {tuple(before.shape)}, "
                         f"{tuple(after.shape)} and mask {tuple(mask.shape)}")  # fmt: skip
    return before * (1 - mask) + after * mask


def _run_call(G, call: Any, where: str) -> tuple[Result, int]:
    if not isinstance(call, dict) or not isinstance(call.get("method"), str) or not isinstance(call.get("params"), dict):
        raise RecipeError(f"{where} must be {{'method': NAME, 'params': {{…}}, 'choice': I}}, got {call!r:.80}")
    unknown = sorted(set(call) - {"method", "params", "choice", "mask"})
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {unknown}; a step has method, params, choice and mask")
    if call["method"] == STACK_METHOD:
        raise RecipeError(f"{where}: a stack cannot hold another stack; import it and export again")
    Recipe(method=call["method"], model="", params=call["params"]).check()
    choice = call.get("choice", 0)
    if isinstance(choice, bool) or not isinstance(choice, int) or choice < 0:
        raise RecipeError(f"{where}: choice must be the index of an output image (int >= 0), got {choice!r}")
    with torch.no_grad():
        result = get_method(call["method"]).run(G, **call["params"])
    if choice >= len(result):
        raise RecipeError(f"{where}: choice {choice} but {call['method']} made {len(result)} image(s)")
    return result, choice


@register_method(STACK_METHOD, latent=False)
def stack(G, base: dict, steps: Sequence[dict] = ()) -> Result:
    """An edit stack: the ``base`` call's chosen image, then each step composited inside its mask.

    base: ``{"method", "params", "choice"}`` (any registered operation; the studio uses ``generate``);
    steps: ``[{"method", "params", "choice", "mask": [1, 1, R, R]}, …]`` in the order they were accepted.
    Returns ``images [1, 3, R, R]``; extras ``step_masks [S, 1, R, R]`` and ``seconds`` (per step).
    """
    if not isinstance(steps, (list, tuple)):
        raise RecipeError(f"steps must be a list of steps, got {type(steps).__name__}")
    check_count(len(steps) + 1, "images", "the number of edits in a stack")
    result, choice = _run_call(G, base, "base")
    image = result.images[choice : choice + 1]
    masks, seconds = [], [result.seconds]
    for i, step in enumerate(steps):
        out, choice = _run_call(G, step, f"steps[{i}]")
        mask = step.get("mask")
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (1, 1, *image.shape[-2:]):
            raise RecipeError(f"steps[{i}]: mask must be a tensor [1, 1, {image.shape[-2]}, {image.shape[-1]}]")
        image = composite(image, out.images[choice : choice + 1], mask.to(image))
        masks.append(mask)
        seconds.append(out.seconds)
    step_masks = torch.cat(masks) if masks else torch.zeros(0, 1, *image.shape[-2:])
    return Result(images=image, extras={"step_masks": step_masks, "seconds": seconds})


def stack_recipe(base: dict, steps: list[dict], model: str, fingerprint: str | None) -> Recipe:
    """The :class:`Recipe` of a stack (see :func:`stack`), validated."""
    recipe = Recipe(method=STACK_METHOD, model=model, params={"base": base, "steps": list(steps)}, model_fingerprint=fingerprint)
    recipe.check()
    return recipe
