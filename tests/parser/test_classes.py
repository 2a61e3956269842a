"""The class scorer: region features, training, the shipped scenes scorer, the file format, errors."""

from __future__ import annotations

import json

import pytest
import torch

from regiongan.data.worlds import get_world
from regiongan.parser import load_parser
from regiongan.parser.classes import (
    evaluate_class_scorer, load_class_scorer, random_boxes, region_features, save_class_scorer, train_class_scorer,
)  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def parser():
    return load_parser("parser-scenes-64")


def _scenes(n: int, seed: int = 0):
    images, _, _, classes = get_world("scenes").sample_batch(seed, 0, n, 64)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1), torch.as_tensor(classes)


def test_region_features_pool_only_inside_the_region(parser):
    x, _ = _scenes(2)
    left = torch.zeros(2, 1, 64, 64)
    left[..., :32] = 1
    whole = region_features(parser, x, torch.ones(2, 1, 64, 64))
    assert torch.allclose(whole, parser.features(x), atol=1e-5)  # an all-ones region is the global pool
    assert not torch.allclose(region_features(parser, x, left), whole, atol=1e-3)
    with pytest.raises(ValueError, match=r"region\(s\) \[1\] cover no pixel"):
        region_features(parser, x, torch.cat([left[:1], torch.zeros(1, 1, 64, 64)]))
    with pytest.raises(ValueError, match=r"masks must be \[N, 1, H, W\] = \[2, 1, 64, 64\]"):
        region_features(parser, x, torch.ones(2, 64, 64))


def test_boxes_cover_the_drawn_area_and_are_deterministic():
    a = random_boxes(50, 32, torch.Generator().manual_seed(0))
    b = random_boxes(50, 32, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    area = a.mean(dim=(1, 2, 3))
    assert float(area.min()) >= 0.05 and float(area.max()) == 1.0


def test_the_shipped_scorer_names_the_biome_of_whole_images_and_regions():
    scorer = load_class_scorer("classes-scenes-64")
    assert scorer.class_names == ("alpine", "desert", "coast", "meadow", "city")
    x, truth = _scenes(40, seed=7)
    assert float((scorer.score(x).argmax(1) == truth).float().mean()) >= 0.95
    # a region pasted from another biome is scored as that biome (lower half: ground, water, buildings)
    lower = torch.zeros(40, 1, 64, 64)
    lower[..., 32:, :] = 1
    perm = torch.roll(torch.arange(40), 1)
    pasted = x * (1 - lower) + x[perm] * lower
    assert float((scorer.score(pasted, lower).argmax(1) == truth[perm]).float().mean()) >= 0.7
    assert scorer.class_id("city") == 4 and scorer.class_id(2) == 2
    with pytest.raises(ValueError, match=r"unknown class 'tundra'; classes are \['alpine'"):
        scorer.class_id("tundra")


def test_training_is_deterministic_and_saves_and_loads(tmp_path, parser):
    a = train_class_scorer(parser, "scenes", samples=60, seed=5, steps=20)
    b = train_class_scorer(parser, "scenes", samples=60, seed=5, steps=20)
    assert torch.equal(a.linear.weight, b.linear.weight)
    a.config["parser"] = "parser-scenes-64"
    out = save_class_scorer(a, tmp_path / "scorer")
    assert set(p.name for p in out.iterdir()) == {"config.json", "model.safetensors"}
    c = load_class_scorer(out)
    assert torch.equal(c.linear.weight, a.linear.weight)
    assert "part_parser" not in dict(c.named_modules())  # the parser's weights are not the scorer's
    assert evaluate_class_scorer(c, count=20)["whole_image_accuracy"] > 0.5


def test_a_tampered_scorer_is_refused_in_one_line(tmp_path, parser):
    out = save_class_scorer(train_class_scorer(parser, "scenes", samples=20, steps=5), tmp_path / "s")
    meta = json.loads((out / "config.json").read_text())
    meta["config"]["feature_dim"] = 64
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="linear.weight"):
        load_class_scorer(out)
    meta["model_type"] = "part-parser"
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not 'class-scorer'"):
        load_class_scorer(out)
    with pytest.raises(FileNotFoundError, match="no class scorer"):
        load_class_scorer(tmp_path / "absent")
