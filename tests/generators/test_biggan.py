"""BigGAN-deep: the Protocol checks, the truncation/statistics rules, input validation, ITAN on it, and
our forward against an independent reference written here (and against pytorch-pretrained-biggan itself
when that package is importable)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import regiongan as rg
from regiongan.checkpoints import save_pretrained
from regiongan.generators import BlendedStyle, Generator, check_generator, list_families, tangent_pass
from regiongan.generators.biggan import BigGANDeep, statistics_rows
from regiongan.jacobian import forward_jacobian, reverse_jacobian
from regiongan.regions import Region

pytestmark = pytest.mark.usefixtures("one_thread")

#: 32², 4 blocks, attention before block 1.
TINY = dict(
    output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=3,
    layers=[[True, 16, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]], attention_layer_position=1, eps=1e-4, n_stats=51,
)  # fmt: skip
#: 64², attention before block 3 (at 32²).
CONFIG_64 = dict(
    output_dim=64, z_dim=6, class_embed_dim=6, channel_width=4, num_classes=4,
    layers=[[False, 16, 16], [True, 16, 8], [True, 8, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]],
    attention_layer_position=3, eps=1e-4, n_stats=51,
)  # fmt: skip
#: The package's 128² layer list at a tiny width, attention before block 5 (not 8), 11 statistics rows.
CONFIG_128 = dict(
    output_dim=128, z_dim=4, class_embed_dim=4, channel_width=4, num_classes=5,
    layers=[[False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
            [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]],
    attention_layer_position=5, eps=1e-4, n_stats=11,
)  # fmt: skip


def tiny_biggan(seed: int = 0, **overrides) -> BigGANDeep:
    """A randomly initialised BigGAN-deep (``TINY`` + overrides) with non-trivial statistics, biases,
    output-BN affine and attention gain; eval mode, no gradients."""
    torch.manual_seed(seed)
    G = BigGANDeep(**{**TINY, **overrides})
    with torch.no_grad():
        for name, t in G.state_dict().items():
            if name.endswith("running_means"):
                t.normal_(0, 0.3)
            elif name.endswith("running_vars"):
                t.uniform_(0.5, 2.0)
            elif name.endswith("gamma") or name.endswith(".bias") or name == "generator.bn.weight":
                t.normal_(0, 0.5).add_(1.0 if name == "generator.bn.weight" else 0.0)
    return G.eval().requires_grad_(False)


def _z(G, n=2, seed=0):
    return torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))


def _onehot(G, idx):
    return F.one_hot(torch.as_tensor(idx), G.c_dim).float()


@pytest.fixture(scope="module")
def G():
    return tiny_biggan()


# ------------------------------------------------------------------------------------------------------
# An independent reference: pytorch-pretrained-biggan's forward (eval) restated from a state dict.


def reference_forward(
    sd: dict, cfg: dict, z: torch.Tensor, class_vector: torch.Tensor, truncation: float
) -> torch.Tensor:
    """The package's ``BigGAN(z, class_vector, truncation)`` in eval mode, written out op by op from the
    state dict (its own names), with its Python-float ``math.modf`` choice of statistics."""
    eps, ch, att = cfg["eps"], cfg["channel_width"], cfg["attention_layer_position"]
    coef, start = math.modf(truncation / (1.0 / (cfg["n_stats"] - 1)))
    start = int(start)

    def sn(p):
        w = sd[p + ".weight_orig"]
        return w / torch.dot(sd[p + ".weight_u"], w.reshape(w.shape[0], -1) @ sd[p + ".weight_v"])

    def stats(p):
        m, v = sd[p + ".running_means"], sd[p + ".running_vars"]
        if coef != 0.0:
            return m[start] * coef + m[start + 1] * (1 - coef), v[start] * coef + v[start + 1] * (1 - coef)
        return m[start], v[start]

    def cbn(x, p, cond):
        mean, var = stats(p)
        gain = 1 + cond @ sn(p + ".scale").t()
        bias = cond @ sn(p + ".offset").t()
        normalised = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + eps)
        return normalised * gain[..., None, None] + bias[..., None, None]

    def conv(x, p):
        w = sn(p)
        return F.conv2d(x, w, sd.get(p + ".bias"), padding=w.shape[-1] // 2)

    def attention(x, p):
        n, c, h, w = x.shape
        theta = conv(x, p + ".snconv1x1_theta").reshape(n, c // 8, h * w)
        phi = F.max_pool2d(conv(x, p + ".snconv1x1_phi"), 2, 2).reshape(n, c // 8, h * w // 4)
        g = F.max_pool2d(conv(x, p + ".snconv1x1_g"), 2, 2).reshape(n, c // 2, h * w // 4)
        attn = torch.softmax(torch.einsum("nci,ncj->nij", theta, phi), dim=-1)
        out = torch.einsum("ncj,nij->nci", g, attn).reshape(n, c // 2, h, w)
        return x + sd[p + ".gamma"] * conv(out, p + ".snconv1x1_o_conv")

    cond = torch.cat([z, class_vector @ sd["embeddings.weight"].t()], dim=1)
    x = cond @ sn("generator.gen_z").t() + sd["generator.gen_z.bias"]
    x = x.reshape(-1, 4, 4, 16 * ch).permute(0, 3, 1, 2)
    j = 0
    for i, (up, c_in, c_out) in enumerate(cfg["layers"]):
        if i == att:
            x = attention(x, f"generator.layers.{j}")
            j += 1
        p = f"generator.layers.{j}"
        h = x
        for k in range(4):
            h = F.relu(cbn(h, f"{p}.bn_{k}", cond))
            if k == 1 and up:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = conv(h, f"{p}.conv_{k}")
        skip = x[:, : x.shape[1] // 2] if c_in != c_out else x
        if up:
            skip = F.interpolate(skip, scale_factor=2, mode="nearest")
        x = h + skip
        j += 1
    mean, var = stats("generator.bn")
    x = F.batch_norm(x, mean, var, sd["generator.bn.weight"], sd["generator.bn.bias"], False, 0.0, eps)
    return torch.tanh(conv(F.relu(x), "generator.conv_to_rgb")[:, :3])


def _soft_classes(G, n, seed=1):
    c = torch.rand(n, G.c_dim, generator=torch.Generator().manual_seed(seed))
    return c / c.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("config", [TINY, CONFIG_64, CONFIG_128], ids=["32", "64", "128-shaped"])
@pytest.mark.parametrize("psi", [1.0, 0.4, 0.37, 0.73])
def test_forward_matches_an_independent_reference(config, psi):
    """``synthesize(styles(map(z / ψ, c, ψ)))`` is the package's ``forward(z, c, ψ)`` at other sizes,
    attention positions and statistics counts, for one-hot and soft classes and interpolated statistics."""
    G = tiny_biggan(3, **config)
    z = _z(G, 2, seed=5).clamp(-2, 2) * psi  # the package's z: truncated normal scaled by ψ
    c = torch.cat([_onehot(G, [G.c_dim - 1]), _soft_classes(G, 1)])
    ref = reference_forward(G.state_dict(), G.config, z, c, psi)
    ours = G.synthesize(G.styles(G.map(z / psi, c, psi))).image
    assert ours.shape == (2, 3, config["output_dim"], config["output_dim"])
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(G(z, c, psi), ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("config", [CONFIG_64, CONFIG_128], ids=["64", "128-shaped"])
def test_forward_matches_the_package_when_it_is_installed(config):
    """Runs where ``pytorch_pretrained_biggan`` imports with our torch (a throwaway venv; never a
    project dependency)."""
    biggan = pytest.importorskip("pytorch_pretrained_biggan")
    G = tiny_biggan(4, **config)
    theirs = biggan.BigGAN(biggan.BigGANConfig.from_dict(json.loads(json.dumps(G.config))))
    theirs.load_state_dict(G.state_dict(), strict=True)
    theirs.eval()
    z = _z(G, 2, seed=6).clamp(-2, 2)
    c = _soft_classes(G, 2)
    for psi in (1.0, 0.4, 0.37):
        with torch.no_grad():
            expected = theirs(z * psi, c, psi)
        torch.testing.assert_close(G.synthesize(G.styles(G.map(z, c, psi))).image, expected, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------------------------------
# The Protocol (the same checks tests/generators/test_families.py runs on every family)


def test_biggan_is_registered_and_implements_the_protocol(G):
    assert G.model_type == "biggan-deep" and "biggan-deep" in list_families()
    assert isinstance(G, Generator) and check_generator(G) is G
    assert (G.w_dim, G.num_ws, G.c_dim, G.img_resolution) == (2 * 8 + 1, 5, 3, 32)
    points = G.control_points()
    assert len(points) == 1 + 4 * 4 + 1 and points[0].kind == "input" and points[-1].name == "b32.out_bn"
    assert [p.name for p in points[5:9]] == ["b8.block1.bn0", "b8.block1.bn1", "b16.block1.bn2", "b16.block1.bn3"]
    assert [p.w_index for p in points] == [0] + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [4]
    ws = G.map(_z(G), 1)
    assert ws.shape == (2, G.num_ws, G.w_dim)
    styles = G.styles(ws)
    assert [tuple(s.shape) for s in styles] == [(2, p.channels) for p in points]
    assert G.synthesize(styles).image.shape == (2, 3, 32, 32)
    assert G.make_noise(2, "random") == [] and tangent_pass(G) is None


def test_spatially_constant_styles_and_one_full_region_equal_vectors(G):
    styles = G.styles(G.map(_z(G), 0, 0.7))
    plain = G.synthesize(styles).image
    maps = [s[:, :, None, None].expand(-1, -1, p.resolution, p.resolution) for s, p in zip(styles, G.control_points())]
    torch.testing.assert_close(G.synthesize(maps).image, plain, atol=1e-5, rtol=1e-5)
    one = [BlendedStyle(s[:, None], torch.ones(2, 1, 8, 8)) for s in styles]
    torch.testing.assert_close(G.synthesize(one).image, plain, atol=1e-5, rtol=1e-5)


def test_a_blended_input_layer_is_the_per_region_linear_layer(G):
    """The first linear layer takes a spatial condition per 4×4 pixel: with hard masks each half of the
    4×4 grid equals that half of the plain run with the region's own condition."""
    a, b = G.styles(G.map(_z(G, 1, 0), 0)), G.styles(G.map(_z(G, 1, 1), 2))
    masks = torch.zeros(1, 2, 4, 4)
    masks[:, 0, :, :2], masks[:, 1, :, 2:] = 1, 1
    blended = G._input(BlendedStyle(torch.stack([a[0], b[0]], dim=1), masks), G.control_points()[0])
    for k, s in enumerate((a, b)):
        plain = G._input(s[0], G.control_points()[0])
        torch.testing.assert_close(blended[..., 2 * k : 2 * k + 2], plain[..., 2 * k : 2 * k + 2], atol=1e-5, rtol=1e-5)


def test_batch_equals_single_and_seeded_determinism(G):
    z, c = _z(G, 3), torch.tensor([0, 2, 1])
    full = G.synthesize(G.styles(G.map(z, c, 0.6))).image
    for i in range(3):
        one = G.synthesize(G.styles(G.map(z[i : i + 1], int(c[i]), 0.6))).image
        torch.testing.assert_close(one, full[i : i + 1], atol=1e-5, rtol=1e-5)
    assert torch.equal(G.synthesize(G.styles(G.map(z, c, 0.6))).image, full)


def test_save_load_round_trip_through_the_family_registry(G, tmp_path):
    loaded = rg.load_model(save_pretrained(G, tmp_path / "m"))
    assert type(loaded) is BigGANDeep and loaded.config == G.config
    z = _z(G)
    expected = G.synthesize(G.styles(G.map(z, 1))).image
    assert torch.equal(loaded.synthesize(loaded.styles(loaded.map(z, 1))).image, expected)


def test_bf16_precision_and_features(G):
    styles = G.styles(G.map(_z(G), 1, 0.7))
    plain = G.synthesize(styles, return_features=True)
    bf16 = G.synthesize(styles, precision="bf16").image
    assert bf16.dtype == torch.float32 and float((bf16 - plain.image).abs().max()) < 0.1
    assert list(plain.features) == [p.name for p in G.control_points()]
    assert plain.features["b16.block2.bn1"].shape == (2, 4 * 4 // 4, 16, 16)
    with pytest.raises(ValueError, match="BigGAN has no noise inputs"):
        G.synthesize(styles, noise=[torch.zeros(2, 1, 4, 4)])


def test_an_unconditional_config_takes_no_class():
    G = tiny_biggan(num_classes=0)
    ws = G.map(_z(G))
    assert torch.equal(ws[..., G.z_dim : 2 * G.z_dim], torch.zeros_like(ws[..., : G.z_dim]))
    assert G.synthesize(G.styles(ws)).image.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="unconditional"):
        G.map(_z(G), 0)


def test_no_attention_when_the_position_is_outside_the_layers():
    G = tiny_biggan(attention_layer_position=-1)
    assert not any("gamma" in k for k in G.state_dict()) and len(G.generator.layers) == len(TINY["layers"])
    z, c = _z(G), _onehot(G, [0, 1])
    torch.testing.assert_close(G(z, c, 1.0), reference_forward(G.state_dict(), G.config, z, c, 1.0), atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------------------------------
# Truncation: homogeneous ws rows and the package's statistics rule


def test_ws_rows_are_homogeneous_and_truncation_multiplies(G):
    z = _z(G)
    ws = G.map(z, 1)
    assert torch.equal(G.latent_mean(), torch.zeros(G.w_dim))
    assert torch.equal(ws[:, 0, : G.z_dim], z) and torch.equal(ws[..., -1], torch.ones(2, G.num_ws))
    torch.testing.assert_close(G.map(z, 1, 0.5), G.truncate(ws, 0.5))
    torch.testing.assert_close(G.truncate(ws, 0.5), G.latent_mean() + 0.5 * (ws - G.latent_mean()))
    # truncation keeps the class: the condition is [ψ z, embed(c)] whatever ψ
    cond, psi = G.decode_ws(G.truncate(G.truncate(ws, 0.8), 0.5))
    torch.testing.assert_close(cond[..., G.z_dim :], G.decode_ws(ws)[0][..., G.z_dim :])
    torch.testing.assert_close(cond[..., : G.z_dim], 0.4 * ws[..., : G.z_dim])
    assert bool((psi == 0.4).all())
    cut = G.map(z, 1, 0.5, truncation_cutoff=2)
    assert cut[:, :2, -1].eq(0.5).all() and cut[:, 2:, -1].eq(1.0).all()


def test_statistics_rows_reproduce_the_package_swapped_interpolation():
    rows = statistics_rows(torch.tensor([0.4, 0.404, 0.37, 1.0], dtype=torch.float64), 51)
    assert rows.first.tolist() == [20, 20, 18, 50] and rows.second.tolist() == [20, 21, 19, 50]
    torch.testing.assert_close(rows.w_first[:, 0], torch.tensor([1.0, 0.2, 0.5, 1.0]))
    torch.testing.assert_close(rows.w_second[:, 0], torch.tensor([0.0, 0.8, 0.5, 0.0]))  # swapped: 0.8 on row 21


def test_a_truncation_read_back_from_float32_ws_selects_the_package_row(G):
    """float32(0.4) / 0.02 = 20.0000003: without rounding, the swapped rule would take ≈ row 21."""
    _, psi = G.decode_ws(G.map(_z(G), 0, 0.4))
    assert bool((psi == 0.4).all())
    rows = statistics_rows(psi[:, 1], G.n_stats)
    assert rows.first.tolist() == [20, 20] and rows.w_second.abs().max() == 0


def test_eval_uses_the_stored_spectral_norm_vectors_and_training_iterates_like_torch(G):
    lin = G.generator.layers[0].bn_1.scale
    before = (lin.weight_u.clone(), lin.weight_v.clone())
    G.synthesize(G.styles(G.map(_z(G), 0)))
    assert torch.equal(lin.weight_u, before[0]) and torch.equal(lin.weight_v, before[1])
    ref = torch.nn.utils.spectral_norm(torch.nn.Linear(*reversed(lin.weight_orig.shape), bias=False), eps=lin.eps)
    ref.load_state_dict({"weight_orig": lin.weight_orig, "weight_u": lin.weight_u, "weight_v": lin.weight_v})
    copy = tiny_biggan().generator.layers[0].bn_1.scale.train()
    copy.load_state_dict(lin.state_dict())
    ref.train()
    ref(torch.zeros(1, ref.in_features))
    torch.testing.assert_close(copy.weight(), ref.weight)
    torch.testing.assert_close(copy.weight_u, ref.weight_u)
    torch.testing.assert_close(copy.weight_v, ref.weight_v)


def test_forward_mode_derivatives_in_z_agree_with_reverse_mode(G):
    """The generic Jacobian engine (``vmap(jvp)`` of synthesize) runs on BigGAN: what ReSeFa needs."""
    c = _onehot(G, [1])

    def f(z):
        return G.synthesize(G.styles(G.map(z[None], c, 0.7))).image[0]

    z = _z(G, 1)[0]
    fwd = forward_jacobian(f, z, chunk=8)
    torch.testing.assert_close(fwd[:64], reverse_jacobian(f, z, rows=slice(0, 64)), atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------------------
# Bad input: one-line errors


@pytest.mark.parametrize(
    "c, match",
    [
        (3, r"class index out of range: got \[3\], this model has classes 0\.\.2"),
        (torch.tensor([0, -1]), "class index out of range"),
        (torch.tensor([[0.5, 0.6, -0.1], [1.0, 0.0, 0.0]]), "non-negative"),
        (torch.tensor([[0.5, 0.4, 0.0], [1.0, 0.0, 0.0]]), r"sum to 1 \(within 0\.0001\); one is off by 0\.1"),
        (torch.ones(2, 4) / 4, r"class vectors must be \[2 or 1, 3\]"),
        (None, "class-conditional"),
    ],
)
def test_bad_classes_are_one_line_errors(G, c, match):
    with pytest.raises(ValueError, match=match) as e:
        G.map(_z(G), c)
    assert "\n" not in str(e.value)


def test_soft_classes_within_the_tolerance_are_accepted(G):
    G.map(_z(G, 1), torch.tensor([[0.5, 0.5 + 5e-5, 0.0]]))


@pytest.mark.parametrize("psi", [0.0, 1.5, -0.3, float("nan"), True])
def test_truncation_outside_0_1_is_refused(G, psi):
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]|must be a number") as e:
        G.map(_z(G), 0, psi)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"truncation in \(0, 1\] only"):
        G.styles(G.truncate(G.map(_z(G), 0), 1.5))


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(layers=[[True, 16, 8], [True, 4, 2]]), r"layers\[1\] takes 4 but layers\[0\] gives 8"),
        (dict(layers=[[True, 8, 4], [True, 4, 1]]), r"layers\[0\] must take 16"),
        (dict(layers=[[True, 16, 4], [True, 4, 1]]), "keeps its width or halves it"),
        (dict(layers=[[True, 16, 8], [True, 8, 4]]), "the last layer must give 1"),
        (dict(layers=[[1, 16, 8]]), r"layers\[0\] must be \[upsample \(true/false\)"),
        (dict(output_dim=64), "output_dim is 64 but the layers upsample 4 to 32"),
        (dict(z_dim="8"), "z_dim must be an int >= 1"),
        (dict(eps=0), "eps must be a finite number > 0"),
        (dict(n_stats=1), "n_stats must be an int >= 2"),
        (dict(channel_width=2), "channel_width must be an int >= 3"),
    ],
)
def test_bad_configs_are_one_line_errors(change, match):
    with pytest.raises(ValueError, match=match) as e:
        BigGANDeep(**{**TINY, **change})
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------------
# ITAN through the generic method code

R = 32
BOX = Region.box(8, 8, 20, 20, (R, R))
FAR = Region.box(5, 5, 23, 23, (R, R))  # 3 px beyond the box: outside it nothing may move


def _finest(G):
    """The last block's bn2 and bn3 and the output BN: a 3×3 conv follows each once, so a blend there
    reaches at most 2 px beyond its region."""
    names = [p.name for p in G.control_points()[-3:]]
    assert names == ["b32.block3.bn2", "b32.block3.bn3", "b32.out_bn"]
    return names


def test_itan_resample_with_a_class_keeps_the_far_outside(G):
    before = rg.generate(G, 3, c=1, truncation_psi=0.8).images
    fine = rg.resample(G, 3, "box:8,8,20,20", variations=2, c=1, truncation_psi=0.8, layers=_finest(G))
    outside = (1 - FAR.mask).bool().expand(2, 3, -1, -1)
    torch.testing.assert_close(fine.images[outside], before.expand(2, -1, -1, -1)[outside], atol=1e-5, rtol=0)
    inside = BOX.mask.bool().expand(2, 3, -1, -1)
    assert (fine.images - before)[inside].abs().mean() > 1e-3
    every = rg.resample(G, 3, "box:8,8,20,20", variations=2, c=1, truncation_psi=0.8)
    assert every.images.shape == (2, 3, R, R) and (every.images - before)[inside].abs().mean() > 1e-3


def test_itan_transfer_with_a_class_keeps_the_far_outside(G):
    target = rg.generate(G, 3, c=2).images
    out = rg.transfer(G, 3, 11, "box:8,8,20,20", c=2, layers=_finest(G))
    outside = (1 - FAR.mask).bool().expand(1, 3, -1, -1)
    torch.testing.assert_close(out.images[outside], target[outside], atol=1e-5, rtol=0)
    assert (out.images - target)[BOX.mask.bool().expand(1, 3, -1, -1)].abs().mean() > 1e-3
    assert rg.transfer(G, 3, 11, "box:8,8,20,20", c=2).images.shape == (1, 3, R, R)


def test_the_eval_weight_cache_follows_every_change_of_the_stored_tensors():
    """The spectrally normalised weight is reused in eval mode, but never after a load, an edit or in training."""
    G = tiny_biggan()
    layer = G.generator.gen_z
    first = layer.weight()
    assert layer.weight() is first  # reused while nothing changed
    with torch.no_grad():
        layer.weight_orig.mul_(2)  # an in-place edit (a load copies in place too)
    assert torch.allclose(layer.weight(), first, atol=1e-6)  # W/σ is scale-invariant...
    with torch.no_grad():
        layer.weight_u.copy_(torch.nn.functional.normalize(torch.randn_like(layer.weight_u), dim=0))
    changed = layer.weight()
    assert changed is not first and not torch.allclose(changed, first)  # ...but a new u is a new σ
    G.load_state_dict(tiny_biggan(seed=1).state_dict())
    assert not torch.allclose(layer.weight(), changed)
    layer.weight_orig.requires_grad_(True)
    assert layer.weight().requires_grad  # in a graph: computed, not cached


def test_styles_per_row_equal_each_norm_s_own_style_and_follow_changes():
    """styles() stacks the norms of a ws row into one linear map (cached while frozen): it must equal each
    norm's own style, also after the stored statistics change in place."""
    from regiongan.generators.biggan import statistics_rows

    G = tiny_biggan()
    ws = G.map(torch.randn(2, G.z_dim), torch.nn.functional.one_hot(torch.tensor([0, 2]), G.c_dim).float(), 0.7)

    def reference() -> list[torch.Tensor]:
        cond, psi = G.decode_ws(ws)
        norms = [m for block in G._blocks() for m in block.norms()]
        return [
            norm.style(cond[:, p.w_index], statistics_rows(psi[:, p.w_index], G.n_stats))
            for p, norm in zip(G.control_points()[1:-1], norms)
        ]

    for _ in range(2):
        got = G.styles(ws)[1:-1]
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got, reference()))
        with torch.no_grad():
            G._blocks()[0].bn_0.running_vars.mul_(4.0)  # in place: the cached table must notice
