"""The Editing in Style catalog: spherical k-means, the contribution matrix (Eq. 1), save/load, naming."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from regiongan.methods.catalog import (
    Catalog,
    CatalogError,
    ContributionAccumulator,
    assign_clusters,
    build_catalog,
    catalog_layers,
    cluster_agreement,
    contribution_matrix,
    default_catalog_layer,
    hard_memberships,
    kmeans_similarity,
    match_clusters_to_parts,
    model_fingerprint,
    spherical_kmeans,
    style_input_features,
)
from tests.conftest import tiny_stylegan2


pytestmark = pytest.mark.usefixtures("one_thread")


def planted(k: int = 6, c: int = 16, m: int = 6000, noise: float = 0.05, seed: int = 0):
    """Points around K known unit directions, with random lengths (spherical k-means must ignore them)."""
    g = torch.Generator().manual_seed(seed)
    dirs = F.normalize(torch.randn(k, c, generator=g), dim=1)
    labels = torch.randint(k, (m,), generator=g)
    x = (dirs[labels] + noise * torch.randn(m, c, generator=g)) * (0.2 + 3 * torch.rand(m, 1, generator=g))
    return x, dirs, labels


def matched_accuracy(x, labels, dirs, centroids) -> tuple[float, float]:
    cos = centroids @ dirs.t()  # [K, K]
    cluster_of_dir = cos.argmax(dim=0)
    acc = float((cluster_of_dir[labels] == assign_clusters(x, centroids)).float().mean())
    return acc, float(cos.amax(dim=0).min())


# --------------------------------------------------------------------------------------------------
# spherical k-means


@pytest.mark.parametrize("batch_size", [None, 512])
def test_kmeans_recovers_planted_clusters(batch_size):
    x, dirs, labels = planted()
    res = spherical_kmeans(x, 6, batch_size=batch_size, epochs=20, generator=torch.Generator().manual_seed(3))
    acc, worst_cos = matched_accuracy(x, labels, dirs, res.centroids)
    assert acc == 1.0
    assert worst_cos > 0.995
    assert torch.allclose(res.centroids.norm(dim=1), torch.ones(6), atol=1e-5)
    assert res.converged


def test_kmeans_is_seed_deterministic():
    x, _, _ = planted(noise=0.3)
    a = spherical_kmeans(x, 6, batch_size=500, generator=torch.Generator().manual_seed(7))
    b = spherical_kmeans(x, 6, batch_size=500, generator=torch.Generator().manual_seed(7))
    c = spherical_kmeans(x, 6, batch_size=500, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.centroids, b.centroids)
    assert not torch.equal(a.centroids, c.centroids)


def test_minibatch_matches_full_batch_quality():
    x, _, _ = planted(k=8, noise=0.4, m=4000)
    full = spherical_kmeans(x, 8, batch_size=None, epochs=20, generator=torch.Generator().manual_seed(1))
    mini = spherical_kmeans(x, 8, batch_size=256, epochs=5, generator=torch.Generator().manual_seed(1))
    q_full, q_mini = kmeans_similarity(x, full.centroids), kmeans_similarity(x, mini.centroids)
    assert q_mini > 0.99 * q_full


def test_kmeans_streams_chunks_from_a_callable():
    x, dirs, labels = planted()
    calls = []

    def chunks():
        calls.append(1)
        return (x[i : i + 1000] for i in range(0, len(x), 1000))

    res = spherical_kmeans(chunks, 6, batch_size=256, init_size=2000, generator=torch.Generator().manual_seed(0))
    assert matched_accuracy(x, labels, dirs, res.centroids)[0] == 1.0
    assert len(calls) == res.epochs  # one fresh pass per epoch, never all vectors at once


def test_kmeans_bad_input():
    x, _, _ = planted(m=10)
    with pytest.raises(CatalogError, match="K=11 clusters but only 10 vectors"):
        spherical_kmeans(x, 11)
    with pytest.raises(CatalogError, match="only 5 vectors"):
        spherical_kmeans(lambda: iter([x[:5]]), 6)
    same = torch.ones(50, 4)
    with pytest.raises(CatalogError, match="only 1 distinct directions"):
        spherical_kmeans(same, 3)
    with pytest.raises(CatalogError, match=r"data must be \[M, C\]"):
        spherical_kmeans(torch.ones(3, 4, 5), 2)
    with pytest.raises(CatalogError, match="epochs must be an int >= 1"):
        spherical_kmeans(x, 2, epochs=0)


# --------------------------------------------------------------------------------------------------
# Contribution matrix (Eq. 1)


def test_contribution_matrix_hand_example():
    # channel 0 = [[1, 3], [1, 3]]: mean 2, σ 1 -> Â² = 1 everywhere
    # channel 1 = [[0, 0], [0, 4]]: mean 1, σ² 3 -> Â² = 1/3, 1/3, 1/3, 3
    a = torch.tensor([[[1.0, 3.0], [1.0, 3.0]], [[0.0, 0.0], [0.0, 4.0]]])[None]
    u1 = torch.tensor([[0.0, 0.0], [0.0, 1.0]])  # cluster 1 = bottom-right pixel
    u = torch.stack([1 - u1, u1])[None]
    expected = torch.tensor([[3 / 4, (3 * 1 / 3) / 4], [1 / 4, 3 / 4]])
    m = contribution_matrix(a, u)
    assert torch.allclose(m, expected, atol=1e-6)
    # memberships at twice the resolution are area-averaged to the activation's 2x2 first
    u_big = u.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.allclose(contribution_matrix(a, u_big), expected, atol=1e-6)
    # a constant (dead) channel gets a zero column
    dead = torch.cat([a, torch.full((1, 1, 2, 2), 5.0)], dim=1)
    assert torch.equal(contribution_matrix(dead, u)[:, 2], torch.zeros(2))


def test_contribution_accumulator_streams_exactly():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 5, 8, 8, generator=g) * 3 + 1
    labels = torch.randint(3, (6, 16, 16), generator=g)
    u = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    acc = ContributionAccumulator(3, 5)
    for i in range(0, 6, 2):
        acc.update(a[i : i + 2], u[i : i + 2])
    whole = contribution_matrix(a, u)
    assert torch.allclose(acc.compute(), whole, atol=1e-6)
    assert torch.allclose(whole.sum(dim=0), torch.ones(5), atol=1e-6)
    # reference: Eq. 1 written out with torch ops
    ah = (a - a.mean(dim=(0, 2, 3), keepdim=True)) / a.std(dim=(0, 2, 3), unbiased=False, keepdim=True)
    ul = F.avg_pool2d(u, 2)
    ref = torch.einsum("nchw,nkhw->kc", ah.square(), ul) / (6 * 8 * 8)
    assert torch.allclose(whole, ref / ref.sum(dim=0), atol=1e-5)


# --------------------------------------------------------------------------------------------------
# The catalog of a model


@pytest.fixture(scope="module")
def G():
    return tiny_stylegan2()


@pytest.fixture(scope="module")
def catalog(G):
    return build_catalog(G, samples=12, k=4, progress=False, batch_size=5)


def test_layers_and_style_inputs(G):
    assert default_catalog_layer(G) == "b32.conv0"
    assert catalog_layers(G)[0] == "b4.conv1"
    inputs = style_input_features(G)
    assert inputs["b4.conv1"] is None
    assert inputs["b4.torgb"] == "b4.conv1"
    assert inputs["b8.conv0"] == "b4.conv1"
    assert inputs["b8.conv1"] == "b8.conv0"
    assert inputs["b32.torgb"] == "b32.conv1"


def test_catalog_contributions_match_eq1_on_all_samples(G, catalog):
    from regiongan.methods.catalog import _sample_codes

    z = _sample_codes(G, 12, 0)
    with torch.no_grad():
        feats = G.synthesize(G.styles(G.map(z)), return_features=True).features
    u = hard_memberships(feats["b32.conv0"], catalog.centroids)
    inputs = style_input_features(G)
    for p in G.control_points():
        m = catalog.contributions[p.name]
        assert m.shape == (4, p.channels)
        if inputs[p.name] is None:
            assert torch.equal(m, torch.zeros_like(m))
        else:
            assert torch.allclose(m, contribution_matrix(feats[inputs[p.name]], u), atol=1e-5), p.name
            assert torch.allclose(m.sum(dim=0), torch.ones(p.channels), atol=1e-5)
    assert abs(sum(catalog.info["cluster_fraction"]) - 1) < 1e-6


def test_catalog_save_load_round_trip_is_exact(catalog, tmp_path):
    catalog.name_clusters({"eyes": [2, 0], "nose": 1})
    catalog.save(tmp_path / "cat")
    back = Catalog.load(tmp_path / "cat")
    assert back.layer == catalog.layer and back.fingerprint == catalog.fingerprint
    assert back.names == {"eyes": [0, 2], "nose": [1]}
    assert back.info == json.loads(json.dumps(catalog.info))
    assert torch.equal(back.centroids, catalog.centroids)
    assert list(back.contributions) == list(catalog.contributions)
    assert all(torch.equal(back.contributions[n], m) for n, m in catalog.contributions.items())
    assert Catalog.load(tmp_path / "cat" / "catalog.json").names == back.names
    with pytest.raises(FileExistsError, match="overwrite=True"):
        catalog.save(tmp_path / "cat")
    catalog.save(tmp_path / "cat", overwrite=True)
    files = sorted(p.name for p in (tmp_path / "cat").iterdir())
    assert files == ["catalog.json", "catalog.safetensors"]  # no pickle, no leftovers


def test_catalog_load_errors(tmp_path):
    with pytest.raises(CatalogError, match="no catalog at"):
        Catalog.load(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "catalog.json").write_text('{"format": "something-else"}')
    with pytest.raises(CatalogError, match="not a regiongan catalog"):
        Catalog.load(tmp_path / "bad")


def test_fingerprint_identifies_the_model(G, catalog):
    assert model_fingerprint(G) == model_fingerprint(tiny_stylegan2()) == catalog.fingerprint
    other = tiny_stylegan2(seed=1)
    assert model_fingerprint(other) != catalog.fingerprint
    with pytest.raises(CatalogError) as e:
        catalog.check_model(other)
    assert catalog.fingerprint in str(e.value) and model_fingerprint(other) in str(e.value)


def test_naming_and_merging(catalog):
    catalog.name_clusters({"hair": [3]})
    catalog.name_clusters({"face": [0, 1]})
    assert catalog.cluster_ids("face") == [0, 1]
    assert catalog.cluster_ids(2) == [2] and catalog.cluster_ids("2") == [2] and catalog.cluster_ids([3, 1]) == [1, 3]
    merged = catalog.part_contributions("face")["b16.conv1"]
    assert torch.allclose(merged, catalog.contributions["b16.conv1"][[0, 1]].sum(dim=0))
    catalog.name_clusters({"all": [0, 1, 2, 3]}, replace=True)
    assert catalog.parts() == ["all"]
    with pytest.raises(CatalogError, match=r"unknown part 'eyes'; this catalog's parts: all=\[0, 1, 2, 3\]"):
        catalog.cluster_ids("eyes")
    with pytest.raises(CatalogError, match=r"cluster ids must be ints in 0..3"):
        catalog.name_clusters({"x": [4]})
    with pytest.raises(CatalogError, match="not a number"):
        catalog.name_clusters({"7": [1]})


def test_build_catalog_bad_input(G):
    with pytest.raises(CatalogError, match=r"unknown catalog layer 'b32\.conv9'; the layers of this model are \['b4\.conv1'"):
        build_catalog(G, samples=2, k=2, layer="b32.conv9", progress=False)
    with pytest.raises(CatalogError, match=r"K=40 clusters but only 32 vectors \(2 samples × 4×4 pixels at b4\.conv1\)"):
        build_catalog(G, samples=2, k=40, layer="b4.conv1", progress=False)
    with pytest.raises(CatalogError, match="k \\(number of clusters\\) must be an int >= 2"):
        build_catalog(G, samples=2, k=1, progress=False)


def test_build_catalog_is_deterministic_and_layer_configurable(G, catalog):
    again = build_catalog(G, samples=12, k=4, progress=False, batch_size=5)
    assert torch.equal(again.centroids, catalog.centroids)
    other = build_catalog(G, samples=4, k=3, layer="b16.conv1", progress=False, cache_mb=0, epochs=2)
    assert other.layer == "b16.conv1" and other.centroids.shape == (3, 32)


# --------------------------------------------------------------------------------------------------
# Naming against a part parser, agreement


def test_match_clusters_to_parts_on_planted_counts():
    parts = ["background", "skin", "eye_left", "eye_right", "mouth"]
    # cluster 0 = background, 1 = skin, 2 = both eyes, 3 = mouth half, 4 = mouth other half, 5 = noise
    inter = torch.tensor(
        [[900, 10, 0, 0, 0], [20, 500, 5, 5, 10], [0, 10, 40, 40, 0], [0, 5, 0, 0, 30], [0, 5, 0, 0, 30], [1, 1, 1, 1, 1]],
        dtype=torch.float64,
    )
    res = match_clusters_to_parts(inter, inter.sum(1), inter.sum(0), parts)
    assert res["names"] == {"skin": [1], "eyes": [2], "mouth": [3, 4]}
    assert "background" not in res["names"]  # never a part to transfer, but it counts in the agreement
    mouth_iou = 60 / (70 + 71 - 60)
    assert res["per_part_iou"]["mouth"] == pytest.approx(mouth_iou)
    assert set(res["per_part_iou"]) == {"background", "skin", "eyes", "mouth"}
    assert res["miou"] == pytest.approx(sum(res["per_part_iou"].values()) / 4)


class ThresholdParser:
    """A stand-in part parser: bright pixels are 'skin', the rest 'background'."""

    part_names = ("background", "skin")

    def parse(self, images: torch.Tensor) -> torch.Tensor:
        return (images.mean(dim=1) > 0).to(torch.int64)


def test_parser_naming_and_agreement(G):
    cat = build_catalog(G, samples=6, k=3, progress=False, parser=ThresholdParser())
    agreement = cat.info["agreement"]
    assert 0 <= agreement["miou"] <= 1 and set(agreement["per_part_iou"]) <= {"background", "skin"}
    assert set(cat.names) <= {"skin"}
    fresh = cluster_agreement(cat, G, ThresholdParser(), samples=4)
    assert 0 <= fresh["miou"] <= 1 and fresh["samples"] == 4
    with pytest.raises(CatalogError, match="fingerprint"):
        cluster_agreement(cat, tiny_stylegan2(seed=2), ThresholdParser(), samples=2)
