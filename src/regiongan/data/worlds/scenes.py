"""``scenes``: flat-shaded landscapes in five biomes with 12 part labels.

Part labels (``ScenesWorld.part_names``):

====  ==========  ==============================================================
  id  name        what is painted with it
====  ==========  ==============================================================
   0  sky         vertical gradient (day, sunset or night); the backmost part
   1  sun         sun, or a crescent moon at night
   2  cloud       puffy clouds with flat bottoms
   3  mountain    far and near ranges of peaks (flat-topped mesas in the desert)
   4  snow        jagged snow caps on mountain peaks
   5  hill        rolling hills (meadow) or dunes (desert)
   6  water       sea (coast) or a lake / pond / oasis, with glints
   7  ground      grass, sand, beach or street
   8  tree        pines, round trees, cacti or palms (trunk and crown)
   9  rock        boulders
  10  building    city blocks and towers (spires, domes, antennas)
  11  window      building windows (lit at night)
====  ==========  ==============================================================

Classes (``class_names``; the biome sets palettes and which parts appear):
``alpine`` (snowy ranges, lake, pines, rocks), ``desert`` (mesas, dunes, cacti, big sun, rare oasis),
``coast`` (sea, beach, island, palms, rocks), ``meadow`` (hills, round trees, pond, many clouds),
``city`` (two rows of buildings with towers and windows, street, street trees).

Attributes (``ScenesWorld.attribute_names``): ``time_day, time_sunset, time_night`` (one-hot),
``horizon`` (y in [0, 1], down), ``has_sun, sun_x, sun_y, sun_size``, ``cloud_count``,
``has_far_mountains, has_near_mountains, mountain_height``, ``has_snow``, ``has_hills``, ``has_water``,
``ground_level``, ``tree_count``, ``rock_count``, ``building_count``, ``sky_top_r/g/b``,
``sky_horizon_r/g/b``, ``ground_r/g/b`` (RGB in [0, 1]).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np

from .base import Draws, Params, World
from .raster import Canvas, Window, sd_box, sd_circle, sd_ellipse, sd_segment, triangle_wave

__all__ = ["ScenesWorld"]

F32 = np.float32

PART_NAMES = ("sky", "sun", "cloud", "mountain", "snow", "hill", "water", "ground", "tree", "rock", "building", "window")
SKY, SUN, CLOUD, MOUNTAIN, SNOW, HILL, WATER, GROUND, TREE, ROCK, BUILDING, WINDOW = range(12)
CLASS_NAMES = ("alpine", "desert", "coast", "meadow", "city")
ALPINE, DESERT, COAST, MEADOW, CITY = range(5)
TIMES = ("day", "sunset", "night")

ATTRIBUTE_NAMES = (
    "time_day", "time_sunset", "time_night", "horizon",
    "has_sun", "sun_x", "sun_y", "sun_size", "cloud_count",
    "has_far_mountains", "has_near_mountains", "mountain_height", "has_snow", "has_hills", "has_water",
    "ground_level", "tree_count", "rock_count", "building_count",
    "sky_top_r", "sky_top_g", "sky_top_b", "sky_horizon_r", "sky_horizon_g", "sky_horizon_b",
    "ground_r", "ground_g", "ground_b",
)

N_PEAKS = 5
N_CLOUDS = 4
N_HILLS = 6  # first half: far row, second half: near row
N_TREES = 6
N_ROCKS = 3
N_BACK = 6  # back row of buildings
N_FRONT = 5  # front row of buildings (with towers)
CLOUD_BUMPS = ((-0.45, 0.2, 0.75), (0.1, 0.55, 1.0), (0.5, 0.25, 0.7))  # (dx / width, dy / r, radius / r)
PALM_FRONDS = [(math.cos(a), math.sin(a)) for a in (-2.7, -2.2, -1.6, -0.95, -0.45)]


RowWindow = Callable[[np.ndarray | float, np.ndarray | float], "Window | None"]  # rows y0..y1, full width
Lit = Callable[[Sequence[float] | np.ndarray], np.ndarray]  # colour -> colour under the time-of-day tint


def _rgb(*colors: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(colors, np.float64) / 255.0


# Per-time sky colours (top, horizon) and the tint applied to lit (non-emissive) surfaces.
SKY_TOP = _rgb((66, 124, 214), (74, 66, 140), (12, 16, 44))
SKY_HORIZON = _rgb((176, 214, 246), (250, 164, 112), (44, 54, 96))
TINT = _rgb((255, 255, 255), (250, 206, 190), (92, 102, 150))
# Per-biome base colours: ground, near mountain, far mountain, hill, tree crown, trunk, rock, water.
GROUND_COLOR = _rgb((96, 150, 70), (226, 190, 126), (232, 212, 156), (112, 176, 70), (104, 104, 112))
MOUNTAIN_NEAR = _rgb((104, 110, 128), (184, 98, 62), (92, 120, 110), (96, 130, 110), (110, 116, 132))
MOUNTAIN_FAR = _rgb((140, 156, 186), (214, 150, 110), (136, 160, 176), (140, 170, 180), (150, 160, 184))
HILL_COLOR = _rgb((90, 140, 80), (236, 186, 110), (200, 190, 140), (126, 186, 80), (120, 150, 100))
CROWN = _rgb((38, 92, 60), (84, 150, 70), (62, 150, 70), (56, 128, 50), (64, 130, 70))
TRUNK = _rgb((96, 64, 40), (84, 140, 66), (140, 100, 60), (110, 74, 44), (100, 70, 50))
ROCK_COLOR = _rgb((120, 120, 126), (160, 104, 70), (110, 106, 100), (130, 130, 124), (120, 120, 120))
WATER_COLOR = _rgb((70, 130, 170), (70, 150, 170), (40, 120, 190), (80, 140, 190), (70, 110, 150))
BUILDING_COLORS = _rgb((150, 156, 170), (196, 180, 160), (120, 132, 156), (176, 150, 130), (100, 110, 130),
                       (200, 200, 196), (150, 120, 110))


def _col(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, F32)[:, None, None]


class ScenesWorld(World):
    """Landscapes in five biomes (see the module docstring for parts, classes and attributes)."""

    name = "scenes"
    part_names = PART_NAMES
    attribute_names = ATTRIBUTE_NAMES
    class_names = CLASS_NAMES
    num_uniforms = 256

    # ---------------------------------------------------------------------------------------------------
    # Sampling
    # ---------------------------------------------------------------------------------------------------
    def _params_from_uniforms(self, d: Draws) -> Params:
        p: Params = {}
        cls = d.choice([1, 1, 1, 1, 1])
        time = d.choice([0.6, 0.25, 0.15])
        p["class_id"] = cls
        p["time"] = time
        B = len(cls)
        by = lambda *vals: np.asarray(vals, np.float64)[cls]  # noqa: E731  per-biome value

        p["horizon"] = d.uniform(0.5, 0.64) + by(0.0, 0.02, 0.02, 0.02, 0.06)
        tint = TINT[time] * (1.0 + 0.06 * (d.take(3) - 0.5))
        p["tint"] = tint
        p["sky_top"] = np.clip(SKY_TOP[time] + 0.06 * (d.take(3) - 0.5) + by(0, 0.05, 0, 0, 0)[:, None], 0, 1)
        p["sky_horizon"] = np.clip(SKY_HORIZON[time] + 0.06 * (d.take(3) - 0.5), 0, 1)

        p["has_sun"] = d.bernoulli(0.8)
        p["sun_x"] = d.uniform(0.12, 0.88)
        p["sun_y"] = d.uniform(0.1, 0.3) + (time == 1) * d.uniform(0.0, 0.12)
        p["sun_r"] = d.uniform(0.045, 0.07) * by(1.0, 1.35, 1.0, 1.0, 0.9)
        sun_day = np.asarray([[1.0, 0.96, 0.7], [1.0, 0.62, 0.3], [0.95, 0.95, 0.85]])
        p["sun_color"] = sun_day[time]

        cover = d.take() * by(0.7, 0.35, 0.8, 1.0, 0.7)
        p["cloud_on"] = (d.take(N_CLOUDS) < cover[:, None]).astype(np.float64)
        p["cloud_x"] = (np.arange(N_CLOUDS) + d.uniform(0.1, 0.9, N_CLOUDS)) / N_CLOUDS * 1.1 - 0.05
        p["cloud_y"] = d.uniform(0.08, 0.3, N_CLOUDS)
        p["cloud_w"] = d.uniform(0.05, 0.1, N_CLOUDS)
        p["cloud_r"] = d.uniform(0.025, 0.04, N_CLOUDS)
        p["cloud_color"] = np.clip(np.asarray([[1.0, 1.0, 1.0], [1.0, 0.85, 0.8], [0.45, 0.48, 0.6]])[time]
                                   - 0.04 * d.take()[:, None], 0, 1)

        # Mountains: two ranges of peaks (cones), optionally flat-topped (mesas) and snow-capped.
        p["far_on"] = d.bernoulli(by(1.0, 0.5, 0.5, 0.6, 0.3))
        p["near_on"] = d.bernoulli(by(1.0, 0.9, 0.0, 0.0, 0.0))
        height = by(0.34, 0.3, 0.1, 0.14, 0.18) * d.uniform(0.8, 1.2)
        p["mountain_height"] = height
        for row, hscale in (("far", 1.0), ("near", 0.65)):
            px = (np.arange(N_PEAKS) + d.uniform(0.15, 0.85, N_PEAKS)) / N_PEAKS * 1.2 - 0.1
            p[f"{row}_px"] = px
            p[f"{row}_py"] = p["horizon"][:, None] - height[:, None] * hscale * d.uniform(0.55, 1.0, N_PEAKS)
            slope_lo = by(1.0, 1.6, 0.5, 0.45, 0.7)
            slope_hi = by(1.9, 3.0, 0.9, 0.8, 1.2)
            p[f"{row}_slope"] = slope_lo[:, None] + (slope_hi - slope_lo)[:, None] * d.take(N_PEAKS)
            p[f"{row}_cut"] = (cls == DESERT)[:, None] * d.uniform(0.02, 0.06, N_PEAKS)  # mesa flat tops
        p["snow_on"] = (cls == ALPINE) * d.bernoulli(0.9)
        p["snow_depth"] = d.uniform(0.04, 0.08)
        p["snow_freq"] = d.uniform(25.0, 45.0)

        # Hills / dunes: two rows (far, near) of wide ellipses whose tops rise above the horizon.
        p["hills_on"] = d.bernoulli(by(0.0, 0.85, 0.0, 1.0, 0.0))
        p["hill_x"] = (np.arange(N_HILLS) % 3 + d.uniform(0.0, 1.0, N_HILLS)) / 3 * 1.2 - 0.1
        p["hill_rx"] = d.uniform(0.16, 0.32, N_HILLS)
        p["hill_ry"] = d.uniform(0.07, 0.14, N_HILLS) * by(1.0, 0.8, 1.0, 1.0, 1.0)[:, None]
        near = np.arange(N_HILLS) >= N_HILLS // 2
        p["hill_top"] = p["horizon"][:, None] - np.where(near, d.uniform(-0.06, 0.02, N_HILLS), d.uniform(0.03, 0.13, N_HILLS))

        # Ground line: y = ground_level + ground_tilt * (x - 0.5); beach (coast) is steep and low.
        p["ground_level"] = np.where(cls == COAST, d.uniform(0.76, 0.88), p["horizon"] + d.uniform(0.06, 0.16))
        p["ground_level"] = np.where(cls == CITY, np.maximum(p["ground_level"], 0.78), p["ground_level"])
        p["ground_tilt"] = d.uniform(-1.0, 1.0) * by(0.08, 0.08, 0.3, 0.1, 0.0)

        # Water: the sea (coast) or an elliptic lake between the horizon and the ground line.
        p["water_on"] = np.where(cls == COAST, 1.0, d.bernoulli(by(0.5, 0.12, 1.0, 0.35, 0.0)))
        p["lake_x"] = d.uniform(0.25, 0.75)
        p["lake_rx"] = d.uniform(0.2, 0.45)
        p["lake_ry"] = d.uniform(0.035, 0.06)
        p["glint_shift"] = d.uniform(-0.2, 0.2)

        p["tree_on"] = (d.take(N_TREES) < by(0.7, 0.3, 0.35, 0.6, 0.3)[:, None]).astype(np.float64)
        p["tree_x"] = (np.arange(N_TREES) + d.uniform(0.05, 0.95, N_TREES)) / N_TREES
        p["tree_dy"] = d.uniform(0.01, 0.12, N_TREES)
        p["tree_h"] = d.uniform(0.1, 0.2, N_TREES) * by(1.0, 0.8, 1.2, 0.9, 0.7)[:, None]
        p["rock_on"] = (d.take(N_ROCKS) < by(0.4, 0.5, 0.5, 0.15, 0.0)[:, None]).astype(np.float64)
        p["rock_x"] = (np.arange(N_ROCKS) + d.uniform(0.1, 0.9, N_ROCKS)) / N_ROCKS
        p["rock_dy"] = d.uniform(0.02, 0.12, N_ROCKS)
        p["rock_r"] = d.uniform(0.025, 0.05, N_ROCKS)

        # City: a back row of tall blocks and a front row with towers.
        city = (cls == CITY).astype(np.float64)
        p["back_on"] = city[:, None] * (d.take(N_BACK) < 0.9)
        p["back_x"] = (np.arange(N_BACK) + d.uniform(0.25, 0.75, N_BACK)) / N_BACK
        p["back_hw"] = d.uniform(0.05, 0.085, N_BACK)
        p["back_top"] = p["ground_level"][:, None] - d.uniform(0.35, 0.6, N_BACK)
        p["back_color"] = d.take(N_BACK)
        p["front_on"] = city[:, None] * (d.take(N_FRONT) < 0.85)
        p["front_x"] = (np.arange(N_FRONT) + d.uniform(0.2, 0.8, N_FRONT)) / N_FRONT
        p["front_hw"] = d.uniform(0.05, 0.09, N_FRONT)
        p["front_top"] = p["ground_level"][:, None] - d.uniform(0.15, 0.4, N_FRONT)
        p["front_color"] = d.take(N_FRONT)
        p["tower"] = (d.take(N_FRONT) * 4).astype(np.int64)  # 0 flat, 1 spire, 2 dome, 3 antenna
        p["window_pitch"] = d.uniform(0.045, 0.06)
        p["windows_lit"] = (time == 2) | ((time == 1) & (d.take() < 0.5))

        p["ground"] = np.clip(GROUND_COLOR[cls] + 0.08 * (d.take(3) - 0.5), 0, 1)
        jitter = 0.06 * (d.take(3) - 0.5)
        for key, table in [("mountain_near", MOUNTAIN_NEAR), ("mountain_far", MOUNTAIN_FAR), ("hill", HILL_COLOR),
                           ("crown", CROWN), ("trunk", TRUNK), ("rock", ROCK_COLOR), ("water", WATER_COLOR)]:
            p[key] = np.clip(table[cls] + jitter, 0, 1)
        assert len(p["class_id"]) == B
        return p

    def attributes(self, params: Params) -> np.ndarray:
        p = params
        has_hills = p["hills_on"]
        cols = [
            *np.eye(3)[p["time"]].T, p["horizon"], p["has_sun"], p["sun_x"], p["sun_y"], p["sun_r"],
            p["cloud_on"].sum(1), p["far_on"], p["near_on"], p["mountain_height"], p["snow_on"] * 1.0, has_hills,
            p["water_on"], p["ground_level"], p["tree_on"].sum(1), p["rock_on"].sum(1),
            p["back_on"].sum(1) + p["front_on"].sum(1),
            *p["sky_top"].T, *p["sky_horizon"].T, *(p["ground"] * p["tint"]).T,
        ]
        out = np.stack(cols, axis=1).astype(np.float32)
        assert out.shape[1] == len(ATTRIBUTE_NAMES)
        return out

    def class_ids(self, params: Params) -> np.ndarray:
        return np.asarray(params["class_id"], np.int64)

    # ---------------------------------------------------------------------------------------------------
    # Rendering
    # ---------------------------------------------------------------------------------------------------
    def _render(self, params: Params, size: int, part_colors: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        # Each biome is rendered as its own sub-batch, so a batch never pays for parts (buildings, palms,
        # cacti...) that none of its samples in that biome can show. Samples stay independent of batching.
        cls = np.asarray(params["class_id"])
        images = np.empty((len(cls), size, size, 3), np.uint8)
        labels = np.empty((len(cls), size, size), np.uint8)
        for biome in np.unique(cls):
            idx = np.flatnonzero(cls == biome)
            sub = {k: np.asarray(v)[idx] for k, v in params.items()}
            images[idx], labels[idx] = self._render_biome(sub, size, part_colors, int(biome))
        return images, labels

    def _render_biome(
        self, params: Params, size: int, part_colors: Mapping[int, np.ndarray], biome: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render samples that all belong to class ``biome``."""
        p = params
        B = len(p["class_id"])
        canvas = Canvas(B, size, part_colors)
        px = F32(size)
        tint = np.asarray(p["tint"], F32)
        lit = lambda rgb: np.asarray(rgb, F32) * tint  # noqa: E731  surfaces lit by the sun / sky
        zeros = np.zeros(B)
        ones = np.ones(B)

        def rows(y0: np.ndarray | float, y1: np.ndarray | float) -> Window | None:
            return canvas.window(zeros, ones, zeros + y0, zeros + y1)

        horizon = _col(p["horizon"])
        ground_level = _col(p["ground_level"])
        ground_tilt = _col(p["ground_tilt"])

        # Sky gradient (top -> horizon), plus a soft glow around the sun that stays "sky".
        full = canvas.full_window()
        t = np.clip(full.y / horizon, 0.0, 1.0)
        top = np.asarray(p["sky_top"], F32)[:, None, None, :]
        bottom = np.asarray(p["sky_horizon"], F32)[:, None, None, :]
        canvas.fill(top + (bottom - top) * (t * t)[..., None], SKY)

        sx, sy, sr = _col(p["sun_x"]), _col(p["sun_y"]), _col(p["sun_r"])
        w = canvas.window(p["sun_x"] - 2.5 * p["sun_r"], p["sun_x"] + 2.5 * p["sun_r"],
                          p["sun_y"] - 2.5 * p["sun_r"], p["sun_y"] + 2.5 * p["sun_r"])
        if w is not None:
            glow = sd_circle(w.x - sx, w.y - sy, sr * F32(2.2))
            glow_color = np.asarray(p["sky_horizon"], F32) * F32(0.5) + np.asarray(p["sun_color"], F32) * F32(0.5)
            canvas.paint(w, SKY, glow * (px * F32(0.12)), glow_color, opacity=0.35 * p["has_sun"], relabel=False)
            disc = sd_circle(w.x - sx, w.y - sy, sr)
            night = _col(p["time"] == 2)
            bite = sd_circle(w.x - sx - sr * F32(0.45), w.y - sy + sr * F32(0.2), sr * F32(0.85))
            body = np.where(night > 0, np.maximum(disc, -bite), disc)
            canvas.paint(w, SUN, body * px, p["sun_color"], opacity=p["has_sun"])

        # Clouds: a capsule with three bumps, flat bottom.
        w = rows(0.0, 0.42)
        if w is not None and p["cloud_on"].any():
            d = np.full((B, 1, 1), 1.0, F32)
            for k in range(N_CLOUDS):
                cx, cy = _col(p["cloud_x"][:, k]), _col(p["cloud_y"][:, k])
                cw = _col(p["cloud_w"][:, k])
                cr = np.where(_col(p["cloud_on"][:, k]) > 0, _col(p["cloud_r"][:, k]), F32(-1.0))
                dx, dy = w.x - cx, w.y - cy
                c = sd_segment(dx, dy, -cw, F32(0.0), cw, F32(0.0), cr * F32(0.7))
                for bx, by_, br in CLOUD_BUMPS:
                    c = np.minimum(c, sd_circle(dx - cw * F32(bx), dy + cr * F32(by_), cr * F32(br)))
                c = np.maximum(c, dy - cr * F32(0.6))
                d = np.minimum(d, c)
            canvas.paint(w, CLOUD, d * px, p["cloud_color"])

        # Mountain ranges (far then near): union of cones, shadowed right flanks, snow caps.
        for row, color_key, shade_amount in (("far", "mountain_far", 0.88), ("near", "mountain_near", 0.8)):
            on = p[f"{row}_on"]
            if not on.any():
                continue
            top_y = (p[f"{row}_py"]).min(1)
            w = rows(top_y, p["horizon"] + 0.3)
            if w is None:
                continue
            body = np.full((B, 1, 1), 1.0, F32)
            shadow = np.full((B, 1, 1), 1.0, F32)
            snow = np.full((B, 1, 1), 1.0, F32)
            for k in range(N_PEAKS):
                pxk, pyk = _col(p[f"{row}_px"][:, k]), _col(p[f"{row}_py"][:, k])
                s = _col(p[f"{row}_slope"][:, k])
                cut = _col(p[f"{row}_cut"][:, k])
                dx = w.x - pxk
                cone = (pyk + s * np.abs(dx) - w.y) / np.sqrt(F32(1.0) + s * s)
                cone = np.maximum(cone, pyk + cut - w.y)
                body = np.minimum(body, cone)
                shadow = np.minimum(shadow, np.maximum(cone, -dx))
                line = pyk + _col(p["snow_depth"]) - F32(0.02) * triangle_wave(w.x * _col(p["snow_freq"]))
                snow = np.minimum(snow, np.maximum(cone, w.y - line))
            canvas.paint(w, MOUNTAIN, body * px, lit(p[color_key]), opacity=on)
            canvas.paint(w, MOUNTAIN, shadow * px, lit(p[color_key]) * F32(shade_amount), opacity=on)
            snow_on = on * p["snow_on"]
            if snow_on.any():
                canvas.paint(w, SNOW, snow * px, lit([0.96, 0.97, 1.0]) * np.ones((B, 1), F32), opacity=snow_on)

        # Hills / dunes: far row (lighter), then near row.
        if p["hills_on"].any():
            w = rows(p["hill_top"].min(1), 1.0)
            if w is not None:
                half = N_HILLS // 2
                for ks, brightness in ((range(half), 1.12), (range(half, N_HILLS), 0.95)):
                    d = np.full((B, 1, 1), 1.0, F32)
                    for k in ks:
                        ry = _col(p["hill_ry"][:, k])
                        dy = w.y - _col(p["hill_top"][:, k]) - ry
                        d = np.minimum(d, sd_ellipse(w.x - _col(p["hill_x"][:, k]), dy, _col(p["hill_rx"][:, k]), ry))
                    d = np.minimum(d, horizon + F32(0.06) - w.y)
                    canvas.paint(w, HILL, d * px, lit(p["hill"]) * F32(brightness), opacity=p["hills_on"])

        # Water: sea below the horizon (coast) or a lake ellipse resting on the horizon.
        if p["water_on"].any():
            w = rows(p["horizon"] - 0.01, 1.0)
            if w is not None:
                sea = horizon - w.y
                lake = sd_ellipse(w.x - _col(p["lake_x"]), w.y - horizon - _col(p["lake_ry"]) * F32(0.6),
                                  _col(p["lake_rx"]), _col(p["lake_ry"]))
                lake = np.maximum(lake, horizon - w.y)
                d = sea + np.zeros_like(lake) if biome == COAST else lake
                depth = np.clip((w.y - horizon) * F32(4.0), 0.0, 1.0)
                water = np.asarray(lit(p["water"]), F32)[:, None, None, :]
                field = water * (F32(0.8) + F32(0.3) * depth)[..., None]
                canvas.paint(w, WATER, d * px, field, opacity=p["water_on"])
                # Glints: short bright dashes on the water just below the horizon.
                g = rows(p["horizon"], p["horizon"] + 0.12)
                if g is not None:
                    gd = np.full((B, 1, 1), 1.0, F32)
                    shift = _col(p["glint_shift"])
                    for gx, gy in ((0.3, 0.03), (0.62, 0.06), (0.45, 0.1), (0.8, 0.035)):
                        gd = np.minimum(gd, sd_box(g.x - F32(gx) - shift, g.y - horizon - F32(gy), F32(0.05), F32(0.004)))
                    sea_or_lake = d[:, g.rows.start - w.rows.start : g.rows.stop - w.rows.start]
                    canvas.paint(g, WATER, np.maximum(gd, sea_or_lake) * px, lit(p["water"]) * F32(1.35),
                                 opacity=p["water_on"])

        # Ground.
        w = rows(p["ground_level"] - np.abs(p["ground_tilt"]) * 0.5 - 0.01, 1.0)
        if w is not None:
            gline = ground_level + ground_tilt * (w.x - F32(0.5))
            d = (gline - w.y) / np.sqrt(F32(1.0) + ground_tilt * ground_tilt)
            depth = np.clip((w.y - gline) * F32(3.0), 0.0, 1.0)
            ground = np.asarray(lit(p["ground"]), F32)[:, None, None, :]
            canvas.paint(w, GROUND, d * px, ground * (F32(1.0) - F32(0.12) * depth)[..., None])
            if biome == CITY:  # a kerb line along the street
                curb = np.maximum(np.abs(w.y - gline - F32(0.03)) - F32(0.008), d)
                canvas.paint(w, GROUND, curb * px, lit(p["ground"]) * F32(1.2))

        # City buildings: back row, its windows, front row with towers, its windows.
        if biome == CITY:
            self._paint_buildings(canvas, p, "back", rows, lit, px)
            self._paint_buildings(canvas, p, "front", rows, lit, px)

        # Rocks: half-buried boulders.
        if p["rock_on"].any():
            base = p["ground_level"][:, None] + p["ground_tilt"][:, None] * (p["rock_x"] - 0.5) + p["rock_dy"]
            w = rows((base - p["rock_r"]).min(1), 1.0)
            if w is not None:
                d = np.full((B, 1, 1), 1.0, F32)
                hl = np.full((B, 1, 1), 1.0, F32)
                for k in range(N_ROCKS):
                    r = _col(p["rock_r"][:, k])
                    dx, dy = w.x - _col(p["rock_x"][:, k]), w.y - _col(base[:, k])
                    rock = np.maximum(sd_ellipse(dx, dy, r * F32(1.3), r), dy - r * F32(0.3))
                    rock = np.where(_col(p["rock_on"][:, k]) > 0, rock, F32(1.0))
                    d = np.minimum(d, rock)
                    hl = np.minimum(hl, np.maximum(rock, dx + r * F32(0.2)))
                canvas.paint(w, ROCK, d * px, lit(p["rock"]))
                canvas.paint(w, ROCK, hl * px, lit(p["rock"]) * F32(1.18))

        # Trees: crown style follows the biome.
        if p["tree_on"].any():
            self._paint_trees(canvas, p, rows, lit, px, biome)

        return canvas.finish()

    # ---------------------------------------------------------------------------------------------------
    def _paint_buildings(self, canvas: Canvas, p: Params, row: str, rows: RowWindow, lit: Lit, px: np.float32) -> None:
        """One row ("back" or "front") of buildings, each with its own colour, then that row's windows."""
        B = canvas.batch
        n = N_BACK if row == "back" else N_FRONT
        w = rows(p[f"{row}_top"].min(1) - 0.12, p["ground_level"] + 0.05)
        if w is None:
            return
        base = _col(p["ground_level"]) + F32(0.02)
        pitch = _col(p["window_pitch"])
        lit_windows = _col(p["windows_lit"])
        win_color = np.where(p["windows_lit"][:, None], np.asarray([1.0, 0.86, 0.45]), lit([0.62, 0.74, 0.86]))
        windows = np.full((B, 1, 1), 1.0, F32)
        dark = F32(0.72) if row == "back" else F32(1.0)
        for k in range(n):
            on = p[f"{row}_on"][:, k]
            if not on.any():
                continue
            cx, hw = _col(p[f"{row}_x"][:, k]), _col(p[f"{row}_hw"][:, k])
            top = _col(p[f"{row}_top"][:, k])
            hh = (base - top) * F32(0.5)
            dx, dy = w.x - cx, w.y - top - hh
            body = sd_box(dx, dy, hw, hh)
            if row == "front":
                kind = _col(p["tower"][:, k])  # 0 flat, 1 spire, 2 dome, 3 antenna
                spire = np.maximum((np.abs(dx) * F32(2.5) - (w.y - top + hw * F32(2.2))) / F32(2.7), w.y - top - F32(0.001))
                dome = np.maximum(sd_circle(dx, w.y - top, hw * F32(0.75)), w.y - top - F32(0.001))
                antenna = sd_segment(dx, w.y - top, F32(0.0), F32(0.0), F32(0.0), -hw * F32(1.2), F32(0.006))
                extra = np.where(kind == 1, spire, np.where(kind == 2, dome, np.where(kind == 3, antenna, F32(1.0))))
                body = np.minimum(body, extra)
            color = np.asarray(lit(BUILDING_COLORS[(p[f"{row}_color"][:, k] * len(BUILDING_COLORS)).astype(int)]), F32)
            canvas.paint(w, BUILDING, body * px, color * dark, opacity=on)
            # Windows on a lattice anchored at the building (centre, roof), inset from the walls.
            fx = (w.x - cx) / pitch
            fy = (w.y - top) / pitch
            cell = np.maximum(np.abs(fx - np.floor(fx) - F32(0.5)) - F32(0.22),
                              np.abs(fy - np.floor(fy) - F32(0.5)) - F32(0.25)) * pitch
            inset = sd_box(dx, dy, hw - F32(0.012), hh - F32(0.02))
            inset = np.maximum(inset, top + F32(0.02) - w.y)
            win = np.where(_col(on) > 0, np.maximum(cell, inset), F32(1.0))
            windows = np.minimum(windows, win)
        canvas.paint(w, WINDOW, windows * px, win_color * np.where(lit_windows[:, 0, 0, None] > 0, 1.0, float(dark)))

    def _paint_trees(self, canvas: Canvas, p: Params, rows: RowWindow, lit: Lit, px: np.float32, biome: int) -> None:
        """All trees of a sample as one crown layer over one trunk layer, shaped by the biome."""
        B = canvas.batch
        base = p["ground_level"][:, None] + p["ground_tilt"][:, None] * (p["tree_x"] - 0.5) + p["tree_dy"]
        w = rows((base - p["tree_h"] * 1.2).min(1), 1.0)
        if w is None:
            return
        trunk = np.full((B, 1, 1), 1.0, F32)
        crown = np.full((B, 1, 1), 1.0, F32)
        for k in range(N_TREES):
            on = _col(p["tree_on"][:, k]) > 0
            h = _col(p["tree_h"][:, k])
            dx, dy = w.x - _col(p["tree_x"][:, k]), w.y - _col(base[:, k])  # dy = 0 at the foot, negative above
            c, t = _tree_shape(biome, dx, dy, h)
            crown = np.minimum(crown, np.where(on, c, F32(1.0)))
            trunk = np.minimum(trunk, np.where(on, t, F32(1.0)))
        canvas.paint(w, TREE, trunk * px, lit(p["trunk"]))
        canvas.paint(w, TREE, crown * px, lit(p["crown"]))


def _tree_shape(biome: int, dx: np.ndarray, dy: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed distances (crown, trunk) of the biome's tree, foot at ``dy = 0``, height ``h`` (``[B, 1, 1]``)."""
    if biome == ALPINE:  # pine: two stacked triangles on a short trunk
        tri1 = np.maximum((np.abs(dx) * F32(2.6) - (dy + h)) / F32(2.78), dy + h * F32(0.18))
        tri2 = np.maximum((np.abs(dx) * F32(2.6) - (dy + h * F32(0.7))) / F32(2.78), dy + h * F32(0.42))
        return np.minimum(tri1, tri2), sd_box(dx, dy + h * F32(0.08), h * F32(0.05), h * F32(0.09))
    if biome == DESERT:  # cactus: a column with two elbow arms, no separate trunk
        cw = h * F32(0.09)
        arm = cw * F32(0.8)
        c = sd_segment(dx, dy, F32(0.0), F32(0.0), F32(0.0), -h * F32(0.85), cw)
        for x_arm, top, elbow in ((-0.28, -0.7, -0.38), (0.26, -0.58, -0.3)):
            c = np.minimum(c, sd_segment(dx, dy, h * F32(x_arm), h * F32(top), h * F32(x_arm), h * F32(elbow), arm))
            c = np.minimum(c, sd_segment(dx, dy, h * F32(x_arm), h * F32(elbow), F32(0.0), h * F32(elbow), arm))
        return c, np.full_like(c, F32(1.0))
    if biome == COAST:  # palm: a leaning trunk and five fronds
        lean = h * F32(0.18)
        trunk = sd_segment(dx, dy, F32(0.0), F32(0.0), lean, -h, h * F32(0.045))
        fronds = np.full_like(trunk, F32(1.0))
        for fx, fy in PALM_FRONDS:
            tip_x, tip_y = h * F32(0.42 * fx), h * F32(0.42 * fy + 0.12)
            fronds = np.minimum(fronds, sd_segment(dx - lean, dy + h, F32(0.0), F32(0.0), tip_x, tip_y, h * F32(0.05)))
        return fronds, trunk
    # meadow and city: a round crown of three circles on a trunk
    r = h * F32(0.28)
    crown = np.minimum(sd_circle(dx, dy + h * F32(0.68), r),
                       np.minimum(sd_circle(dx - r * F32(0.6), dy + h * F32(0.55), r * F32(0.75)),
                                  sd_circle(dx + r * F32(0.6), dy + h * F32(0.55), r * F32(0.75))))
    return crown, sd_box(dx, dy + h * F32(0.25), h * F32(0.055), h * F32(0.25))
