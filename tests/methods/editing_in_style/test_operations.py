"""transfer_part, the registered operation: Eq. 3 exactness, the model check, recipes that replay
bit-for-bit (catalogs stored inline or by shipped name), the companion catalog of faces-64, errors."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
from regiongan.api import replay
from regiongan.identity import ModelMismatchError
from regiongan.latents import z_from_seeds
from regiongan.methods.editing_in_style import (
    CatalogError,
    build_catalog,
    load_catalog,
    part_queries,
    transfer_part,
    transfer_styles,
)
from regiongan.recipes import load_recipe
from regiongan.registry import get_method, list_methods
from tests.conftest import tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(saved_tiny):
    """The saved tiny model loaded back by path, as a user would: recipes then name it."""
    return rg.load_model(saved_tiny[1])


@pytest.fixture(scope="module")
def catalog(tiny):
    cat = build_catalog(tiny, samples=8, k=4, progress=False)
    return cat.name_clusters({"eyes": [1, 2], "rest": [0, 3]})


@pytest.fixture(scope="module")
def faces():
    return rg.load_model("faces-64")


def plain(G, z):
    with torch.no_grad():
        return G.synthesize(G.styles(G.map(z))).image


def test_transfer_part_is_the_registered_operation():
    assert "editing_in_style.transfer_part" in list_methods()
    assert rg.transfer_part is transfer_part and rg.build_catalog is build_catalog and rg.load_catalog is load_catalog
    spec = get_method("editing_in_style.transfer_part")
    assert spec.required == ("target", "reference", "part")  # the catalog defaults to the model's own


def test_zero_query_gives_the_target_exactly(tiny, catalog):
    zt, zr = torch.randn(2, tiny.z_dim), torch.randn(2, tiny.z_dim)
    target = plain(tiny, zt)
    with torch.no_grad():
        assert torch.equal(transfer_part(tiny, zt, zr, "eyes", catalog, method="simultaneous", lam=0.0).images, target)
        assert torch.equal(transfer_part(tiny, zt, zr, "eyes", catalog, eps=0.0).images, target)
        edited = transfer_part(tiny, zt, zr, "eyes", catalog, eps=50.0)
    assert not torch.equal(edited.images, target)


def test_reference_equal_to_target_gives_the_target(tiny, catalog):
    z = torch.randn(3, tiny.z_dim)
    with torch.no_grad():
        for method in ("sequential", "simultaneous"):
            out = transfer_part(tiny, z, z, "eyes", catalog, method=method, lam=100.0, eps=100.0)
            assert torch.equal(out.images, plain(tiny, z))


def test_transfer_moves_styles_by_the_query(tiny, catalog):
    zt, zr = torch.randn(1, tiny.z_dim), torch.randn(4, tiny.z_dim)
    queries = part_queries(catalog, 2, method="simultaneous", lam=3.0)
    with torch.no_grad():
        out = transfer_styles(tiny, tiny.map(zt), tiny.map(zr), queries)
        result = transfer_part(tiny, zt, zr, 2, catalog, method="simultaneous", lam=3.0)
    assert out.image.shape == (4, 3, 32, 32)  # target batch 1 broadcasts
    for p, s, st, sr in zip(tiny.control_points(), out.styles, out.target_styles, out.reference_styles):
        q = queries[p.name]
        assert torch.allclose(s, st + q * (sr - st), atol=1e-6)
    assert torch.equal(result.images, out.image)
    assert result.extras["clusters"] == [2]
    assert all(torch.equal(result.extras["queries"][n], q) for n, q in queries.items())
    mask = result.extras["part_mask"]
    assert mask.shape == (4, 1, 32, 32) and set(mask.unique().tolist()) <= {0.0, 1.0}


def test_catalog_of_another_model_is_refused(catalog):
    other = tiny_stylegan2(seed=5)
    with pytest.raises(ModelMismatchError, match="^this catalog "):
        transfer_part(other, 1, 2, "eyes", catalog)


def test_recipe_replay_is_bit_identical(tiny, catalog, tmp_path):
    result = transfer_part(tiny, 3, [11, 12], "eyes", catalog, eps=20.0, rho=0.2)
    assert result.method == "editing_in_style.transfer_part" and result.images.shape == (2, 3, 32, 32)
    stored = result.params["catalog"]
    assert isinstance(stored, dict) and torch.equal(stored["centroids"], catalog.centroids)  # inline, no files
    path = result.recipe.save(tmp_path / "r.json")
    assert (tmp_path / "r.safetensors").is_file()  # the catalog's tensors travel with the recipe
    assert torch.equal(replay(path).images, result.images)  # the model loaded again by its path
    assert torch.equal(load_recipe(path).run(tiny).images, result.images)
    with torch.no_grad():
        direct = transfer_part(tiny, z_from_seeds([3], 16), z_from_seeds([11, 12], 16), "eyes", catalog, eps=20.0, rho=0.2)
    assert torch.equal(direct.images, result.images)


def test_a_catalog_directory_is_stored_inline(tiny, catalog, tmp_path):
    catalog.save(tmp_path / "cat")
    result = transfer_part(tiny, 3, 11, "rest", str(tmp_path / "cat"), method="simultaneous", lam=2.0)
    assert isinstance(result.params["catalog"], dict)
    path = result.recipe.save(tmp_path / "r.json")
    (tmp_path / "cat" / "catalog.json").unlink()  # the replay does not need the catalog's files
    assert torch.equal(replay(path, G=tiny).images, result.images)


def test_errors_name_the_problem(tiny, catalog, tmp_path):
    with pytest.raises(CatalogError, match=r"unknown part 'nose'; this catalog's parts: eyes=\[1, 2\], rest=\[0, 3\]"):
        transfer_part(tiny, 1, 2, "nose", catalog)
    with pytest.raises(CatalogError, match=r"declares no companion catalog; pass catalog="):
        transfer_part(tiny, 1, 2, "eyes")
    with pytest.raises(CatalogError, match="no catalog at"):
        transfer_part(tiny, 1, 2, "eyes", str(tmp_path / "none"))
    with pytest.raises(ValueError, match=r"eps \(ε, Eq. 5\) must be a finite number >= 0"):
        transfer_part(tiny, 1, 2, 0, catalog, eps=-1)
    with pytest.raises(ValueError, match="rho is the paper's ρ"):
        transfer_part(tiny, 1, 2, 0, catalog, rho=0)
    with pytest.raises(ValueError, match="target has batch 2 and reference 3"):
        transfer_part(tiny, [1, 2], [3, 4, 5], 0, catalog)
    with pytest.raises(CatalogError, match="catalog must be None"):
        transfer_part(tiny, 1, 2, 0, 42)


def test_faces64_uses_its_companion_catalog_and_replays(faces, tmp_path):
    shipped = load_catalog("catalog-faces-64")
    part = shipped.parts()[0]
    result = rg.transfer_part(faces, 3, 11, part)  # catalog=None: the model's companion
    assert result.images.shape == (1, 3, 64, 64)
    assert result.params["catalog"] == "catalog-faces-64"  # a shipped catalog is recorded by name
    explicit = rg.transfer_part(faces, 3, 11, part, catalog=shipped)
    assert torch.equal(explicit.images, result.images)
    assert not torch.equal(result.images, rg.generate(faces, 3).images)
    path = result.recipe.save(tmp_path / "pt.json")
    assert not (tmp_path / "pt.safetensors").exists()  # nothing inline
    assert torch.equal(replay(path).images, result.images)
