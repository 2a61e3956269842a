"""``faces``: cute cartoon head-and-shoulders portraits with 14 part labels.

Part labels (``FacesWorld.part_names``; "left"/"right" are as seen in the image):

====  ==========  ==============================================================
  id  name        what is painted with it
====  ==========  ==============================================================
   0  background  solid or two-colour gradient backdrop
   1  clothing    shoulders / top, round or V neckline
   2  neck        neck (shaded skin)
   3  skin        head (with a thin darker outline) and optional blush
   4  ears        both ears (hidden under long hair)
   5  hair        hair cap, long hair behind the head, bun, curls
   6  eyebrows    both eyebrows (colour follows the hair colour)
   7  eye_left    eye on the image's left: outline, sclera, iris, pupil, highlight
   8  eye_right   eye on the image's right (same iris colour, size, gaze)
   9  nose        button, oval, triangle or wide nose with nostrils
  10  mouth       lips, dark interior, teeth, tongue
  11  glasses     frames (rims, bridge, temples); lenses are clear and unlabelled
  12  hat         beanie (band, pompom) or brimmed hat
  13  beard       full beard (colour follows the hair colour)
====  ==========  ==============================================================

Attributes (``FacesWorld.attribute_names``; colours are RGB in [0, 1], lengths are fractions of the
image side at scale 1, one-hots are 0/1):

``pos_x, pos_y`` head centre; ``scale``; ``rotation`` (radians, clockwise in the image);
``head_width, head_height`` (semi-axes), ``chin_taper``; ``skin_r/g/b``;
``hair_bald, hair_short, hair_long, hair_bun, hair_curly`` (one-hot); ``hair_r/g/b``;
``eye_size, eye_openness, eye_spacing``; ``iris_r/g/b``; ``gaze_x, gaze_y`` (in [-1, 1]);
``brow_thickness, brow_tilt``; ``nose_button, nose_oval, nose_triangle, nose_wide`` (one-hot), ``nose_size``;
``mouth_width, mouth_smile`` (-0.3 frown .. 1 big smile), ``mouth_open`` (0 closed .. 1 wide open);
``lip_r/g/b``; ``has_ears, has_glasses, glasses_round, has_hat, hat_beanie, has_beard, has_blush``;
``clothing_r/g/b``; ``background_r/g/b`` (first gradient colour), ``background_gradient``;
``light_x, light_y`` (direction times strength of the global shading gradient).

Joint structure: eyebrows and beard take the hair colour; both eyes share size, openness, iris colour
and gaze; long or curly hair hides the ears; a hat turns a bun into short hair and its brim sits above the brows.
Everything else varies independently.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .base import Draws, Params, World
from .color import hsv_to_rgb
from .raster import (
    Canvas,
    Window,
    ring,
    sd_between_curves,
    sd_box,
    sd_circle,
    sd_ellipse,
    sd_segment,
    triangle_wave,
)

__all__ = ["FacesWorld"]

F32 = np.float32

PART_NAMES = (
    "background", "clothing", "neck", "skin", "ears", "hair", "eyebrows", "eye_left", "eye_right",
    "nose", "mouth", "glasses", "hat", "beard",
)
BG, CLOTHING, NECK, SKIN, EARS, HAIR, BROWS, EYE_L, EYE_R, NOSE, MOUTH, GLASSES, HAT, BEARD = range(14)

HAIR_STYLES = ("bald", "short", "long", "bun", "curly")
NOSE_STYLES = ("button", "oval", "triangle", "wide")

ATTRIBUTE_NAMES = (
    "pos_x", "pos_y", "scale", "rotation",
    "head_width", "head_height", "chin_taper",
    "skin_r", "skin_g", "skin_b",
    *(f"hair_{s}" for s in HAIR_STYLES),
    "hair_r", "hair_g", "hair_b",
    "eye_size", "eye_openness", "eye_spacing",
    "iris_r", "iris_g", "iris_b",
    "gaze_x", "gaze_y",
    "brow_thickness", "brow_tilt",
    *(f"nose_{s}" for s in NOSE_STYLES), "nose_size",
    "mouth_width", "mouth_smile", "mouth_open",
    "lip_r", "lip_g", "lip_b",
    "has_ears", "has_glasses", "glasses_round", "has_hat", "hat_beanie", "has_beard", "has_blush",
    "clothing_r", "clothing_g", "clothing_b",
    "background_r", "background_g", "background_b", "background_gradient",
    "light_x", "light_y",
)

SKIN_TONES = [(255, 224, 199), (246, 205, 176), (236, 188, 152), (222, 168, 128), (196, 136, 98),
              (160, 104, 72), (122, 80, 56), (255, 212, 184)]
HAIR_COLORS = [(34, 28, 28), (72, 46, 32), (118, 74, 42), (150, 66, 34), (226, 190, 112), (204, 108, 44),
               (168, 168, 172), (236, 234, 228), (232, 112, 168), (72, 112, 204)]
HAIR_WEIGHTS = [4, 4, 4, 2, 3, 2, 1, 0.5, 0.5, 0.5]
IRIS_COLORS = [(104, 58, 26), (140, 108, 48), (56, 140, 72), (56, 118, 204), (116, 128, 140), (196, 132, 36),
               (128, 76, 172)]
IRIS_WEIGHTS = [4, 2, 2, 3, 1, 1, 0.5]
LIP_COLORS = [(206, 88, 100), (224, 112, 124), (172, 66, 80), (150, 62, 60), (236, 128, 132)]
FRAME_COLORS = [(28, 28, 30), (112, 62, 30), (186, 32, 44), (40, 72, 164), (206, 172, 64)]

# Curls: fixed angles (around the top of the head, y down) of the circles that make the curly outline.
_CURL_ANGLES = [math.pi + k * math.pi / 8 for k in range(-1, 10)]
_CURL_DIRS = [(math.cos(a), math.sin(a)) for a in _CURL_ANGLES]


def _col(a: np.ndarray) -> np.ndarray:
    """[B] -> [B, 1, 1] float32 (a per-sample scalar that broadcasts over a window)."""
    return np.asarray(a, F32)[:, None, None]


class FacesWorld(World):
    """Cartoon faces (see the module docstring for parts and attributes).

    ``sample_params`` returns arrays with a leading batch axis that :meth:`render` reads. Colours
    (``skin, hair, iris, lip, frame, hat, clothing, background, background2``) are ``[B, 3]`` RGB in
    [0, 1]; flags (``has_*``, ``glasses_round``, ``hat_beanie``, ``teeth``, ...) are 0/1; ``hair_style``
    and ``nose_style`` index ``HAIR_STYLES`` / ``NOSE_STYLES``; ``light`` is ``[B, 2]``; ``gaze`` is
    ``[B, 2]`` in [-1, 1]; geometry (``eye_r``, ``mouth_w``, ...) is in image units at scale 1.
    """

    name = "faces"
    part_names = PART_NAMES
    attribute_names = ATTRIBUTE_NAMES
    class_names = ("face",)
    num_uniforms = 128

    # ---------------------------------------------------------------------------------------------------
    # Sampling
    # ---------------------------------------------------------------------------------------------------
    def _params_from_uniforms(self, d: Draws) -> Params:
        p: Params = {}
        p["pos_x"] = d.uniform(0.45, 0.55)
        p["pos_y"] = d.uniform(0.45, 0.50)
        p["scale"] = d.uniform(0.96, 1.1)
        p["rotation"] = d.uniform(-0.12, 0.12)
        p["head_rx"] = d.uniform(0.185, 0.225)
        p["head_ry"] = d.uniform(0.235, 0.262)
        p["chin_taper"] = d.uniform(0.0, 0.22)
        p["skin"] = d.palette(SKIN_TONES, jitter=0.025)

        hair_style = d.choice([0.08, 0.35, 0.3, 0.12, 0.15])
        p["hair"] = d.palette(HAIR_COLORS, jitter=0.03, weights=HAIR_WEIGHTS)
        p["fringe_v"] = d.uniform(-0.165, -0.115)
        p["fringe_curve"] = d.uniform(2.2, 4.5)
        p["fringe_tilt"] = d.uniform(-0.25, 0.25)
        p["bangs_amp"] = d.uniform(0.0, 0.035) * d.bernoulli(0.6)
        p["bangs_freq"] = d.uniform(8.0, 14.0)
        p["bangs_phase"] = d.take()
        p["hair_puff"] = d.uniform(0.012, 0.03)
        p["bun_r"] = d.uniform(0.06, 0.08)
        p["curl_r"] = d.uniform(0.045, 0.06)

        p["eye_r"] = d.uniform(0.045, 0.058)
        p["eye_open"] = d.uniform(0.65, 1.0)
        p["eye_dx"] = d.uniform(0.085, 0.102)
        p["eye_v"] = d.uniform(0.0, 0.035)
        p["iris"] = d.palette(IRIS_COLORS, jitter=0.04, weights=IRIS_WEIGHTS)
        p["gaze"] = d.uniform(-1.0, 1.0, 2) * d.bernoulli(0.6)[:, None]

        p["brow_thick"] = d.uniform(0.0105, 0.019)
        p["brow_len"] = d.uniform(0.038, 0.055)
        p["brow_gap"] = d.uniform(0.028, 0.045)
        p["brow_arch"] = d.uniform(0.0, 0.4)
        p["brow_tilt"] = d.uniform(-0.3, 0.3)

        p["nose_style"] = d.choice([1, 1, 1, 1])  # index into NOSE_STYLES
        p["nose_size"] = d.uniform(0.032, 0.042)
        p["nose_v"] = d.uniform(0.085, 0.105)

        p["mouth_w"] = d.uniform(0.045, 0.075)
        p["mouth_smile"] = d.uniform(-0.3, 1.0)
        p["mouth_open"] = d.uniform(0.3, 1.0) * d.bernoulli(0.45)
        p["mouth_v"] = d.uniform(0.155, 0.18)
        p["lip"] = d.palette(LIP_COLORS, jitter=0.03)
        p["teeth"] = d.bernoulli(0.8)

        p["has_glasses"] = d.bernoulli(0.25)
        p["glasses_round"] = d.bernoulli(0.5)
        p["frame"] = d.palette(FRAME_COLORS, jitter=0.03)

        p["has_hat"] = d.bernoulli(0.2)
        p["hat_beanie"] = d.bernoulli(0.55)
        p["hat_bottom"] = d.uniform(-0.15, -0.12)
        p["hat"] = hsv_to_rgb(d.take(), d.uniform(0.45, 0.85), d.uniform(0.45, 0.9))
        p["hat_pompom"] = d.bernoulli(0.6)

        p["has_beard"] = d.bernoulli(0.14)
        p["has_ears"] = d.bernoulli(0.85)
        p["has_blush"] = d.bernoulli(0.5)

        p["clothing"] = hsv_to_rgb(d.take(), d.uniform(0.35, 0.85), d.uniform(0.4, 0.92))
        p["v_neck"] = d.bernoulli(0.4)
        p["shoulder_w"] = d.uniform(0.36, 0.44)
        p["neck_w"] = d.uniform(0.065, 0.085)

        hue = d.take()
        p["background"] = hsv_to_rgb(hue, d.uniform(0.12, 0.45), d.uniform(0.78, 0.97))
        p["background2"] = hsv_to_rgb(hue + d.uniform(-0.15, 0.15), d.uniform(0.2, 0.55), d.uniform(0.6, 0.85))
        p["background_gradient"] = d.bernoulli(0.6)
        p["background_dir"] = d.uniform(0.0, 2.0 * math.pi)
        light_angle = d.uniform(0.0, 2.0 * math.pi)
        light_strength = d.uniform(0.0, 0.22)
        p["light"] = np.stack([_cos(light_angle), _sin(light_angle)], axis=1) * light_strength[:, None]

        # Joint rules: long or curly hair hides the ears; a hat flattens a bun and shows hair below it.
        p["has_ears"] = p["has_ears"] * (hair_style != 2) * (hair_style != 4)
        hair_style = np.where((p["has_hat"] > 0) & (hair_style == 3), 1, hair_style)
        p["fringe_curve"] = np.where(p["has_hat"] > 0, np.maximum(p["fringe_curve"], 3.5), p["fringe_curve"])
        p["hair_style"] = hair_style
        return p

    def attributes(self, params: Params) -> np.ndarray:
        p = params
        one_hot_hair = np.eye(len(HAIR_STYLES))[p["hair_style"]]
        one_hot_nose = np.eye(len(NOSE_STYLES))[p["nose_style"]]
        cols = [
            p["pos_x"], p["pos_y"], p["scale"], p["rotation"], p["head_rx"], p["head_ry"], p["chin_taper"],
            *p["skin"].T, *one_hot_hair.T, *p["hair"].T,
            p["eye_r"], p["eye_open"], p["eye_dx"], *p["iris"].T, *p["gaze"].T,
            p["brow_thick"], p["brow_tilt"], *one_hot_nose.T, p["nose_size"],
            p["mouth_w"], p["mouth_smile"], p["mouth_open"], *p["lip"].T,
            p["has_ears"], p["has_glasses"], p["glasses_round"], p["has_hat"], p["hat_beanie"], p["has_beard"],
            p["has_blush"], *p["clothing"].T, *p["background"].T, p["background_gradient"], *p["light"].T,
        ]
        out = np.stack(cols, axis=1).astype(np.float32)
        assert out.shape[1] == len(ATTRIBUTE_NAMES)
        return out

    def class_ids(self, params: Params) -> np.ndarray:
        return np.zeros(len(params["scale"]), np.int64)

    # ---------------------------------------------------------------------------------------------------
    # Rendering
    # ---------------------------------------------------------------------------------------------------
    def _render(self, params: Params, size: int, part_colors: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        canvas = Canvas(len(params["scale"]), size, part_colors)
        f = _FaceFrame(canvas, params)
        _paint_background(f)
        _paint_neck_and_clothing(f)
        _paint_long_hair_behind(f.subset(params["hair_style"] == 2))
        _paint_ears(f.subset(params["has_ears"] > 0))
        _paint_head(f)
        _paint_blush(f.subset(params["has_blush"] > 0))
        _paint_beard(f.subset(params["has_beard"] > 0))
        _paint_nose(f)
        _paint_mouth(f)
        _paint_eyes(f)
        _paint_hair(f)
        _paint_eyebrows(f)
        _paint_hat(f.subset(params["has_hat"] > 0))
        _paint_glasses(f.subset(params["has_glasses"] > 0))
        # Global directional lighting, shared by every part.
        full = canvas.full_window()
        shade = F32(1.0) + F32(2.0) * ((full.x - f.v("pos_x")) * f.col(params["light"][:, 0])
                                       + (full.y - f.v("pos_y")) * f.col(params["light"][:, 1]))
        return canvas.finish(shade)


# -------------------------------------------------------------------------------------------------------------
# Parts, back to front. Each takes a face frame (all samples, or the subset that has the part; None if none).
# Lengths are face units (image units at scale 1); v points down the face.
# -------------------------------------------------------------------------------------------------------------
def _paint_background(f: _FaceFrame) -> None:
    """Solid colour or a linear gradient along a random direction."""
    full = f.canvas.full_window()
    direction = f.p["background_dir"]
    t = (full.x - F32(0.5)) * f.col(_cos(direction)) + (full.y - F32(0.5)) * f.col(_sin(direction))
    t = np.clip(F32(0.5) + F32(0.9) * t, 0.0, 1.0) * f.v("background_gradient")
    c0, c1 = f.rgb("background"), f.rgb("background2")
    f.canvas.fill(c0[:, None, None, :] + t[..., None] * (c1 - c0)[:, None, None, :], BG)


def _paint_neck_and_clothing(f: _FaceFrame) -> None:
    ry, neck_w, skin = f.v("head_ry"), f.v("neck_w"), f.rgb("skin")
    head_ry = f.p["head_ry"]
    w, u, v = f.window(0.0, head_ry * 0.45 + 0.16, f.p["neck_w"] + 0.03, head_ry * 0.25 + 0.19)
    if w is not None:
        d = sd_box(u, v - (ry * F32(0.45) + F32(0.16)), neck_w, ry * F32(0.25) + F32(0.16), F32(0.02))
        f.paint(w, NECK, d, skin * F32(0.86))
    # Shoulders: a wide ellipse below the chin with a round or V neckline and a darker collar.
    w, u, v = f.window(0.0, head_ry + 0.32, 0.5)
    if w is not None:
        top = ry + F32(0.07)
        d = sd_ellipse(u, v - (top + F32(0.22)), f.v("shoulder_w"), F32(0.22))
        round_hole = sd_ellipse(u, v - top, neck_w * F32(1.25), F32(0.045))
        v_hole = (v - top - F32(0.1) + np.abs(u) * F32(1.4)) / F32(1.72)
        hole = np.where(f.v("v_neck") > 0, np.minimum(v_hole, round_hole), round_hole)
        d = np.maximum(d, -hole)
        f.paint(w, CLOTHING, d, f.rgb("clothing"))
        f.paint(w, CLOTHING, np.maximum(ring(hole, F32(0.009)), d), f.rgb("clothing") * F32(0.75))


def _paint_long_hair_behind(f: _FaceFrame | None) -> None:
    """Long hair falls behind the head onto the shoulders, parted around the neck."""
    if f is None:
        return
    rx, ry = f.v("head_rx"), f.v("head_ry")
    w, u, v = f.window(0.0, 0.08, f.p["head_ry"] + 0.12)
    if w is not None:
        half = (ry + F32(0.17)) * F32(0.5)  # panel from the head centre down onto the shoulders
        d = np.minimum(sd_box(u, v - half, rx + F32(0.05), half, F32(0.06)),
                       sd_ellipse(u, v, rx + F32(0.05), ry + F32(0.035)))
        gap = sd_box(u, v - (ry * F32(0.75) + F32(0.3)), f.v("neck_w") + F32(0.01), F32(0.3), F32(0.01))
        f.paint(w, HAIR, np.maximum(d, -gap), f.rgb("hair") * F32(0.8))


def _paint_ears(f: _FaceFrame | None) -> None:
    """Ears sit behind the head, so only their outer halves show."""
    if f is None:
        return
    ear_v = f.p["eye_v"] + 0.035
    w, u, v = f.window(0.0, ear_v, f.p["head_rx"] + 0.07, 0.08)
    if w is not None:
        au = np.abs(u) - f.v("head_rx") + F32(0.005)
        ev = v - f.col(ear_v)
        f.paint(w, EARS, sd_ellipse(au, ev, F32(0.042), F32(0.058)), f.rgb("skin") * F32(0.96))
        f.paint(w, EARS, sd_ellipse(au - F32(0.012), ev, F32(0.018), F32(0.032)), f.rgb("skin") * F32(0.78))


def _head_sd(f: _FaceFrame, u: np.ndarray, v: np.ndarray, grow_x: float = 0.0, grow_y: float = 0.0,
             shift_v: float = 0.0) -> np.ndarray:
    """Egg-shaped head: an ellipse whose width narrows towards the chin by ``chin_taper``."""
    ry = f.v("head_ry")
    taper = F32(1.0) - f.v("chin_taper") * np.clip(v / ry, 0.0, 1.0)
    return sd_ellipse(u / taper, v - F32(shift_v), f.v("head_rx") + F32(grow_x), ry + F32(grow_y))


def _paint_head(f: _FaceFrame) -> None:
    half = max(float(f.p["head_ry"].max()), float(f.p["head_rx"].max())) + 0.03
    w, u, v = f.window(0.0, 0.0, half)
    if w is not None:
        head = _head_sd(f, u, v)
        f.paint(w, SKIN, head - F32(0.011), f.rgb("skin") * F32(0.72))  # thin darker outline
        f.paint(w, SKIN, head, f.rgb("skin"))


def _paint_blush(f: _FaceFrame | None) -> None:
    """Translucent pink cheeks; they keep the skin label."""
    if f is None:
        return
    blush_v = f.p["eye_v"] + f.p["eye_r"] + 0.045
    w, u, v = f.window(0.0, blush_v, 0.2, 0.04)
    if w is not None:
        d = sd_ellipse(np.abs(u) - f.v("eye_dx") - F32(0.015), v - f.col(blush_v), F32(0.036), F32(0.02))
        skin = f.rgb("skin")
        pink = skin + (np.asarray([1.0, 0.45, 0.5], F32) - skin) * F32(0.5)
        f.paint(w, SKIN, d, pink, opacity=0.55, relabel=False)


def _paint_beard(f: _FaceFrame | None) -> None:
    """Lower face below a line that rises towards the sideburns, in the hair colour."""
    if f is None:
        return
    w, u, v = f.window(0.0, 0.1, f.p["head_rx"] + 0.03, f.p["head_ry"] - 0.01)
    if w is not None:
        line = f.v("nose_v") + F32(0.025) - F32(1.3) * u * u
        d = np.maximum(_head_sd(f, u, v, 0.012, 0.02, 0.012), line - v)
        f.paint(w, BEARD, d, f.rgb("hair") * F32(0.9))


def _paint_nose(f: _FaceFrame) -> None:
    """One of four shapes, darker than the skin; the wide nose gets nostrils."""
    ns = f.v("nose_size")
    w, u, v = f.window(0.0, f.p["nose_v"], 0.05)
    if w is None:
        return
    nv = v - f.v("nose_v")
    style = f.v("nose_style")
    button = sd_circle(u, nv, ns * F32(0.7))
    oval = sd_ellipse(u, nv, ns * F32(0.5), ns * F32(0.95))
    side = (np.abs(u) * F32(1.2) - (nv + ns) * F32(0.75)) / F32(1.415)
    triangle = np.maximum(side, nv - ns * F32(0.45)) - F32(0.004)
    wide = sd_ellipse(u, nv, ns * F32(0.95), ns * F32(0.65))
    d = np.where(style == 0, button, np.where(style == 1, oval, np.where(style == 2, triangle, wide)))
    nose_color = f.rgb("skin") * np.asarray([0.76, 0.66, 0.64], F32)
    f.paint(w, NOSE, d, nose_color)
    nostrils = sd_circle(np.abs(u) - ns * F32(0.42), nv - ns * F32(0.12), ns * F32(0.2))
    f.paint(w, NOSE, nostrils, nose_color * F32(0.6), opacity=(f.p["nose_style"] == 3) * 1.0)


def _paint_mouth(f: _FaceFrame) -> None:
    """Lens between two parabolas (closed: thin), lips around it; teeth and tongue when open."""
    openness, mw = f.v("mouth_open"), f.v("mouth_w")
    sag = f.v("mouth_smile") * mw * F32(0.5)  # > 0: corners up (smile)
    open_h = F32(0.013) + F32(0.075) * openness
    w, u, v = f.window(0.0, f.p["mouth_v"] + 0.02, 0.1, 0.08)
    if w is None:
        return
    mv = v - f.v("mouth_v")
    inner = sd_between_curves(u, mv, mw, sag, sag + open_h)
    lip = f.rgb("lip")
    f.paint(w, MOUTH, inner - (F32(0.0075) + F32(0.004) * openness), lip)
    is_open = (f.p["mouth_open"] > 0).astype(F32)
    dark = np.asarray([0.32, 0.06, 0.1], F32)
    f.paint(w, MOUTH, inner, lip * F32(0.45) + (dark - lip * F32(0.45)) * is_open[:, None])
    t = u / mw
    teeth = np.maximum(inner, mv - sag * (F32(1.0) - t * t) - open_h * F32(0.38))
    f.paint(w, MOUTH, teeth, f.const((0.97, 0.97, 0.97)), opacity=is_open * f.p["teeth"])
    tongue = np.maximum(inner, sd_circle(u, mv - sag - open_h * F32(1.05), mw * F32(0.55)))
    f.paint(w, MOUTH, tongue, f.const((0.9, 0.42, 0.48)), opacity=(f.p["mouth_open"] > 0.45) * 1.0)


def _paint_eyes(f: _FaceFrame) -> None:
    """Both eyes at once in mirrored coordinates (|u|); the side of the face picks the label."""
    er = f.v("eye_r")
    ery = er * (F32(0.15) + F32(0.85) * f.v("eye_open"))
    w, u, v = f.window(0.0, f.p["eye_v"], f.p["eye_dx"] + f.p["eye_r"] + 0.03, f.p["eye_r"] + 0.03)
    if w is None:
        return
    side = np.where(u < 0, F32(-1.0), F32(1.0))
    label = np.where(u < 0, np.uint8(EYE_L), np.uint8(EYE_R))
    eu = np.abs(u) - f.v("eye_dx")
    ev = v - f.v("eye_v")
    sclera = sd_ellipse(eu, ev, er, ery)
    f.paint(w, label, sd_ellipse(eu, ev + F32(0.003), er + F32(0.009), ery + F32(0.011)), f.const((0.13, 0.08, 0.09)))
    f.paint(w, label, sclera, f.const((0.98, 0.98, 0.98)))
    # Gaze is shared: un-mirror the horizontal offset with the side.
    iu = eu - f.col(f.p["gaze"][:, 0]) * er * F32(0.32) * side
    iv = ev - f.col(f.p["gaze"][:, 1]) * er * F32(0.22)
    iris_r = er * F32(0.7)
    f.paint(w, label, np.maximum(sd_circle(iu, iv, iris_r), sclera), f.rgb("iris"))
    f.paint(w, label, np.maximum(sd_circle(iu, iv, iris_r * F32(0.4)), sclera), f.const((0.06, 0.05, 0.07)))
    # Highlight on the same side of both eyes (the light comes from one place).
    hl = sd_circle(iu + side * iris_r * F32(0.42), iv + iris_r * F32(0.42), iris_r * F32(0.26))
    f.paint(w, label, np.maximum(hl, sclera), f.const((1.0, 1.0, 1.0)))


def _paint_hair(f: _FaceFrame) -> None:
    """A cap above a (spiky, tilted) hairline; long side locks, a bun or curls on the samples that have them."""
    style = f.p["hair_style"]
    g = f.subset(style != 0)
    if g is None:
        return
    w, u, v = g.window(0.0, -0.06, g.p["head_ry"] + 0.14)
    if w is None:
        return
    rx, ry = g.v("head_rx"), g.v("head_ry")
    puff = g.v("hair_puff") + g.col(g.p["hair_style"] == 4) * F32(0.02)
    cap = sd_ellipse(u, v + puff * F32(0.6), rx + puff, ry + puff)
    bangs = g.v("bangs_amp") * triangle_wave(u * g.v("bangs_freq") + g.v("bangs_phase"))
    hairline = g.v("fringe_v") + g.v("fringe_curve") * u * u + g.v("fringe_tilt") * u - bangs
    d = np.maximum(cap, v - hairline)
    # Long hair: side locks from the temples down past the jaw (hiding the ears).
    lock_w = np.where(g.col(g.p["hair_style"] == 2) > 0, F32(0.038), F32(-1.0))
    d = np.minimum(d, sd_box(np.abs(u) - rx + F32(0.012), v - F32(0.04), lock_w, ry * F32(0.55) + F32(0.04), F32(0.03)))
    bun_r = np.where(g.col(g.p["hair_style"] == 3) > 0, g.v("bun_r"), F32(-1.0))
    d = np.minimum(d, sd_circle(u, v + ry + bun_r * F32(0.35), bun_r))
    g.paint(w, HAIR, d, g.rgb("hair"))
    # Curls: circles around the top of the head, a separate layer for the curly samples only.
    h = f.subset(style == 4)
    if h is not None:
        w, u, v = h.window(0.0, -0.06, h.p["head_ry"] + 0.14)
        if w is not None:
            rx, ry, r = h.v("head_rx") + F32(0.012), h.v("head_ry") + F32(0.012), h.v("curl_r")
            d = np.full(u.shape, 1.0, F32)
            for cu, cv in _CURL_DIRS:
                d = np.minimum(d, sd_circle(u - rx * F32(cu), v - ry * F32(cv) + F32(0.02), r))
            h.paint(w, HAIR, d, h.rgb("hair"))


def _paint_eyebrows(f: _FaceFrame) -> None:
    """Short arched strokes above each eye with mirrored tilt, in a darker hair colour."""
    brow_v = f.p["eye_v"] - f.p["eye_r"] * (0.15 + 0.85 * f.p["eye_open"]) - f.p["brow_gap"]
    w, u, v = f.window(0.0, brow_v, f.p["eye_dx"] + 0.08, 0.075)
    if w is not None:
        bl = f.v("brow_len")
        bu = np.abs(u) - f.v("eye_dx")
        bv = v - f.col(brow_v) + f.v("brow_tilt") * bu
        arch = f.v("brow_arch") * (bu * bu / bl - bl)
        d = sd_segment(bu, bv - arch, -bl, F32(0.0), bl, F32(0.0), f.v("brow_thick"))
        f.paint(w, BROWS, d, f.rgb("hair") * F32(0.68))


def _paint_hat(f: _FaceFrame | None) -> None:
    """A beanie with band and optional pompom, or a brimmed hat with a band."""
    if f is None:
        return
    w, u, v = f.window(0.0, -0.2, f.p["head_rx"] + 0.12, 0.2)
    if w is None:
        return
    rx, ry, hb = f.v("head_rx"), f.v("head_ry"), f.v("hat_bottom")
    beanie_body = np.maximum(sd_ellipse(u, v + F32(0.012), rx + F32(0.032), ry + F32(0.035)), v - hb)
    pompom = np.where(f.v("hat_pompom") > 0, sd_circle(u, v + ry + F32(0.05), F32(0.04)), F32(1.0))
    brim = sd_ellipse(u, v - hb, rx + F32(0.085), F32(0.026))
    crown = sd_box(u, v - hb + F32(0.1), rx * F32(0.82), F32(0.1), F32(0.035))
    beanie = f.v("hat_beanie") > 0
    hat = np.where(beanie, np.minimum(beanie_body, pompom), np.minimum(brim, crown))
    band = np.where(beanie, np.maximum(beanie_body, hb - F32(0.045) - v),
                    np.maximum(crown, np.abs(v - hb + F32(0.03)) - F32(0.016)))
    f.paint(w, HAT, hat, f.rgb("hat"))
    f.paint(w, HAT, band, f.rgb("hat") * F32(0.7))


def _paint_glasses(f: _FaceFrame | None) -> None:
    """Rims around both eyes (round or rectangular), bridge and temples; the lenses stay clear."""
    if f is None:
        return
    w, u, v = f.window(0.0, f.p["eye_v"], f.p["head_rx"] + 0.03, f.p["eye_r"] * 1.6 + 0.03)
    if w is None:
        return
    gr = f.v("eye_r") * F32(1.42) + F32(0.006)
    au = np.abs(u)
    eu = au - f.v("eye_dx")
    ev = v - f.v("eye_v")
    rim = np.where(f.v("glasses_round") > 0, sd_circle(eu, ev, gr),
                   sd_box(eu, ev, gr * F32(1.08), gr * F32(0.82), gr * F32(0.4)))
    t = F32(0.0105)  # half thickness: ~1.3 px at 64x64
    bridge = sd_segment(au, ev, F32(-0.01), F32(-0.008), f.v("eye_dx") - gr + F32(0.004), F32(-0.004), t)
    temple = sd_segment(au, ev, f.v("eye_dx") + gr * F32(0.95), F32(-0.01), f.v("head_rx") + F32(0.01), F32(-0.02), t)
    f.paint(w, GLASSES, np.minimum(np.minimum(ring(rim, t), bridge), temple), f.rgb("frame"))


def _cos(a: np.ndarray) -> np.ndarray:
    # Elementwise with Python's libm so the value never depends on SIMD lane position (batch invariance).
    return np.array([math.cos(x) for x in np.asarray(a, np.float64).reshape(-1)])


def _sin(a: np.ndarray) -> np.ndarray:
    return np.array([math.sin(x) for x in np.asarray(a, np.float64).reshape(-1)])


class _FaceFrame:
    """The face coordinate frame (head centre, scale, rotation) of a batch, or of a subset of it.

    Face coordinates ``(u, v)`` are image units at scale 1 around the head centre, ``v`` pointing down the
    face. ``p`` holds the parameters of this frame's samples (``[b, ...]``); ``samples`` are their
    indices in the canvas batch (None: all of them).
    """

    def __init__(self, canvas: Canvas, params: Params, samples: np.ndarray | None = None):
        self.canvas = canvas
        self.p = params
        self.samples = samples
        self.cx = np.asarray(params["pos_x"], np.float64)
        self.cy = np.asarray(params["pos_y"], np.float64)
        self.scale = np.asarray(params["scale"], np.float64)
        self.cos = _cos(params["rotation"])
        self.sin = _sin(params["rotation"])
        self._cos_s = _col(self.cos / self.scale)
        self._sin_s = _col(self.sin / self.scale)
        self._px = _col(self.scale * canvas.size)
        self._cache: dict[str, np.ndarray] = {}

    def subset(self, keep: np.ndarray) -> _FaceFrame | None:
        """The frame of the samples where ``keep`` (``[b]`` bool) holds; None when there are none."""
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            return None
        if len(idx) == len(self.cx):
            return self
        samples = idx if self.samples is None else self.samples[idx]
        return _FaceFrame(self.canvas, {k: v[idx] for k, v in self.p.items()}, samples)

    def v(self, name: str) -> np.ndarray:
        """Scalar parameter ``name`` as a ``[b, 1, 1]`` float32 column."""
        if name not in self._cache:
            self._cache[name] = _col(self.p[name])
        return self._cache[name]

    @staticmethod
    def col(a: np.ndarray) -> np.ndarray:
        """Any ``[b]`` array as a ``[b, 1, 1]`` float32 column."""
        return _col(a)

    def rgb(self, name: str) -> np.ndarray:
        """Colour parameter ``name`` as ``[b, 3]`` float32."""
        return np.asarray(self.p[name], F32)

    def const(self, rgb: tuple[float, float, float]) -> np.ndarray:
        """A fixed colour for every sample: ``[b, 3]`` float32."""
        return np.tile(np.asarray(rgb, F32), (len(self.cx), 1))

    def paint(self, window: Window, label: int | np.ndarray, sd: np.ndarray, color: np.ndarray,
              opacity: np.ndarray | float | None = None, relabel: bool = True) -> None:
        """Paint a layer whose signed distance ``sd`` is in face units."""
        self.canvas.paint(window, label, sd * self._px, color, opacity, relabel, samples=self.samples)

    def window(
        self, u0: np.ndarray | float, v0: np.ndarray | float, half_width: np.ndarray | float,
        half_height: np.ndarray | float | None = None,
    ) -> tuple[Window | None, np.ndarray, np.ndarray]:
        """Window covering each sample's face-frame box (centre ``(u0, v0)``; scalars or ``[b]``) and
        the face coordinates ``u, v`` (``[b, h, w]``) of its pixels."""
        hw = np.asarray(half_width, np.float64)
        hh = hw if half_height is None else np.asarray(half_height, np.float64)
        u0 = np.asarray(u0, np.float64)
        v0 = np.asarray(v0, np.float64)
        # Image-space centre and a rotation-safe half extent of the face-frame box.
        x = self.cx + self.scale * (self.cos * u0 - self.sin * v0)
        y = self.cy + self.scale * (self.sin * u0 + self.cos * v0)
        ex = self.scale * (np.abs(self.cos) * hw + np.abs(self.sin) * hh)
        ey = self.scale * (np.abs(self.sin) * hw + np.abs(self.cos) * hh)
        w = self.canvas.window(x - ex, x + ex, y - ey, y + ey)
        if w is None:
            return None, np.empty(0, F32), np.empty(0, F32)
        dx = w.x - _col(self.cx)
        dy = w.y - _col(self.cy)
        u = dx * self._cos_s + dy * self._sin_s
        v = dy * self._cos_s - dx * self._sin_s
        return w, u, v
