"""FD-parser: image sources, the procedural floor, and faces vs noise."""

from __future__ import annotations

import pytest
import torch

from regiongan.data.worlds import get_world
from regiongan.parser import fd_parser, fd_parser_floor, parser_feature_statistics, parser_features, pr_parser, world_feature_statistics
from regiongan.parser.training import images_to_tensor

from ..conftest import tiny_stylegan2


def test_floor_is_far_below_faces_vs_noise(trained_tiny_parser):
    floor = fd_parser_floor(trained_tiny_parser, count=100, size=32)
    gen = torch.Generator().manual_seed(0)
    noise = fd_parser(lambda n: torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1, trained_tiny_parser, count=100, size=32)
    assert 0 < floor < noise / 10


def test_image_sources_agree(parser):
    faces = images_to_tensor(get_world("faces").sample_batch(5, 0, 40, 32)[0])
    ref = world_feature_statistics(parser, count=40, size=32, batch=16)
    from_tensor = fd_parser(faces, parser, count=40, size=32, reference=ref)
    from_batches = fd_parser(iter(faces.split(16)), parser, count=40, size=32, reference=ref)
    served = []

    def generate(n: int) -> torch.Tensor:  # stands in for lambda n: G(torch.randn(n, G.z_dim))
        start = sum(served)
        served.append(n)
        return faces[start : start + n]

    from_callable = fd_parser(generate, parser, count=40, size=32, batch=16, reference=ref)
    assert served == [16, 16, 8]
    assert from_batches == pytest.approx(from_tensor, rel=1e-9)
    assert from_callable == pytest.approx(from_tensor, rel=1e-9)


def test_generated_images_are_resized_to_the_reference_size(parser):
    big = images_to_tensor(get_world("faces").sample_batch(0, 0, 8, 64)[0])
    mu, sigma = parser_feature_statistics(parser, big, count=8, size=32)
    assert mu.shape == (parser.feature_dim,) and sigma.shape == (parser.feature_dim, parser.feature_dim)


def test_source_errors_explain(parser):
    faces = images_to_tensor(get_world("faces").sample_batch(0, 0, 4, 32)[0])
    with pytest.raises(ValueError, match="ran out after 4 images"):
        parser_feature_statistics(parser, faces, count=10, size=32)
    with pytest.raises(ValueError, match=r"must return \[3, 3, H, W\]"):
        parser_feature_statistics(parser, lambda n: faces[:1], count=3, size=32)
    with pytest.raises(ValueError, match="count must be >= 2"):
        parser_feature_statistics(parser, faces, count=1, size=32)


def test_fd_parser_scores_a_generator(trained_tiny_parser):
    G = tiny_stylegan2()  # 32x32 output, untrained
    gen = torch.Generator().manual_seed(0)
    fd = fd_parser(lambda n: G(torch.randn(n, G.z_dim, generator=gen)), trained_tiny_parser, count=24, size=32, batch=8)
    assert fd > fd_parser_floor(trained_tiny_parser, count=24, size=32)


def test_pr_parser_sees_a_collapse_that_keeps_precision(trained_tiny_parser):
    faces = images_to_tensor(get_world("faces").sample_batch(77, 0, 120, 32)[0])
    varied = pr_parser(faces, trained_tiny_parser, count=120, size=32)
    one_face = pr_parser(faces[:1].expand(120, -1, -1, -1), trained_tiny_parser, count=120, size=32)
    assert varied[1] > 0.5  # an independent set of the world covers much of the reference
    assert one_face[1] < 0.05 < varied[1] - 0.4  # one image repeated covers (almost) none of it


def test_parser_features_are_per_image_and_match_the_statistics(parser):
    faces = images_to_tensor(get_world("faces").sample_batch(3, 0, 12, 32)[0])
    feats = parser_features(parser, faces, count=12, size=32, batch=5)
    mu, _ = parser_feature_statistics(parser, faces, count=12, size=32, batch=5)
    assert feats.shape == (12, parser.feature_dim)
    assert torch.allclose(feats.double().mean(0), torch.as_tensor(mu), atol=1e-6)
