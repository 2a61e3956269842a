"""SPADE generator family: config validation and exact size accounting, spectral norm against torch's,
label-map inputs and their errors, multimodal / per-region styles, the encoder, and the save/load round trip.
Conformance with NVlabs' outputs is in tests/checkpoints/test_spade.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import regiongan as rg
from regiongan.checkpoints import save_pretrained
from regiongan.generators import SPADEModel, list_families
from regiongan.generators.spade import check_spade_config, instance_edges, kl_divergence, to_one_hot
from regiongan.generators.spade_blocks import SNConv2dStrided, parse_plain_norm, parse_spade_norm

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_spade(seed: int = 0, **overrides) -> SPADEModel:
    """A 32² SPADE (input grid 1×1, 'normal'), 4 classes, ngf 2; with use_vae a 32² encoder and z_dim 8.
    Batch-norm statistics are randomised so that eval mode is not the identity."""
    torch.manual_seed(seed)
    cfg = dict(label_nc=4, ngf=2, crop_size=32, z_dim=8, encoder_ndf=2, encoder_size=32, norm_G="spectralspadebatch3x3")
    cfg.update(overrides)
    G = SPADEModel(**cfg)
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if name.endswith("running_mean"):
                t.normal_(0, 0.1)
            elif name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                t.normal_(0, 0.1)
    return G.eval().requires_grad_(False)


def _labels(G: SPADEModel, n: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, G.num_classes, (n, G.img_resolution, G.img_width), generator=g)


def _state_count(G: nn.Module) -> int:
    return sum(t.numel() for t in G.state_dict().values())


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        dict(norm_G="spadeinstance3x3", num_upsampling_layers="more", crop_size=128),
        dict(num_upsampling_layers="most", crop_size=256, aspect_ratio=2.0, norm_G="spectralspadesyncbatch5x5"),
        dict(use_vae=True),
        dict(use_vae=True, norm_E="batch", encoder_size=64, instance_edge=True, label_nc=5),
        dict(use_vae=True, norm_E="spectral", with_encoder=True),
        dict(use_vae=True, with_encoder=False),
    ],
)
def test_config_cost_counts_the_state_dict_exactly(overrides):
    G = tiny_spade(**overrides)
    assert G.model_type == "spade" and "spade" in list_families()
    cost = SPADEModel.config_cost(G.config)
    assert cost.parameters == _state_count(G)
    assert cost.activations > 0
    assert G.synthesize_labels(_labels(G, 1)).shape == (1, 3, G.img_resolution, G.img_width)


def test_geometry_follows_nvlabs():
    """sw = crop / 2^k, sh = round(sw / aspect): Cityscapes (512, 2.0, more) is 256×512 from a 4×8 grid."""
    geo = check_spade_config(36, 64, "more", 512, 2.0, False, 256, "spectralspadesyncbatch3x3", "spectralinstance",
                             64, 256, None, True)  # fmt: skip
    assert (geo.sh, geo.sw, geo.height, geo.width, geo.num_up) == (4, 8, 256, 512, 6)
    assert [b[0] for b in geo.blocks] == ["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"]
    assert sum(b[3] for b in geo.blocks) == 6
    most = check_spade_config(3, 4, "most", 256, 1.0, False, 8, "spadebatch3x3", "instance", 4, 256, None, False)
    assert most.blocks[-1] == ("up_4", 4, 2, True) and sum(b[3] for b in most.blocks) == 7


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(num_upsampling_layers="many"), "num_upsampling_layers must be"),
        (dict(crop_size=48), "multiple of 2\\^5 = 32"),
        (dict(norm_G="spadegroup3x3"), "norm_G must be"),
        (dict(norm_G="spectralspadebatch4x4"), "odd K"),
        (dict(norm_E="layer"), "norm_E must be"),
        (dict(with_encoder=True), "with_encoder needs use_vae"),
        (dict(aspect_ratio=0), "aspect_ratio"),
        (dict(ngf=1.5), "ngf"),
        (dict(use_vae="yes"), "use_vae must be true or false"),
        (dict(encoder_size=48), "encoder_size must be a power of two"),
        (dict(aspect_ratio=100.0), "input grid"),
        (dict(norm_G="spadeinstance3x3"), "instance norm needs more than one pixel"),
    ],
)
def test_bad_configs_are_one_line_errors(overrides, match):
    cfg = {**dict(label_nc=4, ngf=2, crop_size=32), **overrides}
    with pytest.raises(ValueError, match=match) as err:
        SPADEModel.config_cost(cfg)
    assert "\n" not in str(err.value)


def test_norm_strings_parse_as_nvlabs():
    assert parse_spade_norm("spectralspadesyncbatch3x3") == (True, "syncbatch", 3)
    assert parse_spade_norm("spadeinstance5x5") == (False, "instance", 5)
    assert parse_plain_norm("spectralinstance") == (True, "instance")
    assert parse_plain_norm("spectralsync_batch") == (True, "batch")
    assert parse_plain_norm("spectral") == (True, "none")


@pytest.mark.parametrize("stride", [1, 2])
def test_spectral_norm_matches_torch_in_eval_and_training(stride):
    """Our spectral-normalised conv computes what ``torch.nn.utils.spectral_norm`` does from the same
    ``weight_orig/weight_u/weight_v``: no power iteration in eval mode, one per call in training mode."""
    torch.manual_seed(0)
    ref = torch.nn.utils.spectral_norm(nn.Conv2d(5, 7, 3, stride=stride, padding=1))
    ours = SNConv2dStrided(5, 7, 3, stride, bias=True)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 9, 9)
    ref.eval(), ours.eval()
    torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=1e-5)
    ref.train(), ours.train()
    for _ in range(2):
        torch.testing.assert_close(ours(x), ref(x), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ours.weight_u, ref.weight_u)


def test_to_one_hot_and_its_errors():
    labels = torch.tensor([[[0, 2], [1, 2]]])
    one_hot = to_one_hot(labels, 3)
    assert one_hot.shape == (1, 3, 2, 2) and one_hot.dtype == torch.float32
    assert torch.equal(one_hot.argmax(1), labels) and torch.equal(one_hot.sum(1), torch.ones(1, 2, 2))
    cases = [
        (torch.tensor([[[0, 3]]]), "label value 3 is out of range: this model has 3 classes"),
        (torch.tensor([[[0, -1]]]), "class ids >= 0"),
        (torch.zeros(1, 2, 2), "integer class ids .* got torch.float32"),
        (torch.zeros(1, 2, 2, dtype=torch.bool), "integer class ids"),
        (torch.zeros(2, 2, dtype=torch.long), "labels\\[None\\]"),
        (torch.zeros(1, 4, 4, 3, dtype=torch.uint8), "RGB colour map.*palette"),
    ]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match) as err:
            to_one_hot(bad, 3)
        assert "\n" not in str(err.value)


def test_label_maps_of_the_wrong_size_or_kind_are_refused():
    G = tiny_spade(crop_size=64, aspect_ratio=2.0)  # 32×64 images
    assert (G.img_resolution, G.img_width) == (32, 64)
    G.synthesize_labels(torch.zeros(1, 32, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="the label map is 64×64 .* makes 32×64 images .*aspect_ratio 2"):
        G.synthesize_labels(torch.zeros(1, 64, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="float labels must be one-hot or soft maps \\[N, 4, H, W\\].*integer dtype"):
        G.synthesize_labels(torch.zeros(1, 32, 64))
    with pytest.raises(ValueError, match="\\[N, 4, H, W\\], got \\(1, 3, 32, 64\\)"):
        G.synthesize_labels(torch.zeros(1, 3, 32, 64))
    with pytest.raises(ValueError, match="no VAE .*leave z and z_masks out"):
        G.synthesize_labels(torch.zeros(1, 32, 64, dtype=torch.long), z=torch.zeros(1, 8))
    with pytest.raises(ValueError, match="no style encoder"):
        G.encode(torch.zeros(1, 3, 32, 64))


def test_integer_labels_equal_their_one_hot_map_and_batch_equals_single():
    G = tiny_spade()
    labels = _labels(G, 3)
    img = G.synthesize_labels(labels)
    assert img.shape == (3, 3, 32, 32) and img.abs().max() <= 1 and img.std() > 0
    torch.testing.assert_close(G(to_one_hot(labels, 4)), img)
    for i in range(3):
        torch.testing.assert_close(G.synthesize_labels(labels[i : i + 1]), img[i : i + 1], atol=1e-6, rtol=1e-5)
    other = labels.clone()
    other[:, :16] = (other[:, :16] + 1) % 4
    assert not torch.allclose(G.synthesize_labels(other), img)  # the output depends on the labels


def test_instance_edges_mark_both_sides_of_a_boundary():
    inst = torch.tensor([[[1, 1, 2], [1, 1, 2], [3, 3, 3]]])
    expected = torch.tensor([[[0, 1, 1], [1, 1, 1], [1, 1, 1]]]).float()[:, None]
    assert torch.equal(instance_edges(inst), expected)
    G = tiny_spade(label_nc=5, instance_edge=True)
    assert G.num_classes == 4
    labels = _labels(G, 1)
    seg = G.label_input(labels, instances=torch.arange(32 * 32).view(1, 32, 32) // 64)
    assert seg.shape == (1, 5, 32, 32) and seg[:, 4].sum() > 0 and torch.equal(seg[:, :4], to_one_hot(labels, 4))
    assert G.label_input(labels)[:, 4].sum() == 0
    with pytest.raises(ValueError, match="out of range: this model has 4 classes"):
        G.label_input(torch.full((1, 32, 32), 4))
    with pytest.raises(ValueError, match="no instance-edge channel"):
        tiny_spade().label_input(labels, instances=torch.zeros(1, 32, 32, dtype=torch.long))


def test_vae_styles_are_multimodal_and_seeded():
    G = tiny_spade(use_vae=True)
    assert G.z_dim == 8 and tiny_spade().z_dim == 0
    labels = _labels(G, 1)
    a = G.synthesize_labels(labels, generator=torch.Generator().manual_seed(1))
    b = G.synthesize_labels(labels, generator=torch.Generator().manual_seed(1))
    c = G.synthesize_labels(labels, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    many = G.synthesize_labels(labels, z=z)  # one map, four styles
    assert many.shape == (4, 3, 32, 32)
    torch.testing.assert_close(many[2:3], G.synthesize_labels(labels, z=z[2:3]))
    with pytest.raises(ValueError, match="z must be \\[1 or 1, 8\\]|z must be \\[4 or 1, 8\\]"):
        G.synthesize_labels(labels, z=torch.zeros(4, 7))
    with pytest.raises(ValueError, match="3 styles for 2 label maps"):
        G.synthesize_labels(_labels(G, 2), z=torch.zeros(3, 8))


def test_per_region_styles_blend_the_input_grid():
    """``z [N, K, z_dim]`` with masks: each input cell is the mask-weighted blend of ``fc(z_k)``; one mask
    covering everything is the plain code, and a mask on one cell changes only that cell of the input."""
    G = tiny_spade(use_vae=True, crop_size=64)  # a 2×2 input grid, 32 px per cell
    labels = _labels(G, 1)
    z = torch.randn(1, 2, 8, generator=torch.Generator().manual_seed(3))
    everywhere = torch.zeros(1, 2, 64, 64)
    everywhere[:, 0] = 1
    torch.testing.assert_close(G.input_features(z, everywhere), G.input_features(z[:, 0]))
    torch.testing.assert_close(G.synthesize_labels(labels, z=z, z_masks=everywhere), G.synthesize_labels(labels, z=z[:, 0]))
    corner = everywhere.clone()
    corner[:, 0, :32, :32], corner[:, 1, :32, :32] = 0, 1
    x = G.input_features(z, corner)
    torch.testing.assert_close(x[..., 0, 0], G.input_features(z[:, 1])[..., 0, 0])
    torch.testing.assert_close(x[..., 1, 1], G.input_features(z[:, 0])[..., 1, 1])
    half = everywhere.clone()
    half[:, 0, :16, :32], half[:, 1, :16, :32] = 0, 1  # half a cell: the cell gets the average
    expected = 0.5 * (G.input_features(z[:, 0]) + G.input_features(z[:, 1]))
    torch.testing.assert_close(G.input_features(z, half)[..., 0, 0], expected[..., 0, 0])
    with pytest.raises(ValueError, match="z_masks must sum to 1"):
        G.synthesize_labels(labels, z=z, z_masks=torch.ones(1, 2, 64, 64))
    with pytest.raises(ValueError, match="z_masks is 32×32"):
        G.synthesize_labels(labels, z=z, z_masks=torch.ones(1, 2, 32, 32) / 2)
    with pytest.raises(ValueError, match="z must be \\[1 or 1, K, 8\\] with z_masks"):
        G.synthesize_labels(labels, z=z[:, 0], z_masks=everywhere)


def test_encoder_shapes_kl_and_its_errors():
    G = tiny_spade(use_vae=True)
    img = torch.rand(2, 3, 32, 32) * 2 - 1
    mu, logvar = G.encode(img)
    assert mu.shape == logvar.shape == (2, 8)
    z = G.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert z.shape == (2, 8) and not torch.equal(z, mu)
    assert torch.equal(G.reparameterize(mu, torch.full_like(logvar, -1e4)), mu)
    assert float(kl_divergence(torch.zeros(2, 8), torch.zeros(2, 8))) == 0.0
    assert float(kl_divergence(torch.ones(2, 8), torch.zeros(2, 8))) == pytest.approx(8.0)
    assert G.synthesize_labels(_labels(G, 2), z=z).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="the encoder image is 64×64 .* makes 32×32"):
        G.encode(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="float RGB images \\[N, 3, H, W\\]"):
        G.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="built without its encoder"):
        tiny_spade(use_vae=True, with_encoder=False).encode(img)


def test_training_mode_backpropagates_to_every_block():
    G = tiny_spade(use_vae=True).train().requires_grad_(True)
    labels = _labels(G, 2)
    mu, logvar = G.encode(torch.rand(2, 3, 32, 32))
    img = G.synthesize_labels(labels, z=G.reparameterize(mu, logvar))
    (img.square().mean() + kl_divergence(mu, logvar)).backward()
    for name in ("fc.weight", "head_0.norm_0.mlp_gamma.weight", "up_3.conv_1.weight_orig", "encoder.fc_mu.weight"):
        assert G.get_parameter(name).grad.abs().sum() > 0, name


def test_save_and_load_round_trip_keeps_generator_and_encoder(tmp_path):
    G = tiny_spade(use_vae=True, label_nc=5, instance_edge=True)
    save_pretrained(G, tmp_path / "spade")
    H = rg.load_model(tmp_path / "spade")
    assert isinstance(H, SPADEModel) and H.config == G.config and H.encoder is not None
    img = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(H.encode(img), G.encode(img))
    z = torch.randn(1, 8)
    torch.testing.assert_close(H.synthesize_labels(_labels(G, 1), z=z), G.synthesize_labels(_labels(G, 1), z=z))
