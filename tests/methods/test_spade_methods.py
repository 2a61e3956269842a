"""SPADE region-level control (regiongan.methods.spade): label-map inputs, multimodal and example-guided
synthesis, repaint locality (exact, from the network's structure), per-region styles, bit-for-bit recipe
replays, and the issue's bad inputs as one-line errors. Tiny random SPADE models, no trained weights."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import regiongan as rg
from regiongan.data import LABEL_PALETTE
from regiongan.data.worlds import get_world
from regiongan.generators.spade import SPADEModel
from regiongan.latents import z_from_seeds
from regiongan.methods.spade import label_reach, load_labels, palette_colors, region_styles, repaint, synthesize
from regiongan.methods.spade.repaint import dilate, repaint_labels, resolve_label_region
from regiongan.regions import Region, RegionError

pytestmark = pytest.mark.usefixtures("one_thread")

NUM_CLASSES = len(get_world("scenes").part_names)  # 12: the scenes world's label maps
SCENE = "world:scenes:3"


def tiny_spade(seed: int = 0, **overrides) -> SPADEModel:
    """A random 32² SPADE for the scenes labels (VAE, z_dim 8, 16² encoder), batch norms in eval mode.
    Generator weights are redrawn at unit gain (NVlabs' 0.02 init makes a nearly constant image)."""
    torch.manual_seed(seed)
    cfg = dict(
        label_nc=NUM_CLASSES, ngf=2, crop_size=32, use_vae=True, z_dim=8, encoder_ndf=2, encoder_size=16,
        norm_G="spadebatch3x3",
    )  # fmt: skip
    cfg.update(overrides)
    G = SPADEModel(**cfg)
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if name.startswith("encoder."):
                continue
            if name.endswith("weight") and t.ndim > 1:
                t.normal_(0, 1 / math.sqrt(t[0].numel()))
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.normal_(0, 0.1)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def G() -> SPADEModel:
    return tiny_spade()


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


def _replays(result, tmp_path, G) -> None:
    path = result.recipe.save(tmp_path / "r.json")
    again = rg.replay(path, G=G)
    assert torch.equal(again.images, result.images)


# --------------------------------------------------------------------------------------------------
# Synthesis


def test_n_styles_per_map_are_the_seeds_codes_and_replay(G, tmp_path):
    out = synthesize(G, SCENE, n=3, seed=5)
    labels = load_labels(SCENE, (32, 32))
    assert out.images.shape == (3, 3, 32, 32) and out.extras["grid_shape"] == (1, 3)
    z = z_from_seeds([5, 6, 7], G.z_dim)
    assert torch.equal(out.extras["codes"], z)
    assert torch.allclose(out.images, G.synthesize_labels(labels, z=z), atol=1e-6)
    assert (out.images[0] - out.images[1]).abs().max() > 1e-3  # different styles differ
    assert out.recipe.params["labels"] == SCENE  # a world spec stays a spec
    _replays(out, tmp_path, G)


def test_example_guided_style_is_the_references_mu(G, tmp_path):
    reference = rg.synthesize(G, "world:scenes:4", seed=9).images
    mu, logvar = G.encode(reference)
    out = synthesize(G, SCENE, style=reference)
    assert torch.allclose(out.extras["codes"], mu) and torch.allclose(out.images, G.synthesize_labels(load_labels(SCENE, (32, 32)), z=mu), atol=1e-6)
    sampled = synthesize(G, SCENE, n=2, seed=1, style=reference, sample_style=True)
    eps = z_from_seeds([1, 2], G.z_dim)
    assert torch.allclose(sampled.extras["codes"], mu + eps * torch.exp(0.5 * logvar), atol=1e-6)
    _replays(sampled, tmp_path, G)
    with pytest.raises(ValueError, match="sample_style") as e:
        synthesize(G, SCENE, n=2, style=reference)
    _one_line(e)


def test_label_files_png_colour_map_and_npy(G, tmp_path):
    labels = load_labels(SCENE, (32, 32))
    Image.fromarray(labels[0].numpy().astype(np.uint8), mode="L").save(tmp_path / "ids.png")
    Image.fromarray(LABEL_PALETTE[labels[0].numpy()]).save(tmp_path / "colours.png")
    np.save(tmp_path / "ids.npy", labels.numpy())
    assert torch.equal(load_labels(tmp_path / "ids.png"), labels)
    assert torch.equal(load_labels(tmp_path / "colours.png", palette="scenes"), labels)
    assert torch.equal(load_labels(tmp_path / "colours.png", palette=palette_colors("scenes").tolist()), labels)
    assert torch.equal(load_labels(str(tmp_path / "ids.npy")), labels)
    out = synthesize(G, str(tmp_path / "colours.png"), palette="scenes", seed=2)
    assert torch.equal(out.images, synthesize(G, labels, seed=2).images)
    (tmp_path / "colours.png").unlink()  # the recipe holds the map itself
    _replays(out, tmp_path, G)


BAD_INPUTS = [
    (lambda G: synthesize(G, torch.full((1, 32, 32), NUM_CLASSES)), "label value 12 is out of range"),
    (lambda G: synthesize(G, torch.zeros(1, 32, 64, dtype=torch.long)), "the label map is 32×64"),
    (lambda G: synthesize(G, torch.zeros(1, 16, 16, dtype=torch.long)), "resize it"),
    (lambda G: synthesize(G, torch.zeros(1, 32, 32)), "integer class ids need an integer dtype"),
    (lambda G: synthesize(G, np.full((32, 32), 1.5)), "class ids must be integers"),
    (lambda G: synthesize(G, np.zeros((32, 32, 3), np.uint8)), "RGB colour map; pass palette="),
    (lambda G: synthesize(G, torch.zeros(1, 32, 32, 3, dtype=torch.uint8)), "look like an RGB colour map"),
    (lambda G: synthesize(G, SCENE, style=torch.zeros(1, 3, 64, 64)), "the encoder image is 64×64"),
    (lambda G: synthesize(G, SCENE, style=torch.zeros(1, 32, 32)), "the encoder takes float RGB images"),
    (lambda G: synthesize(G, np.zeros((32, 32, 3), np.uint8) + 7, palette="scenes"), "is not in the palette"),
    (lambda G: synthesize(G, "world:scenes:x"), "world:NAME:INDEX"),
    (lambda G: repaint(G, SCENE, "box:0,0,8,8", "lava", class_names="scenes"), "unknown class 'lava'"),
    (lambda G: repaint(G, SCENE, "box:0,0,8,8", "water"), "needs class names"),
    (lambda G: repaint(G, SCENE, "box:0,0,8,8", NUM_CLASSES), "out of range"),
    (lambda G: repaint(G, SCENE, "part:sky", "sky", class_names="scenes"), "changes no pixel"),
    (lambda G: repaint(G, SCENE, torch.ones(1, 1, 16, 16), 1), "16x16 but the label map is 32x32"),
    (lambda G: region_styles(G, SCENE, ["box:0,0,8,8"], [1]), "K=2 regions"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_inputs_are_one_line_errors(G, call, message):
    with pytest.raises(ValueError) as e:
        call(G)
    assert message in _one_line(e)


def test_other_families_are_refused_in_one_line():
    from ..conftest import tiny_stylegan2

    with pytest.raises(ValueError, match="needs a SPADE label-to-image model") as e:
        synthesize(tiny_stylegan2(), SCENE)
    _one_line(e)


def test_rgb_file_without_palette_is_refused(G, tmp_path):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(ValueError, match="is an RGB colour map; pass palette=") as e:
        synthesize(G, str(tmp_path / "c.png"))
    _one_line(e)


def test_a_model_without_vae_takes_no_styles():
    G = tiny_spade(use_vae=False)
    assert synthesize(G, SCENE).images.shape == (1, 3, 32, 32)
    for call in (lambda: synthesize(G, SCENE, n=2), lambda: region_styles(G, SCENE, ["box:0,0,8,8"], [1, 2])):
        with pytest.raises(ValueError, match="use_vae") as e:
            call()
        _one_line(e)
    out = repaint(G, SCENE, "box:8,8,16,16", 6)
    assert out.extras["codes"] is None and out.images.shape == (1, 3, 32, 32)


# --------------------------------------------------------------------------------------------------
# Repaint: only what the repainted labels can reach changes


def test_repaint_paints_the_region_and_keeps_the_style(G, tmp_path):
    out = repaint(G, SCENE, "box:4,4,12,12", "water", class_names="scenes", seed=4)
    before, after = out.extras["labels_before"], out.extras["labels"]
    water = get_world("scenes").part_names.index("water")
    assert (after[0, 4:12, 4:12] == water).all()
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[4:12, 4:12] = False
    assert torch.equal(after[0][outside], before[0][outside])
    assert torch.equal(out.extras["mask"][0, 0].bool(), after[0] != before[0])
    z = z_from_seeds([4], G.z_dim)
    assert torch.equal(out.extras["codes"], z)
    assert torch.allclose(out.extras["before"], G.synthesize_labels(before, z=z), atol=1e-6)
    assert torch.allclose(out.images, G.synthesize_labels(after, z=z), atol=1e-6)
    assert out.recipe.params["region"] == "box:4,4,12,12"
    _replays(out, tmp_path, G)


@pytest.mark.parametrize("box, seed", [((5, 5, 8, 8), 0), ((21, 9, 24, 12), 1), ((17, 25, 20, 28), 2), ((1, 13, 4, 16), 3)])
def test_pixels_the_repainted_labels_cannot_reach_are_exactly_unchanged(G, box, seed):
    """label_reach follows the net: nearest-resized labels at each block, SPADE's 3×3 convs, the block
    convs, upsampling. Boxes off the coarse blocks' sampling grid (multiples of 4) reach only part of the
    image; there the images are bit-identical, and inside the region they change."""
    region = Region.box(*box, size=(32, 32))
    out = repaint(G, SCENE, region, 6 if seed % 2 else 10, seed=seed)
    changed = (out.images - out.extras["before"]).abs().amax(dim=1, keepdim=True) > 0
    reach = out.extras["reach"]
    assert not (changed & ~reach).any()  # sound: nothing changes where the labels cannot reach
    assert reach.float().mean() < 0.5  # and not vacuous
    assert changed[out.extras["mask"].bool()].float().mean() > 0.5
    assert float(out.extras["in_mse"][0]) > 10 * float(out.extras["out_mse"][0])


def test_label_reach_matches_the_network_on_a_coarse_region(G):
    """A region holding a pixel every block samples reaches every pixel (so In/Out-MSE is the measure)."""
    labels = load_labels(SCENE, (32, 32))
    new, changed = repaint_labels(labels, Region.box(0, 0, 2, 2, size=(32, 32)), 11)
    assert bool(changed[0, 0, 0, 0]) and label_reach(G, changed).all()
    instance = SimpleNamespace(config={**G.config, "norm_G": "spadeinstance3x3"}, geometry=G.geometry)
    far = torch.zeros_like(changed)
    far[..., 9, 9] = True
    assert label_reach(instance, far).all() and not label_reach(G, far).all()  # instance norm: global statistics
    assert not label_reach(G, torch.zeros_like(changed)).any()


def test_neighbourhood_and_part_regions(G):
    out = repaint(G, SCENE, "part:sky", "cloud", class_names="scenes", neighbourhood=2)
    sky = get_world("scenes").part_names.index("sky")
    assert torch.equal(out.extras["mask"][0, 0].bool(), out.extras["labels_before"][0] == sky)
    assert torch.equal(out.extras["neighbourhood"].bool(), dilate(out.extras["mask"], 2))
    region, record = resolve_label_region("part:sky", out.extras["labels_before"], "scenes")
    assert record == "part:sky" and torch.equal(region.mask[0, 0] > 0.5, out.extras["mask"][0, 0].bool())
    with pytest.raises(RegionError):
        resolve_label_region("part:sky", out.extras["labels_before"], None)


# --------------------------------------------------------------------------------------------------
# Per-region styles


def test_region_styles_blend_codes_by_region(G, tmp_path):
    same = region_styles(G, SCENE, ["box:0,0,32,16"], [3, 3])
    assert torch.allclose(same.images, synthesize(G, SCENE, seed=3).images, atol=1e-5)  # one style = no blend
    mixed = region_styles(G, SCENE, ["box:0,0,32,16"], [3, 8])
    assert mixed.extras["masks"].shape == (1, 2, 32, 32) and torch.equal(mixed.extras["codes"], z_from_seeds([3, 8], G.z_dim))
    z = z_from_seeds([3, 8], G.z_dim)[None]
    labels = load_labels(SCENE, (32, 32))
    assert torch.equal(mixed.images, G.synthesize_labels(labels, z=z, z_masks=mixed.extras["masks"]))
    assert (mixed.images - same.images).abs().max() > 1e-3
    assert torch.allclose(mixed.extras["masks"][0, 1], Region.box(0, 0, 32, 16, size=(32, 32)).mask[0, 0])
    reference = synthesize(G, "world:scenes:4", seed=9).images
    refd = region_styles(G, SCENE, [Region.box(0, 0, 16, 32, size=(32, 32))], [3, reference])
    assert torch.allclose(refd.extras["codes"][1], G.encode(reference)[0][0])
    _replays(refd, tmp_path, G)


def test_latent_operations_refuse_a_label_map_model_in_one_line():
    """Seeds cannot drive SPADE: every latent operation says so and names what to use instead."""
    import regiongan as rg

    G = tiny_spade()
    for call in (lambda: rg.generate(G, 0), lambda: rg.resample(G, 0, "box:0,0,8,8"),
                 lambda: rg.find_directions(G, "box:0,0,8,8", samples=1)):  # fmt: skip
        with pytest.raises(ValueError, match=r"needs a latent generator .* this spade model has no latent codes; it is a label-map model: use rg.synthesize"):
            call()
