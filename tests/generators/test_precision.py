"""bf16 synthesis against fp32: the error bound (docs/generator.md, "Precision"), and precision="auto".

Error model. bf16 keeps 8 significant bits, so rounding a value costs a relative error of at most
u = 2^-8. Each convolution rounds its input and its weights (≤ 2u relative) and accumulates in fp32;
through the L layers of the deepest path (the conv control points plus the last ToRGB) these add up to
at most ~2uL of the output's scale in the worst case, and to far less on average (independent rounding
errors partly cancel). The tiny random model is held to that derived bound; faces-64 to twice the error
measured on 64 of its samples.
"""

from __future__ import annotations

import pytest
import torch

from regiongan.checkpoints import load_model
from regiongan.hardware import cpu_features, resolve_precision

from ..conftest import tiny_stylegan2
from .test_biggan import tiny_biggan
from .test_ssn import tiny_ssn

pytestmark = pytest.mark.usefixtures("one_thread")

#: bf16's unit roundoff: 8 significant bits.
U = 2.0**-8

#: faces-64, 64 samples (seeds 100–103, batches of 16), bf16 vs fp32: mean |err| 0.0035, max |err| 0.081
#: (0.085 in another batch of 16); images lie in about [-1.5, 1.5]. The bounds are about twice that.
FACES_MEAN_BOUND, FACES_MAX_BOUND = 0.008, 0.16


def _errors(G, n: int, seed: int) -> tuple[float, float, torch.Tensor]:
    """(mean |bf16 − fp32|, max |bf16 − fp32|, the fp32 images) for ``n`` samples of ``seed``."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    styles = G.styles(G.map(z))
    with torch.no_grad():
        ref = G.synthesize(styles, precision="fp32").image
        bf = G.synthesize(styles, precision="bf16").image
    assert bf.dtype == torch.float32 and bf.shape == ref.shape
    err = (bf - ref).abs()
    return err.mean().item(), err.max().item(), ref


def _depth(G) -> int:
    """Layers on the deepest path: every conv control point, then the last ToRGB."""
    return sum(p.kind == "conv" for p in G.control_points()) + 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bf16_error_of_a_random_stylegan2_is_within_the_derived_bound(seed):
    G = tiny_stylegan2(seed=seed)
    mean, worst, ref = _errors(G, 4, seed)
    depth = _depth(G)
    assert depth == 8
    assert mean > 0, "bf16 gave exactly the fp32 image: the bf16 path did not run"
    # measured: relative mean 0.008-0.010, relative max 0.013-0.015 (bounds: 0.031 and 0.0625)
    assert mean <= U * depth * ref.abs().mean().item(), (mean, ref.abs().mean().item())
    assert worst <= 2 * U * depth * ref.abs().max().item(), (worst, ref.abs().max().item())


def test_bf16_error_on_faces_64_is_within_twice_the_measured_error():
    G = load_model("faces-64")
    mean, worst, ref = _errors(G, 8, 0)
    assert mean > 0
    assert mean < FACES_MEAN_BOUND, mean
    assert worst < FACES_MAX_BOUND, worst


def test_auto_runs_exactly_the_precision_it_resolves_to(G):
    styles = G.styles(G.map(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))))
    resolved = resolve_precision("auto", G.device)
    with torch.no_grad():
        auto = G.synthesize(styles, precision="auto").image
        explicit = G.synthesize(styles, precision=resolved).image
    assert torch.equal(auto, explicit)
    if not cpu_features().native_bf16:  # this project's AVX2-only CPU: auto is plain fp32, bit for bit
        assert resolved == "fp32"
        with torch.no_grad():
            assert torch.equal(auto, G.synthesize(styles).image)


@pytest.mark.parametrize("family", ["stylegan2", "ssn", "biggan"])
def test_every_family_resolves_auto(family):
    G = {"stylegan2": tiny_stylegan2, "ssn": tiny_ssn, "biggan": tiny_biggan}[family]()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(5))
    styles = G.styles(G.map(z, 0, 1.0) if family == "biggan" else G.map(z))
    with torch.no_grad():
        auto = G.synthesize(styles, precision="auto").image
        explicit = G.synthesize(styles, precision=resolve_precision("auto", G.device)).image
    assert torch.equal(auto, explicit)
    with pytest.raises(ValueError, match="precision must be 'auto', 'fp32' or 'bf16'"):
        G.synthesize(styles, precision="half")  # type: ignore[arg-type]


def test_unknown_precision_is_refused(G):
    styles = G.styles(G.map(torch.zeros(1, G.z_dim)))
    with pytest.raises(ValueError, match="precision must be 'auto', 'fp32' or 'bf16', got 'fp16'"):
        G.synthesize(styles, precision="fp16")  # type: ignore[arg-type]
