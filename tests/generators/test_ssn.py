"""SSN: the spatially modulated convolution's σ_E against brute force, the exact reduction to StyleGAN2's
layers for a constant style, the exact locality of block styles, every style form synthesize takes, and
the generic forward-mode Jacobian (ReSeFa's engine) on it. Protocol checks: tests/generators/test_families.py."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regiongan.generators import BlendedStyle, SSNGenerator, build_model
from regiongan.generators.ssn_layers import (
    SpatialSynthesisLayer, SpatialToRGBLayer, expected_sigma, grid_to_map, resolve_style, spatially_modulated_conv2d,
)  # fmt: skip
from regiongan.generators.stylegan2 import SynthesisLayer, ToRGBLayer, normalize_2nd_moment
from regiongan.jacobian import forward_jacobian, reverse_jacobian
from regiongan.methods.itan.blend import blend_generate
from regiongan.ops.blocks import block_masks, mix_block, resample_blocks

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_ssn(seed: int = 0, **overrides) -> SSNGenerator:
    """A small randomly initialised SSN (16², 4×4 blocks) with non-zero noise strengths, biases and
    encoder gains (a fresh encoder is the identity, which would hide it)."""
    torch.manual_seed(seed)
    cfg = dict(z_channels=4, w_channels=8, block_grid=4, img_resolution=16, mapping_layers=2, channel_base=256,
               channel_max=16)  # fmt: skip
    cfg.update(overrides)
    G = SSNGenerator(**cfg)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", "encoder_gain")) or (name.endswith("bias") and "affine" not in name):
                p.normal_(0, 0.2)
        G.mapping.w_avg.normal_()
    return G.eval().requires_grad_(False)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------ σ_E


def test_sigma_e_is_the_std_of_an_output_pixel_for_unit_inputs_averaged_over_the_image():
    """Eq. 12: σ_E² = mean over pixels of Var[(W ∗ (S ⊙ h))_{o,p}] for h i.i.d. with unit variance. The
    variance of a linear map's output is the squared norm of its Jacobian row: computed here by brute force
    (the full Jacobian of a periodic convolution, StyleGAN2's border-free expectation) and by Eq. 14 literally
    (W² convolved with S²), against the closed form."""
    g = _gen(0)
    weight = torch.randn(3, 2, 3, 3, generator=g)
    smap = torch.rand(1, 2, 5, 5, generator=g) + 0.1

    def conv_of_modulated(h: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(smap * h.reshape(1, 2, 5, 5), (1, 1, 1, 1), mode="circular"), weight).reshape(-1)

    jac = torch.autograd.functional.jacobian(conv_of_modulated, torch.zeros(2 * 5 * 5))  # [3·25, 2·25]
    brute = jac.square().sum(dim=1).reshape(3, 25).mean(dim=1)  # [O]
    eq14 = F.conv2d(F.pad(smap.square(), (1, 1, 1, 1), mode="circular"), weight.square()).mean(dim=(2, 3))[0]
    sigma2 = expected_sigma(weight, smap)[0].square()
    torch.testing.assert_close(sigma2, brute, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sigma2, eq14, atol=1e-5, rtol=1e-5)
    # a Monte-Carlo check that the normalised output has (about) unit variance, as the normaliser intends
    h = torch.randn(4000, 2, 5, 5, generator=g)
    y = F.conv2d(F.pad(smap * h, (1, 1, 1, 1), mode="circular"), weight) / expected_sigma(weight, smap)[0, :, None, None]
    assert torch.allclose(y.var(dim=0).mean(dim=(1, 2)), torch.ones(3), atol=0.08)


def test_sigma_e_is_one_normaliser_per_sample_and_channel_not_per_pixel():
    """Unlike StyleGAN2's per-pixel demodulation of a spatial style (and SPADE's data statistics), σ_E is
    one number per output channel: raising S in one corner rescales far pixels by exactly σ_E(S)/σ_E(S′)."""
    g = _gen(1)
    w = torch.randn(5, 4, 3, 3, generator=g)
    x = torch.randn(1, 4, 8, 8, generator=g)
    s = torch.rand(1, 4, 8, 8, generator=g) + 0.5
    s2 = s.clone()
    s2[:, :, :2, :2] *= 3.0
    y = spatially_modulated_conv2d(x, w, s, 1, torch.empty(0))
    y2 = spatially_modulated_conv2d(x, w, s2, 1, torch.empty(0))
    far = (slice(None), slice(None), slice(4, None), slice(4, None))  # outside the corner's receptive field
    expected = (expected_sigma(w, s) / expected_sigma(w, s2))[:, :, None, None].expand_as(y[far])
    torch.testing.assert_close(y2[far], y[far] * expected, atol=1e-5, rtol=1e-5)
    assert float((expected - 1).abs().min()) > 1e-3  # the global normaliser did change every channel


# ------------------------------------------------------------------------------------------ = StyleGAN2 for constant S


@pytest.mark.parametrize("up", [1, 2])
def test_a_constant_style_gives_stylegan2s_demodulated_conv(up):
    """With S constant over the image, σ_E(W, S) is StyleGAN2's demodulation: the layer is the modulated
    convolution (same parameters, same noise), for the plain and the upsampling conv, and ToRGB is too."""
    torch.manual_seed(2)
    sg2 = SynthesisLayer(6, 5, 8, 8, up=up)
    ssn = SpatialSynthesisLayer(6, 5, 8, 8, up=up)
    ssn.load_state_dict(sg2.state_dict())
    with torch.no_grad():
        sg2.noise_strength.fill_(0.3)
        ssn.noise_strength.fill_(0.3)
    x = torch.randn(2, 6, 8 // up, 8 // up)
    s = torch.randn(2, 6)
    noise = torch.randn(2, 1, 8, 8)
    expected = sg2(x, s, noise, "reference", "l")
    torch.testing.assert_close(ssn(x, s[:, :, None, None], noise), expected, atol=1e-5, rtol=1e-5)
    full = s[:, :, None, None].expand(-1, -1, 8 // up, 8 // up)  # the constant map at the input resolution
    torch.testing.assert_close(ssn(x, full, noise), expected, atol=1e-5, rtol=1e-5)

    rgb_sg2, rgb_ssn = ToRGBLayer(5, 3, 8, 8), SpatialToRGBLayer(5, 3, 8, 8)
    rgb_ssn.load_state_dict(rgb_sg2.state_dict())
    y = torch.randn(2, 5, 8, 8)
    s5 = torch.randn(2, 5)
    torch.testing.assert_close(
        rgb_ssn(y, s5[:, :, None, None].expand(-1, -1, 8, 8)), rgb_sg2(y, s5, "reference", "t"), atol=1e-5, rtol=1e-5
    )


def test_a_spatial_style_is_not_a_weight_modulation():
    """App. A: conv(W, x ⊙ S) cannot be written as conv(W̃, x) when S varies — the input is scaled per pixel
    *before* the 3×3 convolution. Checked against scaling the output instead (what a weight modulation does)."""
    g = _gen(3)
    w = torch.randn(4, 3, 3, 3, generator=g)
    x = torch.randn(1, 3, 6, 6, generator=g)
    s = torch.ones(1, 3, 6, 6)
    s[:, :, :, 3:] = 2.0
    y = F.conv2d(x * s, w, padding=1)
    # per-pixel output scaling by the same map is wrong at the seam (column 2 and 3 see both styles)
    y_wrong = torch.where(torch.arange(6) >= 3, 2.0, 1.0) * F.conv2d(x, w, padding=1)
    torch.testing.assert_close(y[..., :2], y_wrong[..., :2])
    assert float((y[..., 2:4] - y_wrong[..., 2:4]).abs().max()) > 1e-3


# ------------------------------------------------------------------------------------------ locality (exact)


def test_a_latent_block_drives_exactly_its_image_block_of_every_style_map():
    """Before any convolution mixes pixels, resampling z block a changes the style maps of every layer only
    inside block a's image block (nearest upsampling; the per-block MLP and affines are 1×1). The spatial
    encoder is set to the identity here: with it, a block also moves its grid neighbours (tested below)."""
    G = tiny_ssn()
    with torch.no_grad():
        G.mapping.encoder_gain.zero_()
    z = G.z_grid(torch.randn(1, G.z_dim, generator=_gen(4)))
    z2 = G.z_grid(torch.randn(1, G.z_dim, generator=_gen(5)))
    a = (1, 2)
    s0, s1 = G.styles(G.map(z)), G.styles(G.map(mix_block(z, z2, a)))
    for p, u, v in zip(G.control_points(), s0, s1):
        c = G._layer(p.name).in_channels
        m0 = resolve_style(u, c, 4, p.in_resolution, p.name)
        m1 = resolve_style(v, c, 4, p.in_resolution, p.name)
        inside = block_masks(4, p.in_resolution, p.in_resolution)[a[0] * 4 + a[1]].bool()
        diff = (m0 - m1).abs().amax(dim=(0, 1))  # [r, r]
        assert float(diff[~inside].max()) == 0.0, p.name
        assert float(diff[inside].min()) > 0.0, p.name


def test_the_spatial_encoder_reaches_only_grid_neighbours():
    G = tiny_ssn()  # one 3×3 encoder layer with a non-zero gain
    z = G.z_grid(torch.randn(1, G.z_dim, generator=_gen(6)))
    z2 = G.z_grid(torch.randn(1, G.z_dim, generator=_gen(7)))
    w0 = G.map(z)[0, 0].reshape(G.w_channels, 4, 4)
    w1 = G.map(mix_block(z, z2, (0, 0)))[0, 0].reshape(G.w_channels, 4, 4)
    moved = (w0 - w1).abs().amax(dim=0) > 0
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[:2, :2] = True
    assert torch.equal(moved, expected)


def test_the_global_gate_blends_every_block_towards_the_code_of_the_pooled_z():
    G = tiny_ssn(encoder_global=True, encoder_layers=0)
    z = G.z_grid(torch.randn(2, G.z_dim, generator=_gen(6)))
    blocks = normalize_2nd_moment(z.permute(0, 2, 3, 1).reshape(-1, G.z_channels))
    pooled = normalize_2nd_moment(blocks.reshape(2, 16, -1).sum(dim=1))  # [2, z_c]
    one = tiny_ssn(encoder_global=False, encoder_layers=0)  # the same MLP: the pooled z mapped as one block
    one.load_state_dict({k: v for k, v in G.state_dict().items() if "gate" not in k})
    w_pooled = one.map(pooled[:, :, None, None].expand(-1, -1, 4, 4))[:, 0].reshape(2, G.w_channels, 4, 4)
    w_local = one.map(z)[:, 0].reshape(2, G.w_channels, 4, 4)
    got = G.map(z)[:, 0].reshape(2, G.w_channels, 4, 4)
    torch.testing.assert_close(got, w_pooled)  # gate 1 (its initialisation): every block takes the pooled code
    with torch.no_grad():
        G.mapping.encoder_global_gate.copy_(torch.linspace(0, 1, G.w_channels))
    g = G.mapping.encoder_global_gate[None, :, None, None]
    torch.testing.assert_close(G.map(z)[:, 0].reshape(2, G.w_channels, 4, 4), w_local + g * (w_pooled - w_local))


def test_the_gate_lr_multiplier_scales_the_stored_gate_not_the_network():
    plain, fast = tiny_ssn(encoder_global=True), tiny_ssn(encoder_global=True, gate_lr_multiplier=20.0)
    assert torch.equal(fast.mapping.global_gate(), torch.ones(fast.w_channels))  # still starts at 1
    torch.testing.assert_close(fast.mapping.encoder_global_gate, torch.full([fast.w_channels], 0.05))
    z = torch.randn(2, plain.z_dim, generator=_gen(3))
    torch.testing.assert_close(fast.map(z), plain.map(z))
    fast.requires_grad_(True)
    fast.map(z).sum().backward()  # d(output)/d(stored gate) is 20x d(output)/d(gate): Adam's step is 20x larger
    plain.requires_grad_(True)
    plain.map(z).sum().backward()
    torch.testing.assert_close(fast.mapping.encoder_global_gate.grad, 20 * plain.mapping.encoder_global_gate.grad)


def test_through_the_pool_one_block_moves_every_block():
    G = tiny_ssn(encoder_global=True)
    with torch.no_grad():
        G.mapping.encoder_global_gate.fill_(0.5)
    z = G.z_grid(torch.randn(1, G.z_dim, generator=_gen(6)))
    z2 = G.z_grid(torch.randn(1, G.z_dim, generator=_gen(7)))
    moved = (G.map(z) - G.map(mix_block(z, z2, (0, 0))))[0, 0].reshape(G.w_channels, 4, 4).abs().amax(dim=0) > 0
    assert bool(moved.all())  # the far corner too
    with torch.no_grad():
        G.mapping.encoder_global_gate.zero_()  # gate 0: the paper's per-block codes, the 3×3 neighbourhood only
    moved = (G.map(z) - G.map(mix_block(z, z2, (0, 0))))[0, 0].reshape(G.w_channels, 4, 4).abs().amax(dim=0) > 0
    assert torch.equal(moved.nonzero().amax(dim=0), torch.tensor([1, 1]))


def test_resampling_one_block_changes_the_image_less_far_away():
    """On the synthesis as a whole the receptive fields of the 3×3 convolutions and σ_E spread a block's
    change: far pixels change less than the block's own pixels even at random initialisation."""
    G = tiny_ssn(encoder_layers=0)
    z = G.z_grid(torch.randn(4, G.z_dim, generator=_gen(8)))
    z2 = G.z_grid(torch.randn(4, G.z_dim, generator=_gen(9)))
    diff = (G(z) - G(mix_block(z, z2, 0))).square().mean(dim=(0, 1))  # block (0, 0) -> [16, 16]
    assert float(diff[:4, :4].mean()) > 3 * float(diff[8:, 8:].mean())


# ------------------------------------------------------------------------------------------ style forms


def test_every_style_form_resolves_to_the_same_map():
    G = tiny_ssn()
    p = G.control_points()[3]  # b8.conv1: 16 channels at 8²
    c = G._layer(p.name).in_channels
    s = G.styles(G.map(torch.randn(2, G.z_dim, generator=_gen(10))))[3]  # [2, 16·16]
    ref = grid_to_map(s.reshape(2, c, 4, 4), 8)
    assert ref.shape == (2, c, 8, 8)
    per_pixel_flat = s[:, :, None, None].expand(-1, -1, 16, 16)  # what ITAN's per-pixel ("w") blend builds
    torch.testing.assert_close(resolve_style(per_pixel_flat, c, 4, 8, p.name), ref)
    torch.testing.assert_close(resolve_style(BlendedStyle(s[:, None], torch.ones(2, 1, 4, 4)), c, 4, 8, p.name), ref)
    torch.testing.assert_close(resolve_style(ref, c, 4, 8, p.name), ref)  # a per-pixel map of the layer's channels
    vec = torch.randn(2, c)
    torch.testing.assert_close(resolve_style(vec, c, 4, 8, p.name), vec[:, :, None, None])
    with pytest.raises(ValueError, match=r"b8.conv1: a style must be \[N, 256\] \(per block\), \[N, 16\]"):
        resolve_style(torch.randn(2, 7), c, 4, 8, p.name)


def test_itan_blend_over_block_aligned_regions_equals_mixing_w_block_by_block():
    """ITAN's generic blend on SSN (all layers, masks = the union of some image blocks) is the image of the
    w grid mixed block by block: the blended style map is exactly the mixed grid's (σ_E included)."""
    G = tiny_ssn()
    w1 = G.map(torch.randn(1, G.z_dim, generator=_gen(11)))[:, 0]
    w2 = G.map(torch.randn(1, G.z_dim, generator=_gen(12)))[:, 0]
    blocks = [(0, 1), (2, 2), (2, 3)]
    inside = block_masks(4, 16, 16)[[i * 4 + j for i, j in blocks]].sum(dim=0)
    regions = torch.stack([1 - inside, inside])[None]  # [1, 2, 16, 16]
    out = blend_generate(G, [w1, w2], regions, space="w")
    grid = lambda w: w.reshape(1, G.w_channels, 4, 4)  # noqa: E731
    w_mixed = resample_blocks(grid(w1), blocks, grid(w2)).reshape(1, 1, -1).expand(-1, G.num_ws, -1)
    torch.testing.assert_close(out.image, G.synthesize(G.styles(w_mixed)).image, atol=1e-5, rtol=1e-5)
    for space in ("s", "w"):  # for SSN the two blend spaces are the same function (σ_E is global)
        torch.testing.assert_close(
            blend_generate(G, [w1, w2], regions, space="w", blend_space=space).image, out.image, atol=1e-5, rtol=1e-5
        )


# ------------------------------------------------------------------------------------------ latents, Jacobian, config


def test_map_takes_flat_and_grid_z_and_refuses_other_shapes():
    G = tiny_ssn()
    z = torch.randn(2, G.z_dim, generator=_gen(13))
    grid = G.z_grid(z)
    assert grid.shape == (2, 4, 4, 4) and torch.equal(G.flat_z(grid), z)
    torch.testing.assert_close(G.map(grid), G.map(z))
    assert G.latent_mean().shape == (G.w_dim,)
    with pytest.raises(ValueError, match=r"z must be a latent grid \[N, 4, 4, 4\], got \(2, 4, 2, 2\)"):
        G.map(torch.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match=r"z must be \[N, 64\] \(flat\) or a latent grid"):
        G.map(torch.randn(2, 63))


def test_generic_forward_jacobian_runs_through_synthesize():
    """ReSeFa without a fast tangent pass uses vmap(jvp) of synthesize: it must agree with reverse mode."""
    G = tiny_ssn(w_channels=2, block_grid=2, img_resolution=8)
    ws = G.map(torch.randn(1, G.z_dim, generator=_gen(14)))

    def image(w: torch.Tensor) -> torch.Tensor:
        return G.synthesize(G.styles(w.reshape(1, 1, -1).expand(1, G.num_ws, -1)), noise_mode="const").image[0]

    x = ws[0, 0]
    torch.testing.assert_close(forward_jacobian(image, x, chunk=4), reverse_jacobian(image, x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(block_grid=3), r"block_grid must be a power of two in 1 … img_resolution \(16\), got 3"),
        (dict(block_grid=32), r"block_grid must be a power of two in 1 … img_resolution \(16\), got 32"),
        (dict(z_channels=0), r"ssn config: z_channels"),
        (dict(encoder_layers=-1), r"ssn config: encoder_layers"),
        (dict(encoder_global="yes"), r"ssn config: encoder_global must be true or false, got 'yes'"),
        (dict(gate_lr_multiplier=0), r"ssn config: gate_lr_multiplier must be a positive number, got 0"),
        (dict(architecture="resnet"), r"ssn config: unknown field\(s\) \['architecture'\]"),
    ],
)
def test_bad_configs_are_one_line_errors(change, message):
    cfg = dict(tiny_ssn().config, **change)
    with pytest.raises(ValueError, match=message):
        build_model("ssn", cfg)


def test_a_grid_of_one_block_is_a_stylegan2_shaped_model():
    G = tiny_ssn(block_grid=1)
    assert G.z_dim == 4 and G.w_dim == 8
    assert G(torch.randn(2, 4, generator=_gen(15))).shape == (2, 3, 16, 16)
