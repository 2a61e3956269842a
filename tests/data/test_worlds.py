"""Procedural worlds: determinism, batch == single, label sanity, recolouring locality, attribute edits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from regiongan.data import WorldDataset, get_world, list_worlds
from regiongan.data.worlds import FacesWorld, ScenesWorld, World

WORLDS = list_worlds()


def part_pixels(labels: np.ndarray, part: int) -> np.ndarray:
    """``[B]`` pixel count of ``part`` per label map ``[B, H, W]``."""
    return (labels == part).reshape(len(labels), -1).sum(1)


# ---------------------------------------------------------------------------------------------------------
# Registry and errors
# ---------------------------------------------------------------------------------------------------------
def test_registry_has_faces_and_scenes():
    assert {"faces", "scenes"} <= set(WORLDS)
    assert isinstance(get_world("faces"), FacesWorld)
    assert isinstance(get_world("scenes"), ScenesWorld)


def test_unknown_world_error_lists_available_worlds():
    with pytest.raises(ValueError) as err:
        get_world("nope")
    for name in WORLDS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", WORLDS)
@pytest.mark.parametrize("bad", [0, -3])
def test_nonpositive_size_and_count_are_rejected(name, bad):
    world = get_world(name)
    with pytest.raises(ValueError, match="size must be a positive"):
        world.sample(0, 0, size=bad)
    with pytest.raises(ValueError, match="count must be a positive"):
        world.sample_batch(0, 0, bad)
    with pytest.raises(ValueError, match="size"):
        WorldDataset(world, size=bad)


def test_negative_seed_or_index_and_bad_part_colours_are_rejected():
    world = get_world("faces")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        world.sample(-1, 0)
    with pytest.raises(ValueError, match="index must be >= 0"):
        world.sample(0, -1)
    with pytest.raises(ValueError, match="unknown part 'moustache'.*mouth"):
        world.sample(0, 0, part_colors={"moustache": (1, 2, 3)})
    with pytest.raises(ValueError, match="0-255"):
        world.sample(0, 0, part_colors={"mouth": (300, 0, 0)})


# ---------------------------------------------------------------------------------------------------------
# Shared checks for every world
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", WORLDS)
def test_shapes_dtypes_and_label_range(name):
    world = get_world(name)
    images, labels, attributes, class_ids = world.sample_batch(0, 0, 6, size=48)
    assert images.shape == (6, 48, 48, 3) and images.dtype == np.uint8
    assert labels.shape == (6, 48, 48) and labels.dtype == np.uint8
    assert attributes.shape == (6, len(world.attribute_names)) and attributes.dtype == np.float32
    assert class_ids.shape == (6,) and class_ids.dtype == np.int64
    assert labels.max() < len(world.part_names)
    assert class_ids.min() >= 0 and class_ids.max() < len(world.class_names)
    assert np.isfinite(attributes).all()
    assert len(set(world.part_names)) == len(world.part_names)
    assert len(set(world.attribute_names)) == len(world.attribute_names)


@pytest.mark.parametrize("name", WORLDS)
def test_deterministic_per_seed_and_index(name):
    world = get_world(name)
    a = world.sample_batch(3, 5, 4)
    b = world.sample_batch(3, 5, 4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    other_seed = world.sample_batch(4, 5, 4)
    assert not np.array_equal(a[0], other_seed[0])
    # Neighbouring indices are different samples.
    assert not np.array_equal(a[0][0], a[0][1])


@pytest.mark.parametrize("name", WORLDS)
def test_sample_equals_batch_element_whatever_the_batching(name):
    world = get_world(name)
    images, labels, attributes, class_ids = world.sample_batch(7, 20, 24)
    for i in (0, 5, 23):
        s = world.sample(7, 20 + i)
        np.testing.assert_array_equal(s.image, images[i])
        np.testing.assert_array_equal(s.labels, labels[i])
        np.testing.assert_array_equal(s.attributes, attributes[i])
        assert s.class_id == class_ids[i]
    # Other chunkings and a shuffled index order give the same samples.
    chunked = world.sample_batch(7, 20, 24, chunk=5)
    np.testing.assert_array_equal(chunked[0], images)
    np.testing.assert_array_equal(chunked[1], labels)
    order = np.random.default_rng(0).permutation(24)
    shuffled = world.sample_indices(7, 20 + order)
    np.testing.assert_array_equal(shuffled[0], images[order])
    np.testing.assert_array_equal(shuffled[1], labels[order])


@pytest.mark.parametrize("name", WORLDS)
def test_recolouring_a_part_changes_only_pixels_of_that_part(name):
    """Only pixels labelled as the part, dilated by one pixel (3x3), may change; labels never change."""
    world = get_world(name)
    params = world.sample_params(11, range(12))
    base, labels = world.render(params, 64)
    ring = np.ones((1, 3, 3), bool)
    for part, part_name in enumerate(world.part_names):
        present = part_pixels(labels, part) > 0
        if not present.any():
            continue
        images, labels2 = world.render(params, 64, part_colors={part_name: (255, 0, 255)})
        np.testing.assert_array_equal(labels2, labels)
        changed = np.any(images != base, axis=-1)
        allowed = binary_dilation(labels == part, structure=ring)
        outside = changed & ~allowed
        assert not outside.any(), f"recolouring {part_name!r} changed {outside.sum()} pixels of other parts"
        # ... and it does change the part wherever the part is visible.
        assert (changed.reshape(len(changed), -1).sum(1)[present] > 0).all(), part_name


@pytest.mark.parametrize("name", WORLDS)
def test_rendering_is_resolution_independent(name):
    """Labels at 128 pooled to 64 agree with labels rendered at 64 on almost every pixel."""
    world = get_world(name)
    params = world.sample_params(2, range(6))
    _, small = world.render(params, 64)
    _, big = world.render(params, 128)
    agree = (big[:, ::2, ::2] == small) | (big[:, 1::2, 1::2] == small)
    assert agree.mean() > 0.97


# ---------------------------------------------------------------------------------------------------------
# faces
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faces() -> World:
    return get_world("faces")


@pytest.fixture(scope="module")
def face_batch(faces):
    params = faces.sample_params(1, range(96))
    images, labels = faces.render(params, 64)
    attrs = dict(zip(faces.attribute_names, faces.attributes(params).T))
    return params, images, labels, attrs


def test_faces_have_enough_parts(faces):
    assert len(faces.part_names) >= 12
    assert faces.part_names[0] == "background"
    assert faces.class_names == ("face",)


def test_every_face_has_its_key_parts(faces, face_batch):
    _, _, labels, attrs = face_batch
    count = {name: part_pixels(labels, i) for i, name in enumerate(faces.part_names)}
    assert (count["eye_left"] >= 15).all() and (count["eye_right"] >= 15).all()
    assert (count["mouth"] >= 4).all()
    assert (count["nose"] >= 1).all()
    assert (count["skin"] >= 50).all() and (count["background"] > 0).all()
    assert (count["clothing"] > 0).all()
    # Optional parts appear exactly when their attribute says so.
    np.testing.assert_array_equal(count["hair"] > 0, attrs["hair_bald"] == 0)
    np.testing.assert_array_equal(count["glasses"] > 0, attrs["has_glasses"] > 0)
    np.testing.assert_array_equal(count["hat"] > 0, attrs["has_hat"] > 0)
    np.testing.assert_array_equal(count["beard"] > 0, attrs["has_beard"] > 0)
    np.testing.assert_array_equal(count["ears"] > 0, attrs["has_ears"] > 0)
    # The sample covers the variety the world promises.
    for key in ("has_glasses", "has_hat", "has_beard", "hair_bald", "hair_long", "hair_curly", "hair_bun"):
        assert 0 < attrs[key].sum() < len(labels), key


def test_left_eye_is_on_the_left(faces, face_batch):
    _, _, labels, _ = face_batch
    cols = np.arange(64)[None, None, :]
    left = ((labels == faces.part_names.index("eye_left")) * cols).sum((1, 2)) / part_pixels(labels, 7)
    right = ((labels == faces.part_names.index("eye_right")) * cols).sum((1, 2)) / part_pixels(labels, 8)
    assert (left + 6 < right).all()


def test_attributes_record_the_sampled_parameters(faces, face_batch):
    params, _, _, attrs = face_batch
    np.testing.assert_allclose(attrs["iris_r"], params["iris"][:, 0], rtol=1e-6)
    np.testing.assert_allclose(attrs["mouth_open"], params["mouth_open"], rtol=1e-6)
    hair = np.stack([attrs[f"hair_{s}"] for s in ("bald", "short", "long", "bun", "curly")], 1)
    np.testing.assert_array_equal(hair.sum(1), 1)
    np.testing.assert_array_equal(hair.argmax(1), params["hair_style"])
    # Jointly sampled parts: long hair hides the ears.
    np.testing.assert_array_equal(attrs["has_ears"][params["hair_style"] == 2], 0)


def _without_lighting(params: dict) -> dict:
    p = {k: v.copy() for k, v in params.items()}
    p["light"][:] = 0.0
    return p


def test_iris_colour_is_shared_by_both_eyes(faces):
    params = _without_lighting(faces.sample_params(4, range(8)))
    params["iris"][:] = [0.0, 0.8, 0.2]
    images, labels = faces.render(params, 128)
    iris = np.array([0, 204, 51], np.uint8)  # exact: a flat colour and no lighting
    is_iris = np.all(images == iris, axis=-1)
    for eye in ("eye_left", "eye_right"):
        in_eye = labels == faces.part_names.index(eye)
        assert ((is_iris & in_eye).reshape(8, -1).sum(1) >= 5).all(), eye
    assert not (is_iris & (labels < faces.part_names.index("eye_left"))).any()
    # At 64x64 a new iris colour still shows in both eyes, and only there.
    before, labels = faces.render(params, 64)
    params["iris"][:] = [0.8, 0.1, 0.1]
    after, _ = faces.render(params, 64)
    changed = np.any(before != after, axis=-1)
    eyes = np.isin(labels, [faces.part_names.index("eye_left"), faces.part_names.index("eye_right")])
    assert not (changed & ~binary_dilation(eyes, structure=np.ones((1, 3, 3), bool))).any()
    for eye in ("eye_left", "eye_right"):
        assert ((changed & (labels == faces.part_names.index(eye))).reshape(8, -1).sum(1) >= 3).all(), eye


def test_attribute_edits_move_what_they_should(faces):
    base = _without_lighting(faces.sample_params(9, range(8)))
    _, labels = faces.render(base, 64)
    mouth = faces.part_names.index("mouth")

    opened = {k: v.copy() for k, v in base.items()}
    opened["mouth_open"][:] = 1.0
    closed = {k: v.copy() for k, v in base.items()}
    closed["mouth_open"][:] = 0.0
    _, l_open = faces.render(opened, 64)
    _, l_closed = faces.render(closed, 64)
    assert (part_pixels(l_open, mouth) > part_pixels(l_closed, mouth) + 5).all()

    glasses = {k: v.copy() for k, v in base.items()}
    glasses["has_glasses"][:] = 1.0
    _, l_glasses = faces.render(glasses, 64)
    assert (part_pixels(l_glasses, faces.part_names.index("glasses")) > 20).all()

    # Changing the hair colour changes hair (and eyebrows), nothing else.
    recoloured = {k: v.copy() for k, v in base.items()}
    recoloured["hair"][:] = [0.9, 0.1, 0.9]
    img_a, _ = faces.render(base, 64)
    img_b, _ = faces.render(recoloured, 64)
    changed = np.any(img_a != img_b, axis=-1)
    hairy = np.isin(labels, [faces.part_names.index(p) for p in ("hair", "eyebrows", "beard")])
    assert not (changed & ~binary_dilation(hairy, structure=np.ones((1, 3, 3), bool))).any()
    assert changed[hairy].mean() > 0.9


# ---------------------------------------------------------------------------------------------------------
# scenes
# ---------------------------------------------------------------------------------------------------------
def test_scenes_have_parts_and_biomes_that_differ():
    world = get_world("scenes")
    assert len(world.part_names) >= 8 and len(world.class_names) >= 5
    images, labels, attributes, class_ids = world.sample_batch(0, 0, 120)
    assert set(class_ids.tolist()) == set(range(len(world.class_names)))
    has = {name: part_pixels(labels, i) > 0 for i, name in enumerate(world.part_names)}
    by = {name: class_ids == i for i, name in enumerate(world.class_names)}
    assert has["building"][by["city"]].all() and has["window"][by["city"]].mean() > 0.8
    assert not has["building"][~by["city"]].any()
    assert has["water"][by["coast"]].all()
    assert has["mountain"][by["alpine"]].all() and has["snow"][by["alpine"]].mean() > 0.6
    assert has["hill"][by["meadow"]].all()
    assert not has["snow"][~by["alpine"]].any()
    # Palettes differ: the mean colour of the bottom quarter (ground) separates desert from meadow.
    ground = images[:, 48:].reshape(len(images), -1, 3).mean(1)
    desert, meadow = ground[by["desert"]].mean(0), ground[by["meadow"]].mean(0)
    assert desert[0] > meadow[0] + 40 and meadow[1] > meadow[0]


# ---------------------------------------------------------------------------------------------------------
# WorldDataset
# ---------------------------------------------------------------------------------------------------------
def test_world_dataset_items_match_world_samples():
    ds = WorldDataset("faces", size=32, seed=5, length=10)
    assert len(ds) == 10
    item = ds[3]
    s = get_world("faces").sample(5, 3, size=32)
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
    np.testing.assert_allclose(item["image"].permute(1, 2, 0).numpy(), s.image / 127.5 - 1.0, atol=1e-6)
    assert item["labels"].dtype == torch.int64
    np.testing.assert_array_equal(item["labels"].numpy(), s.labels)
    np.testing.assert_array_equal(item["attributes"].numpy(), s.attributes)
    assert item["class_id"].item() == 0
    batch = ds.__getitems__([3, 9, 0])
    assert torch.equal(batch[0]["image"], item["image"])
    assert torch.equal(ds[-1]["labels"], ds[9]["labels"])
    with pytest.raises(IndexError, match="out of range"):
        ds[10]


def test_world_dataset_works_with_dataloader():
    ds = WorldDataset("scenes", size=32, length=8)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)))
    assert batch["image"].shape == (4, 3, 32, 32)
    assert batch["labels"].shape == (4, 32, 32)
    assert batch["class_id"].shape == (4,)


def test_render_rejects_params_that_are_not_from_sample_params():
    world = get_world("faces")
    params = world.sample_params(0, range(2))
    del params["iris"]
    with pytest.raises(ValueError, match=r"missing keys \['iris'\]"):
        world.render(params)
    params = world.sample_params(0, range(2))
    params["iris"] = params["iris"][:1]
    with pytest.raises(ValueError, match="same leading batch size"):
        world.render(params)
