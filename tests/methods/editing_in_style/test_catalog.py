"""The catalog of a model: layers, Eq. 1 on its samples, naming, files (exact round trip, crash-safe
save, old formats refused), the model check, building, and agreement with a part parser."""

from __future__ import annotations

import json
import os

import pytest
import torch

from regiongan.identity import ModelMismatchError, model_fingerprint, model_record
from regiongan.methods.editing_in_style import (
    CATALOG_VERSION,
    Catalog,
    CatalogError,
    build_catalog,
    catalog_layers,
    cluster_agreement,
    contribution_matrix,
    default_catalog_layer,
    hard_memberships,
    list_catalogs,
    load_catalog,
    match_clusters_to_parts,
    sample_codes,
    style_input_features,
)
from regiongan.previews import cluster_colors, cluster_preview
from tests.conftest import tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")


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
    z = sample_codes(G, 12, 0)
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
    assert back.layer == catalog.layer and back.model == catalog.model
    assert back.names == {"eyes": [0, 2], "nose": [1]}
    assert back.info == json.loads(json.dumps(catalog.info))
    assert torch.equal(back.centroids, catalog.centroids)
    assert list(back.contributions) == list(catalog.contributions)
    assert all(torch.equal(back.contributions[n], m) for n, m in catalog.contributions.items())
    assert Catalog.load(tmp_path / "cat" / "catalog.json").names == back.names
    assert load_catalog(str(tmp_path / "cat")).names == back.names
    with pytest.raises(FileExistsError, match="overwrite=True"):
        catalog.save(tmp_path / "cat")
    (tmp_path / "cat" / "README.md").write_text("a model card")
    catalog.save(tmp_path / "cat", overwrite=True)
    files = sorted(p.name for p in (tmp_path / "cat").iterdir())
    assert files == ["README.md", "catalog.json", "catalog.safetensors"]  # no pickle, no leftovers, card kept
    # the dict form (what recipes store) round-trips too, without info
    again = Catalog.from_dict(catalog.to_dict())
    assert again.names == catalog.names and again.model == catalog.model and again.info == {}
    assert all(torch.equal(again.contributions[n], m) for n, m in catalog.contributions.items())
    # renaming rewrites only the JSON, and the pair still loads
    back.name_clusters({"hair": 3}).save_names(tmp_path / "cat")
    assert Catalog.load(tmp_path / "cat").names == {"eyes": [0, 2], "nose": [1], "hair": [3]}


def test_interrupted_save_never_loads_as_valid(G, catalog, tmp_path, monkeypatch):
    """A crash after the tensors were moved in but before the JSON: the old JSON no longer matches the
    new tensors, and loading says so instead of mixing two catalogs."""
    old = catalog
    old.save(tmp_path / "cat")
    new = build_catalog(G, samples=6, k=3, progress=False, seed=5)
    real_replace, moved = os.replace, []

    def crash_before_the_json(src, dst):
        if str(dst).endswith("catalog.json"):
            raise KeyboardInterrupt("simulated crash between the two writes")
        moved.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_before_the_json)
    with pytest.raises(KeyboardInterrupt):
        new.save(tmp_path / "cat", overwrite=True)
    monkeypatch.undo()
    assert [os.path.basename(m) for m in moved] == ["catalog.safetensors"]  # the crash came between the files
    with pytest.raises(CatalogError, match=r"catalog.safetensors does not belong to this catalog.json \(sha256 "
                                           r"mismatch\): a save was interrupted.*regiongan catalog"):  # fmt: skip
        Catalog.load(tmp_path / "cat")
    assert sorted(p.name for p in (tmp_path / "cat").iterdir()) == ["catalog.json", "catalog.safetensors"]
    new.save(tmp_path / "cat", overwrite=True)  # saving again repairs it
    assert Catalog.load(tmp_path / "cat").k == 3


def test_catalog_load_errors(catalog, tmp_path):
    with pytest.raises(CatalogError, match="no catalog at"):
        Catalog.load(tmp_path / "missing")
    with pytest.raises(CatalogError, match=r"no catalog at 'nonexistent'.*not a shipped catalog \(shipped: "):
        load_catalog("nonexistent")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "catalog.json").write_text('{"format": "something-else"}')
    with pytest.raises(CatalogError, match="not a regiongan catalog"):
        Catalog.load(tmp_path / "bad")
    # format 1 (a 16-hex fingerprint of sampled weights) is refused with one line that says how to rebuild
    catalog.save(tmp_path / "v1")
    meta = json.loads((tmp_path / "v1" / "catalog.json").read_text())
    meta["format_version"] = 1
    meta["fingerprint"] = "sha256:0123456789abcdef"
    del meta["model"], meta["tensors"]
    (tmp_path / "v1" / "catalog.json").write_text(json.dumps(meta))
    with pytest.raises(CatalogError, match=r"catalog format version 1 .* is no longer read; rebuild it with `regiongan catalog") as e:
        Catalog.load(tmp_path / "v1")
    assert "\n" not in str(e.value)
    with pytest.raises(CatalogError, match="format version 1"):
        Catalog.from_dict({"layer": "b32.conv0", "fingerprint": "sha256:0123456789abcdef", "centroids": torch.ones(2, 2),
                           "contributions": {}})  # fmt: skip
    meta["format_version"] = CATALOG_VERSION + 1
    (tmp_path / "v1" / "catalog.json").write_text(json.dumps(meta))
    with pytest.raises(CatalogError, match="newer than this regiongan supports"):
        Catalog.load(tmp_path / "v1")


def test_the_catalog_identifies_its_model(G, catalog):
    assert catalog.model["fingerprint"] == model_fingerprint(G) == model_fingerprint(tiny_stylegan2())
    assert catalog.model == json.loads(json.dumps(model_record(G)))
    catalog.check_model(tiny_stylegan2())  # the same weights in another object
    other = tiny_stylegan2(seed=1)
    with pytest.raises(ModelMismatchError, match="^this catalog "):  # identity's message, naming the artefact
        catalog.check_model(other)


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
    strict = match_clusters_to_parts(inter, inter.sum(1), inter.sum(0), parts, min_iou=0.5)
    assert strict["names"] == {"skin": [1], "eyes": [2]}  # each mouth half alone (IoU 0.39) is below 0.5
    # min_part_iou judges the union: the mouth (0.74) keeps its two halves at 0.7, only skin (0.88) is left at 0.8
    assert match_clusters_to_parts(inter, inter.sum(1), inter.sum(0), parts, min_part_iou=0.7)["names"] == res["names"]
    by_part = match_clusters_to_parts(inter, inter.sum(1), inter.sum(0), parts, min_part_iou=0.8)
    assert by_part["names"] == {"skin": [1]} and by_part["per_part_iou"] == res["per_part_iou"]


class ThresholdParser:
    """A stand-in part parser: bright pixels are 'skin', the rest 'background'."""

    part_names = ("background", "skin")

    def parse(self, images: torch.Tensor) -> torch.Tensor:
        return (images.mean(dim=1) > 0).to(torch.int64)


def test_parser_naming_and_agreement(G):
    cat = build_catalog(G, samples=6, k=3, progress=False, parser=ThresholdParser())
    agreement = cat.info["agreement"]
    assert 0 <= agreement["miou"] <= 1 and set(agreement["per_part_iou"]) <= {"background", "skin"}
    assert agreement["min_iou"] == 0.05
    assert set(cat.names) <= {"skin"}
    fresh = cluster_agreement(cat, G, ThresholdParser(), samples=4)
    assert 0 <= fresh["miou"] <= 1 and fresh["samples"] == 4
    with pytest.raises(ModelMismatchError, match="^this catalog "):
        cluster_agreement(cat, tiny_stylegan2(seed=2), ThresholdParser(), samples=2)


def test_cluster_preview_draws_samples_and_maps(G, catalog):
    colours = cluster_colors(5)
    assert colours.shape == (5, 3) and colours.dtype == torch.uint8 and len({tuple(c) for c in colours.tolist()}) == 5
    picture = cluster_preview(G, catalog, count=3, scale=1)
    assert picture.width >= 3 * 32 and picture.height > 2 * 32  # two rows of 32² images and a legend


def test_shipped_catalogs_are_listed():
    assert "catalog-faces-64" in list_catalogs()
