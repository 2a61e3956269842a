"""The demo page: every method run on a shipped model, shown in one self-contained ``index.html``.

    regiongan demo --out demo/            # the CLI command calls run_demo
    run_demo("demo/")                     # -> demo/index.html, PNGs, recipes

Each operation runs through the public API (``import regiongan as rg``) and becomes one card on the page:
the images before (from ``rg.generate``), the region drawn on the image it is about, the images after, the
parameters its recipe records, its wall time, and a link to that recipe (``regiongan replay X.json``
reproduces the images). Everything is built in memory and written to a temporary sibling directory that
is swapped into place of ``out_dir`` at the end, so an interrupted demo never leaves a half-written page.

The choices (seeds, parts, strengths) are tuned for ``faces-64``; another model works when it has the same
companions: a part parser that knows the parts named here and an Editing in Style catalog.
"""

from __future__ import annotations

import html
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image

import regiongan as rg

from .checkpoints.files import Writer, atomic_write
from .hardware import describe_cpu
from .images import to_pil
from .previews import region_overlay
from .recipes import recipe_files, sidecar_path
from .results import Result

__all__ = ["run_demo", "DemoChoices", "FACES_DEMO", "HybridChoices", "SCENES_HYBRID", "INDEX_FILE", "DEMO_MARKER"]

INDEX_FILE = "index.html"
#: In every page the demo writes; ``overwrite=True`` replaces only a directory whose index.html has it.
DEMO_MARKER = '<meta name="generator" content="regiongan demo">'
#: Images on the page are the model's pixels enlarged this many times (nearest neighbour).
SCALE = 3

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoChoices:
    """What the demo runs: seeds, regions and settings of each operation (tuned on one model)."""

    resample_seed: int = 12
    resample_region: str = "part:mouth"
    variations: int = 4
    transfer_target: int = 1
    transfer_reference: int = 13
    transfer_region: str = "part:clothing"
    transfer_layers: str = "fine"
    saliency_seed: int = 7
    saliency_region: str = "part:hair"
    saliency_psi: float = 2.0
    saliency_background_psi: float = 0.5
    part_target: int = 1
    part_reference: int = 5
    part: str = "eyes"
    directions_region: str = "part:mouth"
    directions_seed: int = 12
    directions_samples: int = 4
    directions_k: int = 3
    directions_downsample: int = 32
    edit_strengths: tuple[float, ...] = (-3.0, -1.5, 0.0, 1.5, 3.0)

    @property
    def seeds(self) -> list[int]:
        """Every seed whose image appears as a "before", in first-use order."""
        used = [
            self.resample_seed, self.transfer_target, self.transfer_reference, self.saliency_seed,
            self.part_target, self.part_reference, self.directions_seed,
        ]  # fmt: skip
        return list(dict.fromkeys(used))


#: The demo of the shipped faces-64 model.
FACES_DEMO = DemoChoices()


@dataclass(frozen=True)
class HybridChoices:
    """The class-hybridization card, on a second, class-conditional shipped model (shown when it is shipped)."""

    model: str = "scenes-64"
    seed: int = 8
    base_class: str = "meadow"
    region: str = "rbox:0,0,0.5,1"
    region_class: str = "city"
    layers: str | None = None


SCENES_HYBRID = HybridChoices()


@dataclass
class Card:
    """One operation on the page.

    key: file-name prefix (``<key>.json``, ``<key>_00.png``, ``<key>_region.png``); call: the Python call,
    as text; before: ``(caption, file name)`` of images already on the page; mask: ``[H, W]`` region drawn on
    ``overlay_on`` (an image ``[3, H, W]``); after_captions: one per image of ``result.images``; timing: the
    wall time shown (``result.seconds``, plus any preparation); extra_files: more files to link,
    ``{name: (what it is, writer)}`` (e.g. the directions).
    """

    key: str
    title: str
    summary: str
    call: str
    region: str | None
    result: Result
    before: list[tuple[str, str]]
    mask: torch.Tensor | None
    overlay_on: torch.Tensor | None
    after_captions: list[str]
    timing: str
    extra_files: dict[str, tuple[str, Writer]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Output directory


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse (FileExistsError, one line) an ``out`` that is a file, or a non-empty directory without
    ``overwrite``, or — even with ``overwrite`` — a non-empty directory that is not an earlier demo page."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} is a file, not a directory; choose a new or empty directory for the demo")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (CLI: --overwrite) to replace it")
    index = out / INDEX_FILE
    if not (index.is_file() and DEMO_MARKER in index.read_text(encoding="utf-8", errors="replace")):
        raise FileExistsError(
            f"{out} is not empty and holds no earlier demo page, so overwrite=True would delete files that are not "
            "the demo's; choose a new or empty directory"
        )


# --------------------------------------------------------------------------------------------------
# The operations, one card each


def _image_name(key: str, i: int) -> str:
    return f"{key}_{i:02d}.png"


def _generate_card(G, choices: DemoChoices) -> Card:
    seeds = choices.seeds
    res = rg.generate(G, seeds)
    return Card(
        key="generate", title="Generate", summary="Plain images from seeds: the “before” of every card below.",
        call=f"rg.generate(G, {seeds})", region=None, result=res, before=[], mask=None, overlay_on=None,
        after_captions=[f"seed {s}" for s in seeds], timing=f"{res.seconds:.2f} s",
    )  # fmt: skip


def _itan_region(res: Result) -> torch.Tensor:
    """ITAN's partition is ``[background, region…]``: the region is everything but the background. ``[H, W]``"""
    return 1 - res.extras["masks"][0, 0]


def _resample_card(G, c: DemoChoices, before: dict[int, str], plain: dict[int, torch.Tensor]) -> Card:
    res = rg.resample(G, c.resample_seed, c.resample_region, variations=c.variations)
    return Card(
        key="resample", title="ITAN · local resample",
        summary="Keep the image outside the region, draw fresh codes inside it (one per variation).",
        call=f"rg.resample(G, {c.resample_seed}, {c.resample_region!r}, variations={c.variations})",
        region=c.resample_region, result=res, before=[(f"seed {c.resample_seed}", before[c.resample_seed])],
        mask=_itan_region(res), overlay_on=plain[c.resample_seed],
        after_captions=[f"variation {i}" for i in range(len(res))], timing=f"{res.seconds:.2f} s",
    )  # fmt: skip


def _transfer_card(G, c: DemoChoices, before: dict[int, str], plain: dict[int, torch.Tensor]) -> Card:
    t, r = c.transfer_target, c.transfer_reference
    res = rg.transfer(G, t, r, c.transfer_region, layers=c.transfer_layers)
    return Card(
        key="transfer", title="ITAN · region transfer",
        summary=f"The reference's {c.transfer_layers} layers inside the region, the target everywhere else.",
        call=f"rg.transfer(G, {t}, {r}, {c.transfer_region!r}, layers={c.transfer_layers!r})",
        region=c.transfer_region, result=res,
        before=[(f"target: seed {t}", before[t]), (f"reference: seed {r}", before[r])],
        mask=_itan_region(res), overlay_on=plain[t], after_captions=["transferred"], timing=f"{res.seconds:.2f} s",
    )  # fmt: skip


def _saliency_card(G, c: DemoChoices, before: dict[int, str], plain: dict[int, torch.Tensor]) -> Card:
    s = c.saliency_seed
    res = rg.saliency(G, s, c.saliency_region, psi=c.saliency_psi, background_psi=c.saliency_background_psi)
    return Card(
        key="saliency", title="ITAN · saliency",
        summary=(
            f"Per-region truncation w̄ + ψ (w − w̄): ψ = {c.saliency_psi:g} makes the region stand out, "
            f"ψ = {c.saliency_background_psi:g} lets the rest blend in."
        ),
        call=(
            f"rg.saliency(G, {s}, {c.saliency_region!r}, psi={c.saliency_psi:g}, "
            f"background_psi={c.saliency_background_psi:g})"
        ),
        region=c.saliency_region, result=res, before=[(f"seed {s}", before[s])], mask=_itan_region(res),
        overlay_on=plain[s], after_captions=["saliency"], timing=f"{res.seconds:.2f} s",
    )  # fmt: skip


def _catalog_part(G, wanted: str) -> str:
    """``wanted`` if the model's companion catalog names it, else the first part it names."""
    name = getattr(G, "companions", {}).get("catalog")
    parts = rg.load_catalog(name).parts() if name else []
    return wanted if wanted in parts or not parts else parts[0]


def _transfer_part_card(G, c: DemoChoices, before: dict[int, str], plain: dict[int, torch.Tensor]) -> Card:
    t, r = c.part_target, c.part_reference
    part = _catalog_part(G, c.part)
    res = rg.transfer_part(G, t, r, part=part, catalog=None)
    return Card(
        key="transfer_part", title="Editing in Style · part transfer",
        summary=(
            f"The reference's {part} through the style channels that control them (from the model's companion "
            "catalog): no mask at generation time; the region shown is where the part's clusters lie."
        ),
        call=f"rg.transfer_part(G, {t}, {r}, part={part!r})",
        region=f"catalog part {part!r} (clusters {res.extras['clusters']})", result=res,
        before=[(f"target: seed {t}", before[t]), (f"reference: seed {r}", before[r])],
        mask=res.extras["part_mask"][0, 0], overlay_on=plain[t],
        after_captions=["transferred"], timing=f"{res.seconds:.2f} s",
    )  # fmt: skip


def _edit_card(G, c: DemoChoices, before: dict[int, str], plain: dict[int, torch.Tensor]) -> Card:
    t0 = time.perf_counter()
    dirs = rg.find_directions(
        G, c.directions_region, samples=c.directions_samples, seed=c.directions_seed, k=c.directions_k,
        downsample=c.directions_downsample,
    )  # fmt: skip
    find_seconds = time.perf_counter() - t0
    strengths = list(c.edit_strengths)
    res = rg.edit(G, c.directions_seed, dirs, index=0, strengths=strengths)
    s = c.directions_seed
    find_call = (
        f"dirs = rg.find_directions(G, {c.directions_region!r}, samples={c.directions_samples}, seed={s}, "
        f"k={c.directions_k}, downsample={c.directions_downsample})"
    )
    directions_file = "edit_directions.safetensors"
    return Card(
        key="edit", title="ReSeFa · region directions",
        summary=(
            f"Latent directions that move the region and leave the rest alone, found from the Jacobian at "
            f"{c.directions_samples} samples; here the most local one, at several strengths."
        ),
        call=f"{find_call}\nrg.edit(G, {s}, dirs, index=0, strengths={strengths})", region=c.directions_region,
        result=res, before=[(f"seed {s}", before[s])], mask=dirs.region[0, 0], overlay_on=plain[s],
        after_captions=[f"strength {t:+g}" if t else "strength 0" for t in strengths],
        timing=f"find_directions {find_seconds:.2f} s + edit {res.seconds:.2f} s",
        extra_files={directions_file: ("directions (rg.load_directions)", lambda p: dirs.save(p))},
    )  # fmt: skip


def _hybridize_card(h: HybridChoices) -> Card:
    """ITAN class hybridization on ``h.model``: the base-class image, the region class's image, the hybrid."""
    G = rg.load_model(h.model)
    base = rg.generate(G, h.seed, c=h.base_class).images[0]
    other = rg.generate(G, h.seed, c=h.region_class).images[0]
    res = rg.hybridize(G, h.seed, h.region, [h.region_class], h.base_class, layers=h.layers)
    layers = f", layers={h.layers!r}" if h.layers else ""
    return Card(
        key="hybridize", title=f"ITAN · class hybridization ({h.model})",
        summary=(
            f"One z drawn as class {h.base_class!r}, with the region's gain and bias drawn as class "
            f"{h.region_class!r}: a {h.region_class} inside a {h.base_class} (BigGAN-deep, docs/biggan.md)."
        ),
        call=f"G = rg.load_model({h.model!r})\nrg.hybridize(G, {h.seed}, {h.region!r}, [{h.region_class!r}], {h.base_class!r}{layers})",
        region=h.region, result=res,
        before=[(f"seed {h.seed} as {h.base_class}", "hybridize_base.png"), (f"seed {h.seed} as {h.region_class}", "hybridize_other.png")],
        mask=_itan_region(res), overlay_on=base, after_captions=["hybrid"], timing=f"{res.seconds:.2f} s",
        extra_files={
            "hybridize_base.png": (f"{h.base_class} image", _png_writer(_enlarged(base))),
            "hybridize_other.png": (f"{h.region_class} image", _png_writer(_enlarged(other))),
        },
    )  # fmt: skip


#: The cards after "generate", in page order: (progress label, builder).
_CARDS: tuple[tuple[str, Callable[..., Card]], ...] = (
    ("ITAN resample", _resample_card),
    ("ITAN transfer", _transfer_card),
    ("ITAN saliency", _saliency_card),
    ("Editing in Style transfer_part", _transfer_part_card),
    ("ReSeFa find_directions + edit", _edit_card),
)


# --------------------------------------------------------------------------------------------------
# Files and the page


def _png_writer(image: Image.Image) -> Writer:
    return lambda path: image.save(path, format="PNG")


def _enlarged(image: torch.Tensor) -> Image.Image:
    """``[3, H, W]`` in [-1, 1] -> RGB PIL image ``SCALE`` times larger (nearest neighbour)."""
    pil = to_pil(image)
    return pil.resize((pil.width * SCALE, pil.height * SCALE), Image.NEAREST)


def _card_files(card: Card) -> dict[str, Writer]:
    """The files of one card: its after images, region overlay, recipe (+ sidecar) and extras."""
    outputs = [_image_name(card.key, i) for i in range(len(card.result))]
    files: dict[str, Writer] = {name: _png_writer(_enlarged(img)) for name, img in zip(outputs, card.result.images)}
    if card.mask is not None and card.overlay_on is not None:
        files[f"{card.key}_region.png"] = _png_writer(region_overlay(card.overlay_on, card.mask, scale=SCALE))
    recipe = card.result.recipe
    recipe.outputs = outputs
    files.update(recipe_files(recipe, Path(f"{card.key}.json")))
    files.update({name: writer for name, (_, writer) in card.extra_files.items()})
    return files


def _compact(value: Any, depth: int = 0) -> str:
    """A parameter value in a few characters: tensors as their shape, long lists and deep dicts elided."""
    if isinstance(value, torch.Tensor):
        return f"tensor {list(value.shape)}"
    if isinstance(value, rg.Region):
        return f"Region {list(value.mask.shape)}"
    if isinstance(value, rg.RegionSet):
        return f"RegionSet {list(value.masks.shape)}"
    if isinstance(value, torch.Generator):
        return "torch.Generator"
    if isinstance(value, dict):
        if depth >= 1:
            return "{…}"
        return "{" + ", ".join(f"{k}: {_compact(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [_compact(v, depth + 1) for v in value[:6]] + (["…"] if len(value) > 6 else [])
        text = ", ".join(items)
        return f"[{text}]" if isinstance(value, list) else f"({text})"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f3f4f6;
       color: #1f2933; }
header { background: #1f2933; color: #f3f4f6; padding: 20px 32px; }
header h1 { margin: 0 0 6px; font-size: 24px; }
header p { margin: 0 0 12px; color: #cbd2d9; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 14px; }
dl.facts dt { color: #9aa5b1; } dl.facts dd { margin: 0; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 20px; padding: 24px 32px; }
.card { background: #fff; border-radius: 10px; box-shadow: 0 1px 4px rgba(0,0,0,.12); padding: 16px 20px; }
.card.wide { grid-column: 1 / -1; }
.card h2 { margin: 0; font-size: 18px; } .card h2 code { font-size: 13px; color: #52606d; font-weight: normal; }
.card p.summary { margin: 4px 0 12px; color: #52606d; }
.images { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.group h3 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: #7b8794; }
.group .row { display: flex; flex-wrap: wrap; gap: 6px; }
figure { margin: 0; } figure img { display: block; border-radius: 4px; }
figcaption { font-size: 12px; color: #52606d; text-align: center; }
pre.call { background: #f5f7fa; border-radius: 6px; padding: 8px 10px; font-size: 13px; white-space: pre-wrap;
           margin: 12px 0 8px; }
table.params { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
table.params th { text-align: left; font-weight: 600; padding: 1px 12px 1px 0; vertical-align: top; }
table.params td { font-family: ui-monospace, Menlo, Consolas, monospace; padding: 1px 0; word-break: break-all; }
p.meta, p.replay { margin: 6px 0 0; font-size: 13px; }
p.replay code { background: #f5f7fa; padding: 1px 6px; border-radius: 4px; }
footer { padding: 0 32px 24px; font-size: 13px; color: #7b8794; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _figure(src: str, caption: str) -> str:
    return f'<figure><img src="{_e(src)}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _card_html(card: Card, files: Sequence[str]) -> str:
    groups = []
    before = [_figure(src, cap) for cap, src in card.before]
    region_png = f"{card.key}_region.png"
    if region_png in files:
        before.append(_figure(region_png, f"region: {card.region}"))
    if before:
        groups.append(f'<div class="group"><h3>before</h3><div class="row">{"".join(before)}</div></div>')
    after = [_figure(_image_name(card.key, i), cap) for i, cap in enumerate(card.after_captions)]
    groups.append(f'<div class="group"><h3>after</h3><div class="row">{"".join(after)}</div></div>')
    params = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_compact(v))}</td></tr>" for k, v in card.result.params.items())
    recipe = f"{card.key}.json"
    links = [f'<a href="{_e(recipe)}">recipe {_e(recipe)}</a>']
    side = sidecar_path(recipe).name
    if side in files:
        links.append(f'<a href="{_e(side)}">its tensors {_e(side)}</a>')
    links += [f'<a href="{_e(name)}">{_e(what)} {_e(name)}</a>' for name, (what, _) in card.extra_files.items()]
    region = f" · region <code>{_e(card.region)}</code>" if card.region else ""
    wide = " wide" if len(after) + len(before) > 4 else ""
    return (
        f'<section class="card{wide}" id="{_e(card.key)}">'
        f"<h2>{_e(card.title)} <code>{_e(card.result.method)}</code></h2>"
        f'<p class="summary">{_e(card.summary)}</p>'
        f'<div class="images">{"".join(groups)}</div>'
        f'<pre class="call">{_e(card.call)}</pre>'
        f'<table class="params">{params}</table>'
        f'<p class="meta">{_e(card.timing)}{region} · {" · ".join(links)}</p>'
        f'<p class="replay">replay: <code>regiongan replay {_e(recipe)} --out again.png</code></p>'
        "</section>"
    )


def _page(model: str, cards: Sequence[Card], files: Sequence[str], total: float) -> str:
    facts = {
        "model": model,
        "regiongan": rg.__version__,
        "torch": torch.__version__,
        "hardware": describe_cpu(),
        "threads": torch.get_num_threads(),
        "total time": f"{total:.1f} s (model loading and every operation below)",
    }
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items())
    body = "\n".join(_card_html(card, files) for card in cards)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"{DEMO_MARKER}<title>regiongan demo · {_e(model)}</title><style>{_CSS}</style></head>\n<body>"
        f"<header><h1>regiongan demo · {_e(model)}</h1>"
        "<p>Every method on the shipped models. Images are the model's pixels enlarged "
        f"{SCALE}× (nearest neighbour); each card links the recipe that replays it bit-for-bit on this machine "
        "(same torch build and thread count).</p>"
        f'<dl class="facts">{dl}</dl></header>\n<main>{body}</main>\n'
        "<footer>Made by <code>regiongan demo</code>. Replay any card with "
        "<code>regiongan replay RECIPE.json --out again.png</code> in this directory.</footer>"
        "</body></html>\n"
    )


# --------------------------------------------------------------------------------------------------


def run_demo(
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    progress: Progress | None = None,
    model: str = "faces-64",
    choices: DemoChoices = FACES_DEMO,
    hybrid: HybridChoices | None = SCENES_HYBRID,
) -> Path:
    """Run every method on ``model`` and write ``out_dir/index.html`` with its images and recipes.

    Refuses (FileExistsError) an ``out_dir`` that exists and is not empty unless ``overwrite=True``, and even
    then replaces only an earlier demo page (never another directory). ``progress(msg)`` gets one line per
    step. ``choices``: the seeds, regions and settings (:data:`FACES_DEMO`, tuned for faces-64); ``hybrid``: the
    class-hybridization card on a class-conditional model, shown when that model is shipped. Returns the
    path of ``index.html``. Takes 10–15 s on 2 idle cores (ReSeFa's Jacobians are most of it).
    """
    say = progress or (lambda msg: None)
    out = Path(out_dir).expanduser().resolve()
    _check_out_dir(out, overwrite)
    t_start = time.perf_counter()
    say(f"loading {model}")
    G = rg.load_model(model)
    show_hybrid = hybrid is not None and hybrid.model in rg.list_models()
    n = len(_CARDS) + 1 + show_hybrid
    say(f"[1/{n}] generate: seeds {choices.seeds}")
    gen = _generate_card(G, choices)
    before = {s: _image_name(gen.key, i) for i, s in enumerate(choices.seeds)}
    plain = {s: gen.result.images[i] for i, s in enumerate(choices.seeds)}
    cards = [gen]
    for i, (label, build) in enumerate(_CARDS, start=2):
        say(f"[{i}/{n}] {label}")
        cards.append(build(G, choices, before, plain))
        say(f"      done: {cards[-1].timing}")
    if show_hybrid:
        say(f"[{n}/{n}] ITAN hybridize on {hybrid.model}")
        cards.append(_hybridize_card(hybrid))
        say(f"      done: {cards[-1].timing}")
    total = time.perf_counter() - t_start
    files: dict[str, Writer] = {}
    for card in cards:
        card_files = _card_files(card)
        clash = sorted(set(files) & set(card_files))
        if clash:
            raise RuntimeError(f"demo cards write the same file(s) {clash}; give each card its own key")
        files.update(card_files)
    page = _page(model, cards, list(files), total)
    files[INDEX_FILE] = lambda path: path.write_text(page, encoding="utf-8")
    _check_out_dir(out, overwrite)  # again: the directory may have changed while the demo ran
    atomic_write(out, files, replace_directory=True)
    say(f"wrote {out / INDEX_FILE} ({len(files)} files, {total:.1f} s)")
    return out / INDEX_FILE
