"""ITAN's core (regiongan.methods.itan.blend): exactness where nothing should change, locality, layer
selection, noise options, batch == single, and clear errors."""

from __future__ import annotations

import pytest
import torch

from regiongan.methods.itan import blend_generate, resample, saliency, transfer
from regiongan.metrics.locality import in_out_mse
from regiongan.regions import Region, RegionError, RegionSet

R = 32  # tiny_stylegan2 image size


pytestmark = pytest.mark.usefixtures("one_thread")


def _z(n=1, seed=1):
    return torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))


def _plain(G, z, psi=1.0):
    return G.synthesize(G.styles(G.map(z, None, psi))).image


BOX = Region.box(8, 8, 24, 24, (R, R))


# ---------------------------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_one_region_covering_the_image_reproduces_the_plain_generator(G, psi):
    z = _z(2)
    out = blend_generate(G, [z], RegionSet(torch.ones(1, 1, R, R)), truncation_psi=psi)
    assert torch.equal(out.image, _plain(G, z, psi))
    # also as one of two regions, the other empty, at every layer
    masks = torch.stack([torch.zeros(R, R), torch.ones(R, R)])[None]
    out = blend_generate(G, [_z(2, seed=9), z], RegionSet(masks), truncation_psi=psi)
    assert torch.equal(out.image, _plain(G, z, psi))


def test_k_identical_codes_reproduce_the_plain_generator(G):
    z = _z(2)
    regions = RegionSet.from_regions([BOX, Region.box(0, 0, 12, 32, (R, R))])  # K = 3, soft overlaps
    out = blend_generate(G, [z, z, z], regions.feather(2.0))
    assert torch.equal(out.image, _plain(G, z))
    assert out.ws.shape == (2, 3, G.num_ws, 16) and out.masks.shape == (2, 3, R, R)


def test_w_and_w_plus_codes_match_z_codes(G):
    z, z2 = _z(1), _z(1, seed=2)
    regions = RegionSet.foreground_background(BOX)
    ref = blend_generate(G, [z, z2], regions).image
    ws, ws2 = G.map(z), G.map(z2)
    assert torch.equal(blend_generate(G, [ws[:, 0], ws2[:, 0]], regions, space="w").image, ref)
    assert torch.equal(blend_generate(G, [ws, ws2], regions, space="w+").image, ref)


def test_transfer_with_reference_equal_to_target_is_the_identity(G):
    z = _z(3)
    for layers in ("fine", "coarse", None):
        assert torch.equal(transfer(G, z, z, BOX, layers=layers).images, _plain(G, z))


def test_saliency_with_all_psi_one_is_the_identity(G):
    z = _z(2)
    regions = RegionSet.foreground_background(BOX)
    assert torch.equal(saliency(G, z, regions, [1.0, 1.0]).images, _plain(G, z))


def test_saliency_truncates_each_region(G):
    z = _z(1)
    regions = RegionSet.foreground_background(BOX)
    out = saliency(G, z, regions, [1.0, 0.5])
    ws, w_avg = G.map(z), G.latent_mean()
    torch.testing.assert_close(out.extras["ws"][:, 1], w_avg + (ws - w_avg) * 0.5)
    assert torch.equal(out.extras["ws"][:, 0], ws)
    # ψ = 0.5 everywhere equals the plain generator with truncation 0.5 (up to w̄-lerp rounding)
    everywhere = saliency(G, z, regions, [0.5, 0.5]).images
    torch.testing.assert_close(everywhere, _plain(G, z, 0.5), atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- locality


def test_local_resample_at_fine_layers_is_local(G):
    z = _z(1)
    out = resample(G, z, BOX, variations=16, layers="fine", variation_seed=0)
    assert out.images.shape == (16, 3, R, R) and out.extras["codes"].shape == (16, 16)
    in_mse, out_mse = in_out_mse(_plain(G, z).expand(16, -1, -1, -1), out.images, BOX)
    # Measured on this random tiny model (fine = 16²–32², box 16×16 in 32²): mean In-MSE 5053, Out-MSE 643
    # (ratio 7.9; worst single sample 5.2). An untrained model mixes information across the box edge through
    # its 3×3 convs, so the outside still changes somewhat; a trained model is far more local. Margin ×2.
    assert float(in_mse.mean()) > 4 * float(out_mse.mean())
    assert bool((in_mse > 2 * out_mse).all())


def test_blending_only_the_last_torgb_changes_only_the_region(G):
    """ToRGB is a 1×1 modulated conv: blending there is exactly per pixel."""
    z = _z(1)
    out = resample(G, z, BOX, variations=4, layers=["b32.torgb"], variation_seed=3)
    plain = _plain(G, z).expand(4, -1, -1, -1)
    outside = (1 - BOX.mask).bool().expand(4, 3, -1, -1)
    torch.testing.assert_close(out.images[outside], plain[outside], atol=1e-5, rtol=1e-5)
    assert (out.images - plain)[~outside].abs().mean() > 1e-2


def test_local_resample_is_seeded(G):
    z = _z(1)
    a = resample(G, z, BOX, variations=3, variation_seed=5, noise="resample")
    b = resample(G, z, BOX, variations=3, variation_seed=5, noise="resample")
    c = resample(G, z, BOX, variations=3, variation_seed=6, noise="resample")
    assert torch.equal(a.images, b.images) and torch.equal(a.extras["codes"], b.extras["codes"])
    assert not torch.allclose(a.images, c.images)


# ---------------------------------------------------------------------------------------------- layers, noise


def test_the_blended_layers_are_the_selected_ones(G):
    points = G.control_points()
    out = blend_generate(G, [_z(1), _z(1, 2)], RegionSet.foreground_background(BOX), layers="fine")
    assert out.layers == tuple(p.name for p in points if p.resolution >= 16)


def test_noise_modes(G):
    regions = RegionSet.foreground_background(BOX)
    z, z2 = _z(1), _z(1, 2)
    const = G.make_noise(1, "const")
    out = blend_generate(G, [z, z2], regions, noise="resample", generator=torch.Generator().manual_seed(0))
    last = out.noise[-1]  # 32² conv layer, hard box mask
    inside = BOX.mask.bool()
    assert torch.equal(last[~inside], const[-1].expand(1, 1, R, R)[~inside])
    assert not torch.allclose(last[inside], const[-1].expand(1, 1, R, R)[inside])
    a = blend_generate(G, [z, z2], regions, noise="blend", generator=torch.Generator().manual_seed(1)).image
    b = blend_generate(G, [z, z2], regions, noise="blend", generator=torch.Generator().manual_seed(1)).image
    assert torch.equal(a, b)
    # only the selected layers get mixed noise: elsewhere the base region's draw
    out = blend_generate(G, [z, z2], regions, layers="fine", noise="resample", generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.noise[0], const[0])


def test_feathered_noise_keeps_unit_variance(G):
    regions = RegionSet.foreground_background(BOX).feather(3.0)
    out = blend_generate(G, [_z(64), _z(64, 2)], regions, noise="blend", generator=torch.Generator().manual_seed(0))
    edge = out.noise[-1][:, 0, 8, 4:12]  # across the soft left edge of the box
    assert abs(float(edge.std()) - 1.0) < 0.1


# ---------------------------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clear_errors(G):
    z = _z(1)
    two = RegionSet.foreground_background(BOX)
    with pytest.raises(RegionError, match="empty"):
        resample(G, z, Region(torch.zeros(1, 1, R, R)))
    with pytest.raises(RegionError, match="covers the whole image"):
        resample(G, z, Region.full((R, R)))
    with pytest.raises(RegionError, match="covers the whole image"):
        transfer(G, z, _z(1, 2), Region.full((R, R)))
    with pytest.raises(RegionError, match=r"16x16 but this model generates 32x32"):
        resample(G, z, Region.box(0, 0, 8, 8, (16, 16)))
    with pytest.raises(RegionError, match="generates 32x32"):
        blend_generate(G, [z, z], RegionSet.foreground_background(Region.box(0, 0, 8, 8, (16, 16))))
    with pytest.raises(ValueError, match=r"batch sizes disagree \(codes\[1\]: 2"):
        blend_generate(G, [_z(3), _z(2)], two)
    with pytest.raises(ValueError, match="batch 1, got 2"):
        resample(G, _z(2), BOX)
    with pytest.raises(RegionError, match="NaN"):
        blend_generate(G, [z, z], torch.full((1, 2, R, R), float("nan")))
    with pytest.raises(RegionError, match="must sum to 1"):
        blend_generate(G, [z, z], torch.full((1, 2, R, R), 0.7))
    with pytest.raises(ValueError, match=r"outside this model.*resolutions \[4, 8, 16, 32\]"):
        blend_generate(G, [z, z], two, layers=(8, 64))
    with pytest.raises(ValueError, match="unknown control point 'b64.conv0'"):
        blend_generate(G, [z, z], two, layers=["b64.conv0"])
    with pytest.raises(ValueError, match="finite number > 0"):
        saliency(G, z, two, [1.0, 0.0])
    with pytest.raises(ValueError, match="finite number > 0"):
        saliency(G, z, two, [-1.0, 1.0])
    with pytest.raises(ValueError, match="psi has 1 values but there are K=2"):
        saliency(G, z, two, [1.5])
    with pytest.raises(ValueError, match=r"got 3 codes for a RegionSet of K=2 regions \['background', 'region'\]"):
        blend_generate(G, [z, z, z], two)
    with pytest.raises(ValueError, match=r"must be \[N, 16\], got \(16,\).*z\[None\]"):
        blend_generate(G, [z[0], z], two)
    with pytest.raises(ValueError, match="base must be a region index in 0..1"):
        blend_generate(G, [z, z], two, base=2)
    with pytest.raises(ValueError, match="space must be one of"):
        blend_generate(G, [z, z], two, space="s")
    with pytest.raises(ValueError, match="noise must be one of"):
        blend_generate(G, [z, z], two, noise="random")
    with pytest.raises(RegionError, match="foreground_background"):
        blend_generate(G, [z, z], BOX)


def test_batch_equals_single(G):
    z, z2 = _z(3), _z(3, 2)
    masks = torch.stack([Region.box(4 * i, 0, 4 * i + 16, 32, (R, R)).mask[0] for i in range(3)])  # [3, 1, R, R]
    regions = RegionSet(torch.cat([1 - masks, masks], dim=1))
    full = blend_generate(G, [z, z2], regions, feather=1.0).image
    for i in range(3):
        one = blend_generate(G, [z[i : i + 1], z2[i : i + 1]], RegionSet(regions.masks[i : i + 1]), feather=1.0).image
        torch.testing.assert_close(one, full[i : i + 1], atol=1e-5, rtol=1e-5)


def test_blend_spaces_agree_on_hard_masks_and_where_there_is_no_demodulation(G):
    z, z2 = _z(1), _z(1, 2)
    hard = RegionSet.foreground_background(BOX)
    a = blend_generate(G, [z, z2], hard, layers=["b32.torgb"]).image
    b = blend_generate(G, [z, z2], hard, layers=["b32.torgb"], blend_space="w").image
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    soft = hard.feather(2.0)
    s_img = blend_generate(G, [z, z2], soft, layers="fine").image
    w_img = blend_generate(G, [z, z2], soft, layers="fine", blend_space="w").image
    assert not torch.allclose(s_img, w_img, atol=1e-4)  # demodulation differs at soft edges
    assert torch.equal(blend_generate(G, [z, z], soft, blend_space="w").image, _plain(G, z))
    with pytest.raises(ValueError, match="blend_space must be"):
        blend_generate(G, [z, z2], soft, blend_space="z")
