"""Layer selections (regiongan.layer_selection): presets, ranges, names, rows of ws and spills."""

from __future__ import annotations

import pytest

from regiongan.layer_selection import layer_rows, parse_layers, preset_ranges, select_layers, spilled_layers

from .conftest import tiny_stylegan2


def test_layer_ranges_map_to_control_points_by_resolution():
    G = tiny_stylegan2()
    points = G.control_points()
    names = [points[i].name for i in select_layers(G, (8, 16))]
    assert names == [p.name for p in points if 8 <= p.resolution <= 16]
    assert "b8.conv0" in names and "b16.torgb" in names and "b4.conv1" not in names
    assert select_layers(G, None) == select_layers(G, "all") == list(range(len(points)))
    assert select_layers(G, ["b32.torgb", 0]) == [0, len(points) - 1]


def test_presets_and_parse_layers():
    assert preset_ranges(1024) == {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1024)}
    assert preset_ranges(256)["fine"] == (64, 256)
    assert preset_ranges(64) == {"coarse": (4, 8), "middle": (16, 16), "fine": (32, 64)}
    assert preset_ranges(32) == {"coarse": (4, 4), "middle": (8, 8), "fine": (16, 32)}
    assert parse_layers("8-64") == (8, 64) and parse_layers("32") == (32, 32) and parse_layers("fine") == "fine"
    assert parse_layers("b32.conv0, b32.torgb") == ["b32.conv0", "b32.torgb"]
    with pytest.raises(ValueError, match="cannot read layer selection"):
        parse_layers("eyes")


def test_rows_and_spills():
    """In StyleGAN2 b{r}.torgb reads the same row of ws as b{2r}.conv0: selecting one moves the other."""
    G = tiny_stylegan2()
    points = {p.name: p for p in G.control_points()}
    assert points["b8.torgb"].w_index == points["b16.conv0"].w_index
    assert spilled_layers(G, ["b8.torgb"]) == ["b16.conv0"]
    assert spilled_layers(G, ["b8.torgb", "b16.conv0"]) == []
    assert spilled_layers(G, "all") == []
    assert layer_rows(G, ["b8.torgb"]) == (points["b8.torgb"].w_index,)
    # a resolution range ending at 16 leaves out b32.conv0, which shares b16.torgb's row
    assert spilled_layers(G, (4, 16)) == ["b32.conv0"]
