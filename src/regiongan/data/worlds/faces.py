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
    """Cartoon faces (see the module docstring for parts and attributes)."""

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

        p["nose_style"] = d.choice([1, 1, 1, 1])
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
        p["nose_style"] = p["nose_style"]
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
        p = params
        batch = len(p["scale"])
        canvas = Canvas(batch, size, part_colors)
        frame = _FaceFrame(canvas, p)
        c = {k: np.asarray(v, F32) for k, v in p.items() if k in _COLOURS}
        skin = c["skin"]
        hair = c["hair"]

        # Background: solid or linear gradient along a random direction.
        full = canvas.full_window()
        t = (full.x - F32(0.5)) * _col(_cos(p["background_dir"])) + (full.y - F32(0.5)) * _col(_sin(p["background_dir"]))
        t = np.clip(F32(0.5) + F32(0.9) * t, 0.0, 1.0) * _col(p["background_gradient"])
        bg = c["background"][:, None, None, :] + t[..., None] * (c["background2"] - c["background"])[:, None, None, :]
        canvas.fill(bg, BG)

        rx, ry = frame.v("head_rx"), frame.v("head_ry")
        head_rx, head_ry = p["head_rx"], p["head_ry"]
        neck_w = frame.v("neck_w")

        # Neck, then clothing over its base.
        w, u, v = frame.window(0.0, head_ry * 0.45 + 0.16, p["neck_w"] + 0.03, half_height=head_ry * 0.25 + 0.19)
        if w is not None:
            d = sd_box(u, v - (ry * F32(0.45) + F32(0.16)), neck_w, ry * F32(0.25) + F32(0.16), F32(0.02))
            canvas.paint(w, NECK, frame.px(d), skin * F32(0.86))
        top = head_ry + 0.07
        w, u, v = frame.window(0.0, top + 0.25, 0.5)
        if w is not None:
            top32 = _col(top)
            d = sd_ellipse(u, v - (top32 + F32(0.22)), frame.v("shoulder_w"), F32(0.22))
            round_hole = sd_ellipse(u, v - top32, neck_w * F32(1.25), F32(0.045))
            v_hole = (v - top32 - F32(0.1) + np.abs(u) * F32(1.4)) / F32(1.72)
            hole = np.where(_col(p["v_neck"]) > 0, np.minimum(v_hole, round_hole), round_hole)
            d = np.maximum(d, -hole)
            canvas.paint(w, CLOTHING, frame.px(d), c["clothing"])
            collar = np.maximum(ring(hole, F32(0.009)), d)
            canvas.paint(w, CLOTHING, frame.px(collar), c["clothing"] * F32(0.75))

        hair_style = p["hair_style"]
        is_long = (hair_style == 2).astype(np.float64)

        # Long hair falls behind the head onto the shoulders, parted around the neck.
        if is_long.any():
            w, u, v = frame.window(0.0, 0.08, head_ry + 0.12)
            if w is not None:
                half = (ry + F32(0.17)) * F32(0.5)  # panel from the head centre down onto the shoulders
                d = np.minimum(sd_box(u, v - half, rx + F32(0.05), half, F32(0.06)),
                               sd_ellipse(u, v, rx + F32(0.05), ry + F32(0.035)))
                gap = sd_box(u, v - (ry * F32(0.75) + F32(0.3)), neck_w + F32(0.01), F32(0.3), F32(0.01))
                d = np.maximum(d, -gap)
                canvas.paint(w, HAIR, frame.px(d), hair * F32(0.8), opacity=is_long)

        # Ears (behind the head, so only their outer halves show).
        ear_v = p["eye_v"] + 0.035
        w, u, v = frame.window(0.0, ear_v, head_rx + 0.07, half_height=0.08)
        if w is not None:
            au = np.abs(u) - rx + F32(0.005)
            ev = v - _col(ear_v)
            canvas.paint(w, EARS, frame.px(sd_ellipse(au, ev, F32(0.042), F32(0.058))), skin * F32(0.96),
                         opacity=p["has_ears"])
            inner = sd_ellipse(au - F32(0.012), ev, F32(0.018), F32(0.032))
            canvas.paint(w, EARS, frame.px(inner), skin * F32(0.78), opacity=p["has_ears"])

        # Head: egg-shaped ellipse with a thin darker outline.
        w, u, v = frame.window(0.0, 0.0, max(float(head_ry.max()), float(head_rx.max())) + 0.03)
        if w is not None:
            taper = F32(1.0) - frame.v("chin_taper") * np.clip(v / ry, 0.0, 1.0)
            head = sd_ellipse(u / taper, v, rx, ry)
            canvas.paint(w, SKIN, frame.px(head - F32(0.011)), skin * F32(0.72))
            canvas.paint(w, SKIN, frame.px(head), skin)

        # Blush under the eyes (translucent, keeps the skin label).
        blush_v = p["eye_v"] + p["eye_r"] + 0.045
        w, u, v = frame.window(0.0, blush_v, 0.2, half_height=0.04)
        if w is not None:
            d = sd_ellipse(np.abs(u) - frame.v("eye_dx") - F32(0.015), v - _col(blush_v), F32(0.036), F32(0.02))
            pink = skin + (np.asarray([1.0, 0.45, 0.5], F32) - skin) * F32(0.5)
            canvas.paint(w, SKIN, frame.px(d), pink, opacity=0.55 * p["has_blush"], relabel=False)

        # Beard: lower face below a line that rises towards the sideburns.
        if p["has_beard"].any():
            w, u, v = frame.window(0.0, 0.1, head_rx + 0.03, half_height=head_ry - 0.05 + 0.04)
            if w is not None:
                taper = F32(1.0) - frame.v("chin_taper") * np.clip(v / ry, 0.0, 1.0)
                outer = sd_ellipse(u / taper, v - F32(0.012), rx + F32(0.012), ry + F32(0.02))
                line = frame.v("nose_v") + F32(0.025) - F32(1.3) * u * u
                d = np.maximum(outer, line - v)
                canvas.paint(w, BEARD, frame.px(d), hair * F32(0.9), opacity=p["has_beard"])

        # Nose: one of four shapes, slightly darker than the skin.
        ns = frame.v("nose_size")
        w, u, v = frame.window(0.0, p["nose_v"], 0.05)
        if w is not None:
            nv = v - frame.v("nose_v")
            style = frame.v("nose_style")
            button = sd_circle(u, nv, ns * F32(0.7))
            oval = sd_ellipse(u, nv, ns * F32(0.5), ns * F32(0.95))
            side = (np.abs(u) * F32(1.2) - (nv + ns) * F32(0.75)) / F32(1.415)
            triangle = np.maximum(side, nv - ns * F32(0.45)) - F32(0.004)
            wide = sd_ellipse(u, nv, ns * F32(0.95), ns * F32(0.65))
            d = np.where(style == 0, button, np.where(style == 1, oval, np.where(style == 2, triangle, wide)))
            nose_col = skin * np.asarray([0.76, 0.66, 0.64], F32)
            canvas.paint(w, NOSE, frame.px(d), nose_col)
            nostrils = sd_circle(np.abs(u) - ns * F32(0.42), nv - ns * F32(0.12), ns * F32(0.2))
            canvas.paint(w, NOSE, frame.px(nostrils), nose_col * F32(0.6), opacity=(p["nose_style"] == 3) * 1.0)

        # Mouth: lens between two parabolas (closed = thin), lips around it, teeth and tongue inside.
        openness = frame.v("mouth_open")
        mw = frame.v("mouth_w")
        sag = frame.v("mouth_smile") * mw * F32(0.5)
        open_h = F32(0.013) + F32(0.075) * openness
        w, u, v = frame.window(0.0, p["mouth_v"] + 0.02, 0.1, half_height=0.08)
        if w is not None:
            mv = v - frame.v("mouth_v")
            inner = sd_between_curves(u, mv, mw, sag, sag + open_h)
            lip_t = F32(0.0075) + F32(0.004) * openness
            canvas.paint(w, MOUTH, frame.px(inner - lip_t), c["lip"])
            is_open = (p["mouth_open"] > 0).astype(F32)
            inside = c["lip"] * F32(0.45) + (np.asarray([0.32, 0.06, 0.1], F32) - c["lip"] * F32(0.45)) * is_open[:, None]
            canvas.paint(w, MOUTH, frame.px(inner), inside)
            t = u / mw
            upper = sag * (F32(1.0) - t * t)
            teeth = np.maximum(inner, mv - upper - open_h * F32(0.38))
            canvas.paint(w, MOUTH, frame.px(teeth), np.full((batch, 3), 0.97, F32), opacity=is_open * p["teeth"])
            tongue = np.maximum(inner, sd_circle(u, mv - sag - open_h * F32(1.05), mw * F32(0.55)))
            canvas.paint(w, MOUTH, frame.px(tongue), np.tile(np.asarray([[0.9, 0.42, 0.48]], F32), (batch, 1)),
                         opacity=is_open * (p["mouth_open"] > 0.45))

        # Eyes: both evaluated at once in mirrored coordinates (|u|); the side picks the label.
        er = frame.v("eye_r")
        ery = er * (F32(0.15) + F32(0.85) * frame.v("eye_open"))
        w, u, v = frame.window(0.0, p["eye_v"], p["eye_dx"] + p["eye_r"] + 0.03, half_height=p["eye_r"] + 0.03)
        if w is not None:
            side = np.where(u < 0, F32(-1.0), F32(1.0))
            label = np.where(u < 0, np.uint8(EYE_L), np.uint8(EYE_R))
            eu = np.abs(u) - frame.v("eye_dx")
            ev = v - frame.v("eye_v")
            sclera = sd_ellipse(eu, ev, er, ery)
            lash = np.asarray([0.13, 0.08, 0.09], F32)
            canvas.paint(w, label, frame.px(sd_ellipse(eu, ev + F32(0.003), er + F32(0.009), ery + F32(0.011))),
                         np.tile(lash, (batch, 1)))
            canvas.paint(w, label, frame.px(sclera), np.full((batch, 3), 0.98, F32))
            gx = frame.v_col(p["gaze"][:, 0]) * er * F32(0.32) * side
            gy = frame.v_col(p["gaze"][:, 1]) * er * F32(0.22)
            iu = eu - gx
            iv = ev - gy
            iris_r = er * F32(0.7)
            canvas.paint(w, label, frame.px(np.maximum(sd_circle(iu, iv, iris_r), sclera)), c["iris"])
            canvas.paint(w, label, frame.px(np.maximum(sd_circle(iu, iv, iris_r * F32(0.4)), sclera)),
                         np.tile(np.asarray([0.06, 0.05, 0.07], F32), (batch, 1)))
            # Highlight on the same side of both eyes (light comes from one place).
            hl = sd_circle(iu + side * iris_r * F32(0.42), iv + iris_r * F32(0.42), iris_r * F32(0.26))
            canvas.paint(w, label, frame.px(np.maximum(hl, sclera)), np.ones((batch, 3), F32))

        # Hair: a cap above a (possibly spiky, tilted) hairline, plus bun, curls or long side locks.
        if (hair_style != 0).any():
            w, u, v = frame.window(0.0, -0.06, head_ry + 0.14)
            if w is not None:
                puff = frame.v("hair_puff")
                curly = _col(hair_style == 4)
                puff = puff + curly * F32(0.02)
                cap = sd_ellipse(u, v + puff * F32(0.6), rx + puff, ry + puff)
                bangs = frame.v("bangs_amp") * triangle_wave(u * frame.v("bangs_freq") + frame.v("bangs_phase"))
                hairline = frame.v("fringe_v") + frame.v("fringe_curve") * u * u + frame.v("fringe_tilt") * u - bangs
                d = np.maximum(cap, v - hairline)
                # Long hair: side locks from the temples down past the jaw (they hide the ears).
                lock_w = np.where(_col(hair_style == 2), F32(0.038), F32(-1.0))
                locks = sd_box(np.abs(u) - rx + F32(0.012), v - F32(0.04), lock_w, ry * F32(0.55) + F32(0.04), F32(0.03))
                d = np.minimum(d, locks)
                bun_r = np.where(_col(hair_style == 3), frame.v("bun_r"), F32(-1.0))
                d = np.minimum(d, sd_circle(u, v + ry + bun_r * F32(0.35), bun_r))
                curl_r = np.where(curly > 0, frame.v("curl_r"), F32(-1.0))
                for cu, cv in _CURL_DIRS:
                    d = np.minimum(d, sd_circle(u - (rx + F32(0.012)) * F32(cu), v - (ry + F32(0.012)) * F32(cv) + F32(0.02), curl_r))
                canvas.paint(w, HAIR, frame.px(d), hair, opacity=(hair_style != 0) * 1.0)

        # Eyebrows: short arched strokes above each eye, mirrored tilt, hair colour.
        brow_v = p["eye_v"] - p["eye_r"] * (0.15 + 0.85 * p["eye_open"]) - p["brow_gap"]
        w, u, v = frame.window(0.0, brow_v, p["eye_dx"] + 0.08, half_height=0.075)
        if w is not None:
            bl = frame.v("brow_len")
            bu = np.abs(u) - frame.v("eye_dx")
            bv = v - frame.v_col(brow_v) + frame.v("brow_tilt") * bu
            arch = frame.v("brow_arch") * (bu * bu / bl - bl)
            d = sd_segment(bu, bv - arch, -bl, F32(0.0), bl, F32(0.0), frame.v("brow_thick"))
            canvas.paint(w, BROWS, frame.px(d), hair * F32(0.68))

        # Hat: beanie with band and pompom, or a brimmed hat.
        if p["has_hat"].any():
            w, u, v = frame.window(0.0, -0.2, head_rx + 0.12, half_height=0.2)
            if w is not None:
                hb = frame.v("hat_bottom")
                beanie_body = np.maximum(sd_ellipse(u, v + F32(0.012), rx + F32(0.032), ry + F32(0.035)), v - hb)
                band = np.maximum(beanie_body, hb - F32(0.045) - v)
                pompom = np.where(_col(p["hat_pompom"]) > 0, sd_circle(u, v + ry + F32(0.05), F32(0.04)), F32(1.0))
                brim = sd_ellipse(u, v - hb, rx + F32(0.085), F32(0.026))
                crown = sd_box(u, v - hb + F32(0.1), rx * F32(0.82), F32(0.1), F32(0.035))
                brim_band = np.maximum(crown, np.abs(v - hb + F32(0.03)) - F32(0.016))
                beanie = _col(p["hat_beanie"]) > 0
                hat_d = np.where(beanie, np.minimum(beanie_body, pompom), np.minimum(brim, crown))
                band_d = np.where(beanie, band, brim_band)
                canvas.paint(w, HAT, frame.px(hat_d), c["hat"], opacity=p["has_hat"])
                canvas.paint(w, HAT, frame.px(band_d), c["hat"] * F32(0.7), opacity=p["has_hat"])

        # Glasses: rims around both eyes, bridge and temples. Lenses stay clear.
        if p["has_glasses"].any():
            w, u, v = frame.window(0.0, p["eye_v"], head_rx + 0.03, half_height=p["eye_r"] * 1.6 + 0.03)
            if w is not None:
                gr = er * F32(1.42) + F32(0.006)
                au = np.abs(u)
                eu = au - frame.v("eye_dx")
                ev = v - frame.v("eye_v")
                rim_shape = np.where(_col(p["glasses_round"]) > 0, sd_circle(eu, ev, gr),
                                     sd_box(eu, ev, gr * F32(1.08), gr * F32(0.82), gr * F32(0.4)))
                t = F32(0.0105)
                rims = ring(rim_shape, t)
                inner_x = frame.v("eye_dx") - gr
                bridge = sd_segment(au, ev, F32(-0.01), F32(-0.008), inner_x + F32(0.004), F32(-0.004), t)
                temple = sd_segment(au, ev, frame.v("eye_dx") + gr * F32(0.95), F32(-0.01), rx + F32(0.01), F32(-0.02), t)
                d = np.minimum(np.minimum(rims, bridge), temple)
                canvas.paint(w, GLASSES, frame.px(d), c["frame"], opacity=p["has_glasses"])

        # Global directional lighting, shared by every part.
        lx = _col(p["light"][:, 0])
        ly = _col(p["light"][:, 1])
        shade = F32(1.0) + F32(2.0) * ((full.x - _col(p["pos_x"])) * lx + (full.y - _col(p["pos_y"])) * ly)
        return canvas.finish(shade)


_COLOURS = {"skin", "hair", "iris", "lip", "frame", "hat", "clothing", "background", "background2"}


def _cos(a: np.ndarray) -> np.ndarray:
    # Elementwise with Python's libm so the value never depends on SIMD lane position (batch invariance).
    return np.array([math.cos(x) for x in np.asarray(a, np.float64).reshape(-1)])


def _sin(a: np.ndarray) -> np.ndarray:
    return np.array([math.sin(x) for x in np.asarray(a, np.float64).reshape(-1)])


class _FaceFrame:
    """Per-batch face coordinate frame: head centre, scale and rotation.

    Face coordinates ``(u, v)`` are image units at scale 1 around the head centre, ``v`` pointing down the
    face. ``window(u0, v0, half_width, half_height)`` returns the batch window covering each sample's
    face-frame box (centre ``(u0, v0)``, ``[B]`` or scalars) and ``(u, v)`` on it, each ``[B, h, w]``.
    """

    def __init__(self, canvas: Canvas, params: Params):
        self.canvas = canvas
        self.params = params
        self.cx = np.asarray(params["pos_x"], np.float64)
        self.cy = np.asarray(params["pos_y"], np.float64)
        self.scale = np.asarray(params["scale"], np.float64)
        self.cos = _cos(params["rotation"])
        self.sin = _sin(params["rotation"])
        self._cos_s = _col(self.cos / self.scale)
        self._sin_s = _col(self.sin / self.scale)
        self._px = _col(self.scale * canvas.size)
        self._cache: dict[str, np.ndarray] = {}

    def v(self, name: str) -> np.ndarray:
        """Parameter ``name`` as a ``[B, 1, 1]`` float32 column."""
        if name not in self._cache:
            self._cache[name] = _col(self.params[name])
        return self._cache[name]

    @staticmethod
    def v_col(a: np.ndarray) -> np.ndarray:
        return _col(a)

    def px(self, d: np.ndarray) -> np.ndarray:
        """Face-unit distances -> pixels."""
        return d * self._px

    def window(
        self, u0: np.ndarray | float, v0: np.ndarray | float, half_width: np.ndarray | float,
        half_height: np.ndarray | float | None = None,
    ) -> tuple[Window | None, np.ndarray, np.ndarray]:
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
