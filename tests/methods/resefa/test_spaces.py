"""ReSeFa's latent spaces (regiongan.methods.resefa.spaces): the rows a direction moves, the shared-row
spill warning, the differentiated image function, the family's tangent pass against functorch, and how
an edit moves codes."""

from __future__ import annotations

import warnings

import pytest
import torch

from regiongan.jacobian import GramAccumulator, sample_grams
from regiongan.latents import z_from_seeds
from regiongan.layer_selection import spilled_layers
from regiongan.methods.resefa import (
    LayerSpillWarning,
    direction_offset,
    edited_ws,
    image_function,
    latent_dim,
    latent_rows,
    tangent_function,
)
from regiongan.methods.resefa.spaces import warn_spill
from regiongan.regions import Region

from .conftest import tiny_in_gamut

pytestmark = pytest.mark.usefixtures("one_thread")


def test_latent_rows_follow_the_layer_selection(G):
    assert latent_rows(G, "w") == tuple(range(G.num_ws)) == latent_rows(G, "w+", "all")
    fine = latent_rows(G, "w+", "fine")
    points = G.control_points()
    assert fine == tuple(sorted({p.w_index for p in points if p.resolution >= 16})) and len(fine) < G.num_ws
    assert latent_rows(G, "z") == () and latent_dim(G, "z", ()) == G.z_dim
    assert latent_dim(G, "w", fine) == G.w_dim and latent_dim(G, "w+", fine) == len(fine) * G.w_dim


def test_bad_spaces_raise_clear_errors(G):
    with pytest.raises(ValueError, match="unknown latent space 'q'"):
        latent_rows(G, "q")
    with pytest.raises(ValueError, match="layers= cannot be used with space='z'"):
        latent_rows(G, "z", "fine")
    no_z = tiny_in_gamut()
    no_z.z_dim = 0
    with pytest.raises(ValueError, match="no z latent space"):
        latent_rows(no_z, "z")


def test_a_selection_that_shares_rows_warns_with_the_extra_control_points(G):
    # In StyleGAN2 b8.torgb reads the row of b16.conv0, so "fine" (16-32 on this 32² model) moves it too.
    assert spilled_layers(G, "fine") == ["b8.torgb"]
    with pytest.warns(LayerSpillWarning, match=r"layers='fine' also moves b8\.torgb.*select them as well") as record:
        warn_spill(G, "fine")
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert "'b8.torgb'" in str(record[0].message) and "'b32.torgb'" in str(record[0].message)  # the full list
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayerSpillWarning)
        warn_spill(G, None)
        warn_spill(G, ["b8.torgb", "b16.conv0"])  # closed under shared rows: nothing spills


def test_image_function_is_the_samples_image_in_every_space(G):
    z = z_from_seeds([2], G.z_dim)
    ws = G.map(z)
    plain = G.synthesize(G.styles(ws)).image[0]
    for space, layers in (("w", None), ("w+", "fine"), ("z", None)):
        f, x0 = image_function(G, space, ws, z, latent_rows(G, space, layers))
        assert x0.shape == (latent_dim(G, space, latent_rows(G, space, layers)),)
        torch.testing.assert_close(f(x0), plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_the_family_tangent_pass_gives_the_same_grams_as_functorch(G, space):
    """find_directions uses the family's tangent pass in W / W+; it must equal the generic vmap(jvp)."""
    rows = latent_rows(G, space, "fine" if space == "w+" else None)
    z = z_from_seeds([5], G.z_dim)
    ws = G.map(z)
    f, x0 = image_function(G, space, ws, z, rows)
    columns = tangent_function(G, space, ws, rows)
    assert columns is not None and tangent_function(G, "z", ws, rows) is None
    mask = Region.box(8, 8, 20, 20, size=(32, 32)).mask[0]
    fast = sample_grams(f, x0, mask, GramAccumulator(x0.shape[0]), chunk=7, columns=columns).result()
    slow = sample_grams(f, x0, mask, GramAccumulator(x0.shape[0]), chunk=7).result()
    torch.testing.assert_close(fast.A, slow.A, rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(fast.B, slow.B, rtol=1e-4, atol=1e-9)


def test_edited_ws_moves_exactly_the_directions_rows(G):
    z = z_from_seeds([3, 4], G.z_dim)
    ws = G.map(z)
    rows = latent_rows(G, "w+", "fine")
    n = torch.randn(len(rows) * G.w_dim, generator=torch.Generator().manual_seed(0))
    moved = edited_ws(G, ws, n, "w+", rows, [0.0, 1.5])  # sample-major: [code 0 × 2 strengths, code 1 × 2]
    manual = ws.clone()
    manual[:, list(rows)] += 1.5 * n.reshape(len(rows), G.w_dim)
    torch.testing.assert_close(moved[[0, 2]], ws, rtol=0, atol=0)
    torch.testing.assert_close(moved[[1, 3]], manual)
    nw = n[: G.w_dim]
    offset = direction_offset(G, nw, "w", rows)  # W: the same offset on each selected row
    assert torch.equal(offset[list(rows)], nw.expand(len(rows), -1)) and offset[0].abs().sum() == 0
    nz = torch.randn(G.z_dim, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(edited_ws(G, z, nz, "z", (), [2.0], truncation_psi=0.7), G.map(z + 2 * nz, None, 0.7))
    with pytest.raises(ValueError, match="has d=16: was it computed for another model"):
        edited_ws(G, ws, n, "w", rows, [1.0])
    with pytest.raises(ValueError, match="strengths must be finite numbers"):
        edited_ws(G, ws, nw, "w", rows, [float("nan")])
