"""The studio's Gradio app: regions, one panel per registered operation, the edit stack, export / import.

Layout (top to bottom): the model, seed (with randomise), truncation, layer range and class; the image
editor where region layers are painted (or a typed region, a part, an uploaded mask); the current image,
the before/after compare and the time each action took; one tab per panel (:mod:`.panels`) with a gallery
of its results (click one to choose it, then Accept); the stack (undo / redo, also Ctrl+Z / Ctrl+Shift+Z,
a history whose entries restore their settings, export and import).

State: one :class:`~.session.StudioSession` per browser session in a ``gr.State``. The only thing shared by
sessions is :data:`MODELS`, the read-only model cache keyed by model path and weight fingerprint.
Every event has an ``api_name`` so ``gradio_client`` can drive the studio (tests/studio/test_app.py).
"""

from __future__ import annotations

import os
import random
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

import regiongan as rg

from .. import api  # noqa: F401  (registers every built-in operation before the panels are built)
from ..images import to_uint8
from ..latents import MAX_SEED
from ..regions import Region
from .export import export_stack
from .panels import Panel, build_panels, call_params
from .security import StudioFolders, check_typed_region, max_upload_bytes
from .session import ModelCache, StackError, StudioSession, is_label_model, label_world

__all__ = ["StudioConfig", "MODELS", "build_app", "DISPLAY"]

#: The one thing shared between sessions: loaded models (read-only), keyed by path + weight fingerprint.
MODELS = ModelCache(lambda spec: rg.load_model(spec))
#: Side of the displayed images and of the painting canvas (images are upscaled, nearest neighbour).
DISPLAY = 256
#: Direction sliders shown by the directions panel.
MAX_DIRECTIONS = 8
LAYER_CHOICES = ["all", "coarse", "middle", "fine"]

KEYS_JS = """
() => {
  document.addEventListener('keydown', (e) => {
    const t = e.target; if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA')) return;
    if (!(e.ctrlKey || e.metaKey)) return;
    const k = e.key.toLowerCase();
    const id = (k === 'z' && !e.shiftKey) ? 'studio-undo' : ((k === 'z' && e.shiftKey) || k === 'y') ? 'studio-redo' : null;
    if (id) { const b = document.getElementById(id); if (b) { e.preventDefault(); b.click(); } }
  });
}
"""


@dataclass(frozen=True)
class StudioConfig:
    """model: the model a new session starts with; folders: what the browser may reach."""

    model: str
    folders: StudioFolders
    seed: int = 0


# --------------------------------------------------------------------------------------------------
# Pictures


def _picture(image: torch.Tensor, size: int = DISPLAY) -> np.ndarray:
    """``[1, 3, R, R]`` in [-1, 1] -> uint8 ``[size, size, 3]`` (nearest-neighbour upscale)."""
    arr = to_uint8(image[:1])[0]
    f = max(1, size // arr.shape[0])
    return np.repeat(np.repeat(arr, f, axis=0), f, axis=1)


def _side_by_side(before: torch.Tensor, after: torch.Tensor) -> np.ndarray:
    a, b = _picture(before), _picture(after)
    gap = np.full((a.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([a, gap, b], axis=1)


def _editor_value(image: torch.Tensor, old: Any = None) -> dict[str, Any]:
    layers = old.get("layers") if isinstance(old, dict) and old.get("layers") else []
    return {"background": _picture(image), "layers": layers, "composite": None}


# --------------------------------------------------------------------------------------------------
# Regions from the editor, the typed spec and uploads


def _brush_regions(editor: Any, resolution: int) -> list[Region]:
    """One Region per painted layer of the image editor (alpha > 0 is inside), at the model's resolution."""
    if not isinstance(editor, dict):
        return []
    out = []
    for layer in editor.get("layers") or []:
        arr = np.asarray(layer)
        if arr.ndim != 3 or arr.shape[-1] != 4 or not (arr[..., 3] > 0).any():
            continue
        mask = (arr[..., 3] > 0).astype(np.float32)
        out.append(Region.from_image(mask, size=(resolution, resolution)))
    return out


def _region(editor: Any, spec: str, mask_file: Any, folders: StudioFolders, resolution: int, many: bool) -> Any:
    """The region an operation gets: a typed spec wins, then an uploaded mask, then the painted layers
    (their union; or the list of layers for operations taking several regions)."""
    if spec and spec.strip():
        return check_typed_region(spec)
    if mask_file:
        path = folders.confine(mask_file if isinstance(mask_file, str) else mask_file.name, "mask")
        return Region.from_image(str(path), size=(resolution, resolution))
    layers = _brush_regions(editor, resolution)
    if not layers:
        return None
    if many and len(layers) > 1:
        return layers
    union = layers[0]
    for r in layers[1:]:
        union = union | r
    return union


def _fallback_mask(region: Any) -> torch.Tensor | None:
    if isinstance(region, Region):
        return region.mask[:1]
    if isinstance(region, list) and region and isinstance(region[0], Region):
        m = region[0].mask[:1]
        for r in region[1:]:
            m = torch.maximum(m, r.mask[:1])
        return m
    return None


# --------------------------------------------------------------------------------------------------
# The app


def build_app(config: StudioConfig):
    """The studio as a ``gr.Blocks`` (call ``.queue().launch(...)`` on it; :func:`launch_kwargs`)."""
    folders = config.folders
    panels = build_panels()
    G0 = MODELS.get(config.model)
    parts = _catalog_parts(G0)
    parser_parts = _parser_parts(G0)
    label_model = is_label_model(G0)  # label-map panels (SPADE) for a label-map model, the latent ones otherwise
    classes = _class_names(G0)

    def session_of(state: StudioSession | None) -> StudioSession:
        if state is None:
            raise gr.Error("no image yet: press 'New image'")
        return state

    def view(s: StudioSession, editor: Any = None, note: str = "") -> tuple:
        stack = s.stack
        assert stack is not None
        hist = stack.history()
        timing = note or (f"last action: {s.timings[-1][0]} {s.timings[-1][1]:.2f} s" if s.timings else "")
        return (
            s, _picture(stack.current), _side_by_side(stack.before, stack.current),
            gr.update(choices=hist, value=hist[-1]), timing, _editor_value(stack.current, editor),
        )  # fmt: skip

    def pick(s: StudioSession | None, evt: gr.SelectData):
        index = int(evt.index) if evt is not None and evt.index is not None else 0
        if s is None or s.pending is None or s.stack is None or index >= len(s.pending):
            return index, gr.update()
        return index, _side_by_side(s.stack.current, s.pending.images[index : index + 1])

    # ---- controls ------------------------------------------------------------------------------------
    with gr.Blocks(title="regiongan studio") as demo:
        state = gr.State(None)
        gr.Markdown(
            "## regiongan studio\nPaint a region on the image (or type one, pick a part, upload a mask), run an "
            "operation, click a result, **Accept**. Edits stack; **Undo** (Ctrl+Z) / **Redo** (Ctrl+Shift+Z); "
            "**Export** writes a PNG and a recipe that `regiongan replay` reproduces."
        )
        with gr.Row():
            model = gr.Dropdown(rg.list_models(), value=config.model, label="model", allow_custom_value=False, scale=2)
            checkpoint = gr.File(label="or upload a checkpoint (.pkl / .pt)", file_types=[".pkl", ".pt"], scale=2)
            seed = gr.Number(config.seed, precision=0, label="seed", minimum=0, maximum=MAX_SEED, elem_id="studio-seed")
            randomise = gr.Button("🎲 randomise", size="sm")
            psi = gr.Slider(0.0, 1.5, value=1.0, step=0.05, label="truncation ψ")
            layers = gr.Dropdown(LAYER_CHOICES, value="all", label="layer range", allow_custom_value=True)
            cls = gr.Number(None, precision=0, label="class (conditional models)", visible=getattr(G0, "c_dim", 0) > 0)
            new = gr.Button("New image", variant="primary", elem_id="studio-new")
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.ImageEditor(
                    label="paint region layers", type="numpy", format="png", height=DISPLAY + 160, canvas_size=(DISPLAY, DISPLAY),
                    sources=(), transforms=(), elem_id="studio-editor",
                    brush=gr.Brush(default_size=16, colors=["#ff00ff"], color_mode="fixed"),
                )  # fmt: skip
                with gr.Row():
                    spec = gr.Textbox(label="or type a region (box:16,36,48,56, part:mouth, full …)", elem_id="studio-region")
                    part = gr.Dropdown(parser_parts, value=None, label="or pick a part (parser)")
                mask = gr.File(label="or upload a mask (PNG)", file_types=["image"])
            with gr.Column(scale=3):
                current = gr.Image(label="current image", type="numpy", format="png", interactive=False, elem_id="studio-current")
                compare = gr.Image(label="before | after", type="numpy", format="png", interactive=False, elem_id="studio-compare")
                timing = gr.Markdown("", elem_id="studio-timing")
        shared_inputs = [state, editor, spec, mask, seed, psi, layers, cls]

        def context(s: StudioSession, editor_v, spec_v, mask_v, seed_v, psi_v, layers_v, cls_v, many: bool) -> dict:
            region = _region(editor_v, spec_v, mask_v, folders, s.G.img_resolution, many)
            return {
                "seed": int(seed_v), "truncation_psi": float(psi_v), "region": region,
                "layers": None if layers_v in (None, "", "all") else layers_v,
                "class": None if cls_v in (None, "") or getattr(s.G, "c_dim", 0) == 0 else int(cls_v), "directions": s.directions,
                "labels": s.labels, "world": s.world,
            }  # fmt: skip

        def settings_of(seed_v, psi_v, layers_v, cls_v, spec_v, method: str, values: dict) -> dict:
            return {"seed": seed_v, "psi": psi_v, "layers": layers_v, "class": cls_v, "region": spec_v,
                    "method": method, **{f"{method}:{k}": v for k, v in values.items()}}  # fmt: skip

        # ---- the panels -----------------------------------------------------------------------------
        panel_widgets: dict[str, list] = {}
        choice = gr.Number(0, precision=0, label="chosen result", elem_id="studio-choice")
        galleries = []
        with gr.Tabs():
            for panel in panels:
                with gr.Tab(panel.title, elem_id=f"tab-{panel.method.replace('.', '-')}", visible=panel.label_map == label_model):
                    gr.Markdown(f"`{panel.method}` — {panel.summary}")
                    if panel.needs_classes and getattr(G0, "c_dim", 0) == 0:
                        gr.Markdown("*needs a class-conditional model*")
                    widgets = [_widget(gr, c, classes if c.choices == "classes" else parts) for c in panel.controls]
                    panel_widgets[panel.method] = widgets
                    if panel.method == "resefa.edit":
                        dir_sliders, find_row = _directions_controls(gr)
                    run = gr.Button(f"Run {panel.title}", variant="primary", elem_id=f"run-{panel.method.replace('.', '-')}")
                    gallery = gr.Gallery(label="results: click one, then Accept", columns=4, height=240, format="png",
                                         elem_id=f"gallery-{panel.method.replace('.', '-')}", allow_preview=False)  # fmt: skip
                    galleries.append(gallery)

                    def run_panel(*args, _panel: Panel = panel):
                        s = session_of(args[0])
                        values = dict(zip([c.name for c in _panel.controls], args[len(shared_inputs):]))
                        ctx = context(s, *args[1:len(shared_inputs)], many="regions" in _panel.shared or _panel.method == "itan.saliency")
                        try:
                            params = call_params(_panel, values, ctx)
                            result = s.propose(_panel.method, params, settings_of(*args[4:8], args[2], _panel.method, values),
                                               _fallback_mask(ctx["region"]))  # fmt: skip
                        except (ValueError, TypeError, StackError) as e:
                            raise gr.Error(" ".join(str(e).split())) from None
                        pics = [_picture(result.images[i : i + 1]) for i in range(len(result))]
                        return s, pics, 0, f"{_panel.method}: {len(result)} image(s) in {result.seconds:.2f} s"

                    api_name = "run_" + panel.method.replace(".", "_")
                    run.click(run_panel, shared_inputs + widgets, [state, gallery, choice, timing], api_name=api_name)
                    gallery.select(pick, [state], [choice, compare], api_name=False)
                    if panel.method == "resefa.edit":
                        _wire_directions(gr, demo, panel, dir_sliders, find_row, shared_inputs, context, state, gallery,
                                         choice, timing, settings_of, session_of)  # fmt: skip

        # ---- the stack ------------------------------------------------------------------------------
        with gr.Row():
            accept = gr.Button("Accept", variant="primary", elem_id="studio-accept")
            undo = gr.Button("Undo (Ctrl+Z)", elem_id="studio-undo")
            redo = gr.Button("Redo (Ctrl+Shift+Z)", elem_id="studio-redo")
            export = gr.Button("Export PNG + recipe", elem_id="studio-export")
        with gr.Row():
            history = gr.Radio([], label="history (click an entry to restore its settings)", elem_id="studio-history")
            exported = gr.File(label="exported", file_count="multiple", interactive=False, elem_id="studio-exported")
            imported = gr.File(label="import a recipe (.json + its .safetensors)", file_count="multiple",
                               file_types=[".json", ".safetensors"], elem_id="studio-import")  # fmt: skip
        outputs = [state, current, compare, history, timing, editor]

        def new_image(s, model_v, checkpoint_v, seed_v, psi_v, editor_v):
            spec_ = model_v
            if checkpoint_v:
                spec_ = str(folders.checkpoint(checkpoint_v if isinstance(checkpoint_v, str) else checkpoint_v.name))
            try:
                G = MODELS.get(spec_)
                s = StudioSession.start(spec_, G, int(seed_v), float(psi_v))
            except (ValueError, OSError) as e:
                raise gr.Error(" ".join(str(e).split())) from None
            return view(s, None)

        new.click(new_image, [state, model, checkpoint, seed, psi, editor], outputs, api_name="new_image")
        randomise.click(lambda: random.randint(0, 99_999), [], [seed], api_name=False)
        part.change(lambda p: f"part:{p}" if p else "", [part], [spec], api_name=False)

        def do_accept(s, choice_v, editor_v):
            s = session_of(s)
            try:
                step = s.accept(int(choice_v or 0))
            except StackError as e:
                raise gr.Error(str(e)) from None
            return view(s, editor_v, f"accepted {step.label()}")

        def do_undo(s, editor_v):
            s = session_of(s)
            try:
                step = s.stack.undo()
            except StackError as e:
                raise gr.Error(str(e)) from None
            return view(s, editor_v, f"undid {step.method}")

        def do_redo(s, editor_v):
            s = session_of(s)
            try:
                step = s.stack.redo()
            except StackError as e:
                raise gr.Error(str(e)) from None
            return view(s, editor_v, f"redid {step.method}")

        accept.click(do_accept, [state, choice, editor], outputs, api_name="accept")
        undo.click(do_undo, [state, editor], outputs, api_name="undo")
        redo.click(do_redo, [state, editor], outputs, api_name="redo")

        def do_export(s):
            s = session_of(s)
            stem = f"studio-{uuid.uuid4().hex[:8]}"
            png, js = export_stack(s.recipe(), s.stack.current, folders.output, stem)
            files = [str(png), str(js)] + ([str(js.with_suffix(".safetensors"))] if js.with_suffix(".safetensors").exists() else [])
            return files, f"exported {png.name} and {js.name} to {folders.output}"

        export.click(do_export, [state], [exported, timing], api_name="export")

        def do_import(s, files, editor_v):
            s = session_of(s)
            if not files:
                raise gr.Error("choose the recipe's .json (and its .safetensors when it has one)")
            folder = folders.uploads / f"import-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            jsons = []
            for f in files:
                src = folders.confine(f if isinstance(f, str) else f.name, "recipe file", (folders.uploads,))
                dst = folder / src.name
                shutil.copyfile(src, dst)
                if dst.suffix == ".json":
                    jsons.append(dst)
            if len(jsons) != 1:
                raise gr.Error(f"give exactly one recipe .json, got {len(jsons)}")
            try:
                s.import_recipe(rg.load_recipe(jsons[0]))
            except (ValueError, StackError) as e:
                raise gr.Error(" ".join(str(e).split())) from None
            return (*view(s, None, f"imported {jsons[0].name}"), s.seed)

        imported.upload(do_import, [state, imported, editor], outputs + [seed], api_name="import_recipe")

        def restore(s, entry):
            s = session_of(s)
            if not entry:
                return [gr.update()] * (5 + sum(map(len, panel_widgets.values())))
            settings = s.stack.settings(int(str(entry).split(".", 1)[0]))
            ups = [gr.update(value=settings[k]) if k in settings else gr.update() for k in ("seed", "psi", "layers", "class", "region")]
            for method, widgets in panel_widgets.items():
                names = [c.name for c in next(p for p in panels if p.method == method).controls]
                ups += [gr.update(value=settings[f"{method}:{n}"]) if f"{method}:{n}" in settings else gr.update() for n in names]
            return ups

        all_widgets = [w for ws in panel_widgets.values() for w in ws]
        history.input(restore, [state, history], [seed, psi, layers, cls, spec] + all_widgets, api_name="restore")

        demo.load(new_image, [state, model, checkpoint, seed, psi, editor], outputs, api_name=False)
    return demo


def _widget(gr, c, parts: list[str]):
    label = c.label
    if c.kind == "slider":
        return gr.Slider(c.minimum, c.maximum, value=c.default, step=c.step, label=label)
    if c.kind == "int":
        return gr.Number(c.default, precision=0, label=label)
    if c.kind == "number":
        return gr.Number(c.default, label=label)
    if c.kind == "choice":
        choices = parts if c.choices in ("parts", "classes") else list(c.choices)
        default = c.default if c.default in choices else (choices[0] if choices else None)
        return gr.Dropdown(choices, value=default, label=label)
    return gr.Textbox(c.default or "", label=label)


def _directions_controls(gr):
    with gr.Row():
        samples = gr.Slider(1, 16, value=2, step=1, label="samples (images whose Jacobians are averaged)")
        k = gr.Slider(1, MAX_DIRECTIONS, value=4, step=1, label="directions")
        find = gr.Button("Find directions for the region", elem_id="studio-find-directions")
        reset = gr.Button("Reset sliders")
    sliders = [gr.Slider(-5, 5, value=0, step=0.1, label=f"direction {i}", visible=False) for i in range(MAX_DIRECTIONS)]
    return sliders, (samples, k, find, reset)


def _wire_directions(gr, demo, panel, sliders, find_row, shared_inputs, context, state, gallery, choice, timing,
                     settings_of, session_of):  # fmt: skip
    samples, k, find, reset = find_row

    def find_dirs(*args, progress=gr.Progress()):
        s = session_of(args[0])
        n, kk = int(args[len(shared_inputs)]), int(args[len(shared_inputs) + 1])
        ctx = context(s, *args[1:len(shared_inputs)], many=False)
        if ctx["region"] is None:
            raise gr.Error("paint or type a region first: directions are found for a region")
        try:
            dirs = rg.find_directions(
                s.G, ctx["region"], samples=n, k=kk, downsample=16, layers=ctx["layers"], truncation_psi=ctx["truncation_psi"],
                progress=lambda done, total: progress((done, total), desc="Jacobians"),
            )  # fmt: skip
        except ValueError as e:
            raise gr.Error(" ".join(str(e).split())) from None
        s.directions = dirs
        ups = [gr.update(visible=i < dirs.k, value=0, label=f"direction {i} (eigenvalue {float(dirs.eigenvalues[i]):.3g})")
               for i in range(MAX_DIRECTIONS)]  # fmt: skip
        return [s, *ups, f"found {dirs.k} directions"]

    find.click(find_dirs, shared_inputs + [samples, k], [state, *sliders, timing], api_name="find_directions")
    reset.click(lambda: [gr.update(value=0) for _ in sliders], [], sliders, api_name=False)

    for i, slider in enumerate(sliders):
        def slide(*args, _i=i):
            s = session_of(args[0])
            if s.directions is None:
                raise gr.Error("find directions first")
            value = float(args[-1])
            ctx = context(s, *args[1:len(shared_inputs)], many=False)
            params = call_params(panel, {"index": _i, "strengths": value}, ctx)
            settings = settings_of(*args[4:8], args[2], panel.method, {"index": _i, "strengths": value})
            try:
                result = s.propose(panel.method, params, settings, _fallback_mask(ctx["region"]) if ctx["region"] is not None else None)
            except ValueError as e:
                raise gr.Error(" ".join(str(e).split())) from None
            return s, [_picture(result.images)], 0, f"direction {_i} at {value:+.1f}: {result.seconds:.2f} s"

        slider.release(slide, shared_inputs + [slider], [state, gallery, choice, timing], api_name=f"slide_direction_{i}")


def _catalog_parts(G) -> list[str]:
    name = getattr(G, "companions", {}).get("catalog")
    if not name:
        return []
    try:
        return sorted(rg.load_catalog(name).names)
    except (ValueError, OSError):
        return []


def _class_names(G) -> list[str]:
    """A label-map model's class names (its world's part names, index = class id); [] for other models."""
    if not is_label_model(G):
        return []
    from ..data.worlds import get_world

    try:
        return list(get_world(label_world(G)).part_names)
    except (ValueError, KeyError):
        return []


def _parser_parts(G) -> list[str]:
    if not getattr(G, "companions", {}).get("parser"):
        return []
    from ..methods.inputs import load_part_parser

    try:
        return list(load_part_parser(G).part_names)
    except (ValueError, OSError):
        return []


def launch_kwargs(host: str, port: int, folders: StudioFolders) -> dict[str, Any]:
    """What :meth:`gr.Blocks.launch` gets: the bind address, the output folder as the only extra path
    the browser may fetch, and the upload cap."""
    return {
        "server_name": host, "server_port": port, "allowed_paths": [str(folders.output)],
        "max_file_size": max_upload_bytes(), "show_error": True, "js": KEYS_JS,
    }  # fmt: skip


def prepare_environment(folders: StudioFolders) -> None:
    """Point Gradio's upload cache at the uploads folder and turn off its analytics (before building the app)."""
    os.environ["GRADIO_TEMP_DIR"] = str(folders.uploads)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
