"""BigGAN-deep discriminator: shapes, projection conditioning, spectral norm state, registry, bad input."""

from __future__ import annotations

import pytest
import torch

from regiongan.discriminators import DISCRIMINATOR_TYPES, BigGANDiscriminator, build_discriminator

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(**kw) -> BigGANDiscriminator:
    torch.manual_seed(0)
    return BigGANDiscriminator(**{"c_dim": 5, "img_resolution": 16, "channel_width": 8, "attention": 8, **kw}).eval()


def test_blocks_double_the_width_while_halving_the_size():
    D = _tiny()
    blocks = [(m.c_in, m.c_out, m.down) for m in D.layers if hasattr(m, "down")]
    # 16²: keep, grow+down; 8²: (attention) keep, grow+down; 4²: keep
    assert blocks == [(8, 8, False), (8, 16, True), (16, 16, False), (16, 32, True), (32, 32, False)]
    assert type(D.layers[2]).__name__ == "SelfAttention" and D.out_channels == 32
    logits = D(torch.randn(3, 3, 16, 16), torch.eye(5)[:3])
    assert logits.shape == (3, 1) and logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_the_class_reaches_d_through_the_projection_term():
    D = _tiny()
    x = torch.randn(4, 3, 16, 16)
    c1, c2 = torch.eye(5)[[0, 1, 2, 3]], torch.eye(5)[[4, 4, 4, 4]]
    d1, d2 = D(x, c1), D(x, c2)
    assert (d1 - d2).abs().min() > 1e-4  # the logit depends on the class
    h = D.features(x)
    expected = ((D.embed(c1) - D.embed(c2)) * h).sum(dim=1, keepdim=True)  # <embed(c1) − embed(c2), h>
    torch.testing.assert_close(d1 - d2, expected, rtol=1e-4, atol=1e-4)
    soft = 0.5 * (c1 + c2)  # soft class vectors: the projection is linear in c
    torch.testing.assert_close(D(x, soft), 0.5 * (d1 + d2), rtol=1e-4, atol=1e-4)


def test_spectral_norm_iterates_in_training_only_and_its_vectors_are_state():
    D = _tiny()
    keys = D.state_dict().keys()
    n_weights = sum(k.endswith("weight_orig") for k in keys)
    assert n_weights == sum(k.endswith("weight_u") for k in keys) == sum(k.endswith("weight_v") for k in keys) > 10
    x, c = torch.randn(2, 3, 16, 16), torch.eye(5)[:2]
    before = {k: v.clone() for k, v in D.state_dict().items()}
    D(x, c)  # eval: no power iteration
    assert all(torch.equal(v, before[k]) for k, v in D.state_dict().items())
    D.train()(x, c)
    moved = [k for k, v in D.state_dict().items() if not torch.equal(v, before[k])]
    assert moved and all(k.endswith(("weight_u", "weight_v")) for k in moved)
    # in training mode every call is one power iteration: the normalised weight converges to spectral norm 1
    with torch.no_grad():
        for _ in range(50):
            w = D.input_conv.weight()
    assert float(torch.linalg.matrix_norm(w.flatten(1), ord=2)) == pytest.approx(1.0, abs=1e-3)
    # the vectors travel with the state dict: a rebuilt D with the state judges identically
    other = build_discriminator("biggan-deep-d", D.config)
    other.load_state_dict(D.state_dict())
    assert torch.equal(other.eval()(x, c), D.eval()(x, c))


def test_registry_unconditional_and_bad_input():
    assert DISCRIMINATOR_TYPES["biggan-deep-d"] is BigGANDiscriminator
    D = _tiny(c_dim=0, attention=0)
    assert D.embed is None and D(torch.randn(2, 3, 16, 16)).shape == (2, 1)
    with pytest.raises(ValueError, match="unconditional: pass c=None"):
        D(torch.randn(2, 3, 16, 16), torch.eye(5)[:2])
    with pytest.raises(ValueError, match=r"class-conditional: c must be \[2, 5\]"):
        _tiny()(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"img must be \[N, 3, 16, 16\]"):
        _tiny()(torch.randn(2, 3, 32, 32), torch.eye(5)[:2])
    with pytest.raises(ValueError, match="power of two"):
        BigGANDiscriminator(img_resolution=24)
    with pytest.raises(ValueError, match="attention must be 0 or a power of two"):
        BigGANDiscriminator(img_resolution=16, channel_width=8, attention=12)
