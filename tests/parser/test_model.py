"""PartParser: shapes, masks, errors, batch == single, config."""

from __future__ import annotations

import json

import pytest
import torch

from regiongan.data.worlds import get_world
from regiongan.parser import PartParser, images_to_tensor
from regiongan.regions import Region

FACES = get_world("faces")


def faces(n: int = 4, size: int = 32) -> torch.Tensor:
    return images_to_tensor(FACES.sample_batch(0, 0, n, size)[0])


def test_forward_shapes(parser):
    x = faces(3)
    out = parser(x)
    assert out.logits.shape == (3, 14, 32, 32)
    assert out.attributes.shape == (3, len(FACES.attribute_names))
    assert out.features.shape == (3, parser.feature_dim) == (3, 32)
    torch.testing.assert_close(parser.features(x), out.features)
    labels = parser.parse(x)
    assert labels.shape == (3, 32, 32) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) < 14
    assert parser.predict_attributes(x).shape == (3, len(FACES.attribute_names))
    assert parser.part_names == FACES.part_names


def test_images_to_tensor_range():
    x = faces(2, 16)
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


def test_part_masks_match_parse(parser):
    x = faces(2)
    labels = parser.parse(x)
    mouth = parser.part_masks(x, "mouth")
    assert mouth.shape == (2, 1, 32, 32) and mouth.dtype == torch.float32
    torch.testing.assert_close(mouth[:, 0], (labels == FACES.part_names.index("mouth")).float())
    eyes = parser.part_masks(x, ["eye_left", "eye_right"])
    expected = parser.part_masks(x, "eye_left") + parser.part_masks(x, "eye_right")
    torch.testing.assert_close(eyes, expected)
    soft = parser.part_probabilities(x, ["skin", "hair"])
    assert soft.shape == (2, 1, 32, 32) and float(soft.min()) >= 0 and float(soft.max()) <= 1
    everything = parser.part_probabilities(x, list(FACES.part_names))
    torch.testing.assert_close(everything, torch.ones_like(everything))
    Region(parser.part_masks(x, "background"))  # masks are valid regions


def test_part_masks_unknown_part_lists_names(parser):
    with pytest.raises(ValueError, match=r"unknown part.*'moustache'.*parts are \['background', 'clothing'"):
        parser.part_masks(faces(1), "moustache")
    with pytest.raises(ValueError, match="unknown part"):
        parser.part_masks(faces(1), ["mouth", "tail"])
    with pytest.raises(ValueError, match="no part given"):
        parser.part_masks(faces(1), [])
    with pytest.raises(ValueError, match="unknown part"):
        parser.part_probabilities(faces(1), "moustache")


def test_bad_images_explain_what_was_expected(parser):
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        parser.parse(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="multiples of 4"):
        parser.parse(torch.zeros(1, 3, 30, 30))
    with pytest.raises(ValueError, match="float tensor"):
        parser.parse(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_bad_config():
    with pytest.raises(ValueError, match="distinct"):
        PartParser(["a", "a"])
    with pytest.raises(ValueError, match="channels"):
        PartParser(["a", "b"], channels=[8])


def test_batch_equals_single(parser):
    x = faces(3)
    batched = parser(x)
    for i in range(3):
        single = parser(x[i : i + 1])
        torch.testing.assert_close(single.logits, batched.logits[i : i + 1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(single.features, batched.features[i : i + 1], atol=1e-5, rtol=1e-5)


def test_config_rebuilds_the_architecture(parser):
    cfg = json.loads(json.dumps(parser.config))  # JSON-serialisable
    clone = PartParser(**cfg)
    assert clone.config == parser.config
    assert {k: v.shape for k, v in clone.state_dict().items()} == {k: v.shape for k, v in parser.state_dict().items()}


def test_parameter_count_of_default_faces_parser():
    p = PartParser(FACES.part_names, FACES.attribute_names, channels=(16, 32, 64, 128))
    n = sum(t.numel() for t in p.parameters())
    assert 200_000 <= n <= 1_000_000
    assert p.feature_dim == 128
