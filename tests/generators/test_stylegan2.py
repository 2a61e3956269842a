"""StyleGAN2: interface, spatial styles, reference/fast/bf16 parity, determinism, batching, round trip."""

from __future__ import annotations

import pytest
import torch

from regiongan.generators import BlendedStyle, Generator, StyleGAN2
from regiongan.checkpoints import load_model, save_pretrained

from ..conftest import tiny_stylegan2


def _ws(G, n=3, seed=1):
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.map(z)


def test_implements_the_generator_protocol(G):
    assert isinstance(G, Generator)
    points = G.control_points()
    assert len(points) == len(G.styles(_ws(G)))
    assert [p.name for p in points][:4] == ["b4.conv1", "b4.torgb", "b8.conv0", "b8.conv1"]
    assert points[2].in_resolution == 4 and points[2].resolution == 8
    assert max(p.w_index for p in points) == G.num_ws - 1


@pytest.mark.parametrize("arch", ["skip", "resnet", "orig"])
def test_reference_and_fast_paths_agree(arch):
    G = tiny_stylegan2(architecture=arch)
    s = G.styles(_ws(G))
    ref = G.synthesize(s, impl="reference").image
    fast = G.synthesize(s, impl="fast").image
    assert ref.shape == (3, 3, 32, 32)
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-4)


def test_bf16_path_is_close_to_fp32(G):
    s = G.styles(_ws(G))
    ref = G.synthesize(s).image
    bf = G.synthesize(s, precision="bf16").image
    assert bf.dtype == torch.float32
    err = (bf - ref).abs().max().item()
    assert 0 < err < 0.1 * ref.abs().max().item(), err


def test_constant_spatial_style_reproduces_vector_style(G):
    s = G.styles(_ws(G))
    spatial = [
        si[:, :, None, None].expand(-1, -1, p.resolution, p.resolution).contiguous()
        for si, p in zip(s, G.control_points())
    ]
    torch.testing.assert_close(G.synthesize(spatial).image, G.synthesize(s).image, atol=1e-5, rtol=1e-5)


def test_blended_style_with_identical_codes_reproduces_plain(G):
    s = G.styles(_ws(G))
    masks = torch.rand(3, 2, 32, 32)
    masks = masks / masks.sum(1, keepdim=True)
    blended = [BlendedStyle(torch.stack([si, si], 1), masks) for si in s]
    torch.testing.assert_close(G.synthesize(blended).image, G.synthesize(s).image, atol=1e-5, rtol=1e-5)


def test_blended_style_uses_blended_demodulation(G):
    """With a hard half/half mask, each half must equal the generator run with that half's code at that layer."""
    ws_a, ws_b = _ws(G, 1, 1), _ws(G, 1, 2)
    sa, sb = G.styles(ws_a), G.styles(ws_b)
    masks = torch.zeros(1, 2, 32, 32)
    masks[:, 0, :, :16] = 1
    masks[:, 1, :, 16:] = 1
    last = len(sa) - 1  # blend only at the final ToRGB layer: a purely per-pixel operation
    mixed = list(sa)
    mixed[last] = BlendedStyle(torch.stack([sa[last], sb[last]], 1), masks)
    only_b = list(sa)
    only_b[last] = sb[last]
    out = G.synthesize(mixed).image
    torch.testing.assert_close(out[..., :16], G.synthesize(sa).image[..., :16], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[..., 16:], G.synthesize(only_b).image[..., 16:], atol=1e-5, rtol=1e-5)
    # At a conv layer the demodulation map is Σ m_k d(s_k): hard masks give exact per-half agreement
    # at that layer's own output; check the conv1 feature at 32² for the right half.
    conv = [i for i, p in enumerate(G.control_points()) if p.name == "b32.conv1"][0]
    mixed = list(sa)
    mixed[conv] = BlendedStyle(torch.stack([sa[conv], sb[conv]], 1), masks)
    only_b = list(sa)
    only_b[conv] = sb[conv]
    fm = G.synthesize(mixed, return_features=True, noise_mode="none").features["b32.conv1"]
    fb = G.synthesize(only_b, return_features=True, noise_mode="none").features["b32.conv1"]
    fa = G.synthesize(sa, return_features=True, noise_mode="none").features["b32.conv1"]
    # away from the mask edge (3×3 kernel reach = 1 pixel)
    torch.testing.assert_close(fm[..., 18:], fb[..., 18:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fm[..., :14], fa[..., :14], atol=1e-5, rtol=1e-5)


def test_seed_determinism_and_random_noise_uses_generator(G):
    s = G.styles(_ws(G))
    a = G.synthesize(s, noise_mode="random", generator=torch.Generator().manual_seed(5)).image
    b = G.synthesize(s, noise_mode="random", generator=torch.Generator().manual_seed(5)).image
    c = G.synthesize(s, noise_mode="random", generator=torch.Generator().manual_seed(6)).image
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_batch_equals_single(G):
    ws = _ws(G, 4)
    full = G.synthesize(G.styles(ws)).image
    for i in range(4):
        one = G.synthesize(G.styles(ws[i : i + 1])).image
        torch.testing.assert_close(one, full[i : i + 1], atol=1e-5, rtol=1e-5)


def test_noise_override_and_features(G):
    s = G.styles(_ws(G, 2))
    noise = G.make_noise(2, "random", torch.Generator().manual_seed(0))
    out = G.synthesize(s, noise=noise, return_features=True)
    assert set(out.features) == {p.name for p in G.control_points() if p.kind == "conv"}
    assert out.features["b16.conv0"].shape == (2, G.synthesis.channels[16], 16, 16)
    assert not torch.allclose(out.image, G.synthesize(s).image)


def test_truncation_and_cutoff(G):
    z = torch.randn(2, G.z_dim)
    full = G.map(z)
    half = G.map(z, truncation_psi=0.5)
    torch.testing.assert_close(half, G.mapping.w_avg + 0.5 * (full - G.mapping.w_avg))
    cut = G.map(z, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], half[:, :2])
    torch.testing.assert_close(cut[:, 2:], full[:, 2:])


def test_bad_inputs_have_clear_errors(G):
    s = G.styles(_ws(G))
    with pytest.raises(ValueError, match="expected .* styles"):
        G.synthesize(s[:-1])
    with pytest.raises(ValueError, match="z must be"):
        G.map(torch.randn(2, 3))
    bad = list(s)
    bad[0] = torch.randn(3, 5)
    with pytest.raises(ValueError, match="b4.conv1: style has 5 channels"):
        G.synthesize(bad)
    bad[0] = torch.randn(3, s[0].shape[1], 7, 7)
    with pytest.raises(ValueError, match="spatial style must be"):
        G.synthesize(bad)
    cond = tiny_stylegan2(c_dim=3)
    with pytest.raises(ValueError, match="class-conditional"):
        cond.map(torch.randn(2, 16))


def test_save_load_round_trip(G, tmp_path):
    path = save_pretrained(G, tmp_path / "m")
    H = load_model(path)
    s_ws = _ws(G)
    torch.testing.assert_close(H.synthesize(H.styles(s_ws)).image, G.synthesize(G.styles(s_ws)).image, atol=0, rtol=0)
    assert H.config == G.config
    with pytest.raises(FileExistsError):
        save_pretrained(G, path)


def test_conditional_model_round_trip(tmp_path):
    G = tiny_stylegan2(c_dim=4, channels={32: 8}, architecture="resnet", conv_clamp=256.0)
    H = load_model(save_pretrained(G, tmp_path / "c"))
    z, c = torch.randn(2, 16), torch.eye(4)[:2]
    torch.testing.assert_close(H(z, c), G(z, c), atol=0, rtol=0)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"architecture": "resnet"}, {"architecture": "orig"}, {"conv_clamp": 0.5}],
    ids=["skip", "resnet", "orig", "clamped"],
)
def test_synthesize_jvp_equals_functorch_jvp(overrides):
    """The hand-written tangent pass is the exact forward-mode derivative of synthesize (W+ tangents)."""
    from torch.func import jvp, vmap

    G = tiny_stylegan2(3, **overrides)
    ws = G.map(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)))
    dws = torch.randn(5, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(2))

    def f(w: torch.Tensor) -> torch.Tensor:
        return G.synthesize(G.styles(w[None]), noise_mode="const").image[0]

    with torch.no_grad():
        ref = vmap(lambda v: jvp(f, (ws[0],), (v,))[1])(dws)
        img, dimg = G.synthesize_jvp(ws, dws)
    # the fast forward folds modulation and demodulation into the kernel: the same sums in another order
    torch.testing.assert_close(img, G.synthesize(G.styles(ws)).image, rtol=0, atol=1e-5)
    assert dimg.shape == (5, 3, G.img_resolution, G.img_resolution)
    # float32 sums in another order: compare to the tangents' scale
    torch.testing.assert_close(dimg, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))
    if "conv_clamp" in overrides:  # the clamp really bites at 0.5, so its zero derivative is exercised
        assert (G.synthesize(G.styles(ws)).image.abs() >= 0.5).any()


def test_synthesize_jvp_rejects_bad_input(G):
    ws = G.map(torch.randn(2, G.z_dim))
    with pytest.raises(ValueError, match=r"ws must be \[1, "):
        G.synthesize_jvp(ws, torch.zeros(3, G.num_ws, G.w_dim))
    with pytest.raises(ValueError, match=r"dws must be \[T, "):
        G.synthesize_jvp(ws[:1], torch.zeros(3, G.w_dim))
    with pytest.raises(ValueError, match="noise_mode 'const' or 'none'"):
        G.synthesize_jvp(ws[:1], torch.zeros(3, G.num_ws, G.w_dim), noise_mode="random")
