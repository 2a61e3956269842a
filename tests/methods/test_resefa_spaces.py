"""ReSeFa in a family's own latent spaces (issue #12, part 3): BigGAN-deep's ``"z"`` and ``"class"`` (its
class embedding) through the generic code of regiongan.methods.resefa.spaces — the declaration
(``G.latent_spaces()``), the class-space Jacobian against finite differences, the Rayleigh-quotient
property of a found direction against random ones, edits, files and recipes, and the errors."""

from __future__ import annotations

import pytest
import torch

import regiongan as rg
from regiongan.api import replay
from regiongan.generators.base import latent_spaces
from regiongan.identity import model_record
from regiongan.jacobian import GramAccumulator, forward_jacobian, reverse_jacobian, sample_grams
from regiongan.latents import CLASS_SPACE, LatentSpace, codes_to_ws, z_from_seeds
from regiongan.methods.resefa import (
    Directions,
    edit,
    edited_ws,
    find_directions,
    image_function,
    latent_dim,
    latent_rows,
    load_directions,
    model_spaces,
    tangent_function,
)
from regiongan.methods.resefa.solvers import regularization
from regiongan.methods.sampling import render
from regiongan.regions import Region

from ..conftest import tiny_stylegan2
from ..generators.test_biggan import tiny_biggan

pytestmark = pytest.mark.usefixtures("one_thread")

BOX = "box:8,8,20,20"


@pytest.fixture(scope="module")
def G():
    return tiny_biggan(seed=1)


@pytest.fixture(scope="module")
def class_dirs(G):
    """Class-space directions for BOX: 2 samples of class 1 at ψ = 0.7."""
    return find_directions(G, BOX, samples=2, space="class", c=1, k=4, truncation_psi=0.7)


def _embedding(G, c: int) -> torch.Tensor:
    return G.embeddings.weight[:, c]


def test_biggan_declares_z_and_class_and_withdraws_w(G):
    declared = latent_spaces(G)
    assert isinstance(declared[CLASS_SPACE], LatentSpace) and declared[CLASS_SPACE].dim == G.z_dim
    assert isinstance(declared["w"], str) and isinstance(declared["w+"], str)
    assert list(model_spaces(G)) == ["z", "class"] and latent_dim(G, "class", ()) == G.z_dim
    assert list(model_spaces(tiny_stylegan2())) == ["w", "w+", "z"] and latent_spaces(tiny_stylegan2()) == {}
    assert latent_rows(G, "class") == () and latent_rows(G, "class", "all") == ()
    # read gives the embedding back; move is map's own embedding of e + δ, scaled by each row's ψ
    space = declared[CLASS_SPACE]
    z = z_from_seeds([3, 4], G.z_dim)
    ws = G.map(z, 2, 0.6, truncation_cutoff=2)  # rows 0-1 at ψ = 0.6, the others at 1
    torch.testing.assert_close(space.read(ws), _embedding(G, 2).expand(2, -1))
    delta = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    moved = ws + space.move(ws, delta)
    psi = torch.tensor([0.6, 0.6] + [1.0] * (G.num_ws - 2))
    expected = torch.cat([z, _embedding(G, 2) + delta, torch.ones(2, 1)], 1)[:, None] * psi[None, :, None]
    torch.testing.assert_close(moved, expected)


def test_the_class_space_jacobian_matches_finite_differences(G):
    z = z_from_seeds([5], G.z_dim)
    c = torch.nn.functional.one_hot(torch.tensor([1]), G.c_dim).float()
    ws = G.map(z, c, 0.7)
    f, x0 = image_function(G, "class", ws, z, (), 0.7, c)
    torch.testing.assert_close(x0, _embedding(G, 1))
    torch.testing.assert_close(f(x0), render(G, ws)[0], rtol=0, atol=1e-6)
    J = forward_jacobian(f, x0, chunk=3)  # [3·32·32, z_dim]
    assert J.shape == (3 * 32 * 32, G.z_dim) and J.abs().max() > 1e-3
    g = torch.Generator().manual_seed(2)
    for _ in range(2):  # central differences; a few pixels sit on ReLU / max-pool kinks, so compare norms
        v = torch.randn(G.z_dim, generator=g)
        eps = 1e-3
        fd = (f(x0 + eps * v) - f(x0 - eps * v)).reshape(-1) / (2 * eps)
        assert float((J @ v - fd).norm()) < 0.05 * float(fd.norm())
    rows = torch.arange(0, J.shape[0], 97)
    torch.testing.assert_close(reverse_jacobian(f, x0, rows=rows), J[rows], rtol=1e-4, atol=1e-6)
    # the class space is not z: same sample, another function
    fz, z0 = image_function(G, "z", ws, z, (), 0.7, c)
    assert not torch.allclose(forward_jacobian(fz, z0), J, atol=1e-4)


def _grams(G, dirs, space, c, psi):
    """The averaged region Grams A, B of ``dirs``' samples (what find_directions solved)."""
    acc = GramAccumulator(dirs.dim)
    mask = dirs.region[0]  # [1, H, W], the shared box
    for s in dirs.meta["seeds"]:
        z = z_from_seeds([s], G.z_dim)
        ws = codes_to_ws(G, z, "z", c, psi)
        f, x0 = image_function(G, space, ws, z, (), psi, G.class_input(c, 1))
        sample_grams(f, x0, mask, acc)
    return acc.result()


def test_the_found_direction_changes_the_region_more_than_random_ones(G, class_dirs):
    """By construction the top eigenvector maximises nᵀAn / nᵀ(B + αI)n; in the linear regime an edit's
    In-MSE / Out-MSE (averaged over the samples, one shared mask) is nᵀAn / nᵀBn."""
    grams = _grams(G, class_dirs, "class", 1, 0.7)
    A, B = grams.A, grams.B
    Ba = B + regularization(B, class_dirs.meta["tau"]) * torch.eye(B.shape[0], dtype=B.dtype)
    n0 = class_dirs.vector(0).double()
    top = float(n0 @ A @ n0 / (n0 @ Ba @ n0))
    assert top == pytest.approx(float(class_dirs.eigenvalues[0]), rel=1e-4)
    g = torch.Generator().manual_seed(3)
    randoms = torch.nn.functional.normalize(torch.randn(16, G.z_dim, generator=g, dtype=torch.float64), dim=1)
    quotients = torch.einsum("kd,de,ke->k", randoms, A, randoms) / torch.einsum("kd,de,ke->k", randoms, Ba, randoms)
    assert top >= float(quotients.max()) * (1 - 1e-9)

    # the same through the images of real edits: a small step along n0 against random unit steps
    mask = class_dirs.region[0, 0].bool()

    def ratio(direction: torch.Tensor) -> float:
        one = Directions(direction[None].float(), torch.ones(1), "class", (), model=class_dirs.model, meta=class_dirs.meta)
        out = edit(G, class_dirs.meta["seeds"], one, 0, [0.0, 0.05], c=1)
        change = (out.images[1::2] - out.images[0::2]).pow(2).mean(1)  # [samples, H, W]
        return float(change[:, mask].mean() / change[:, ~mask].mean())

    found = ratio(n0)
    assert found == pytest.approx(float(n0 @ A @ n0 / (n0 @ B @ n0)), rel=0.05)
    assert all(found > ratio(r) for r in randoms[:4])


def test_class_edits_move_the_embedding_and_replay_bit_for_bit(G, class_dirs, tmp_path):
    out = edit(G, [0, 7], class_dirs, index=1, strengths=[-2.0, 0.0, 2.0], c=1)
    assert out.images.shape == (6, 3, 32, 32) and out.extras["space"] == "class" and out.extras["rows"] == ()
    z = z_from_seeds([0, 7], G.z_dim)
    ws = out.extras["ws"]  # ψ = the directions' 0.7; e' = e + t·n on every row, z and ψ kept
    n = class_dirs.vector(1)
    space = latent_spaces(G)[CLASS_SPACE]
    torch.testing.assert_close(space.read(ws), _embedding(G, 1) + torch.tensor([-2.0, 0, 2] * 2)[:, None] * n)
    torch.testing.assert_close(ws[:, :, : G.z_dim], 0.7 * z.repeat_interleave(3, 0)[:, None].expand(-1, G.num_ws, -1))
    assert torch.all(ws[..., -1] == torch.tensor(0.7))
    plain = render(G, G.map(z, 1, 0.7))
    torch.testing.assert_close(out.images[[1, 4]], plain, rtol=0, atol=1e-6)
    assert (out.images[0] - plain[0]).abs().max() > 1e-3
    torch.testing.assert_close(edited_ws(G, G.map(z, 1, 0.7), n, "class", (), [-2.0, 0.0, 2.0]), ws)
    # a class direction moves ws codes too (any code space)
    w_out = edit(G, G.map(z, 1, 0.7), class_dirs, index=1, strengths=[-2.0, 0.0, 2.0], space="w+")
    torch.testing.assert_close(w_out.images, out.images)

    path = class_dirs.save(tmp_path / "class.safetensors")
    back = load_directions(path)
    assert back.space == "class" and back.rows == () and back.meta["class"] == 1 and torch.equal(back.vectors, class_dirs.vectors)
    again = edit(G, [0, 7], str(path), index=1, strengths=[-2.0, 0.0, 2.0], c=1)
    assert torch.equal(again.images, out.images)
    again.recipe.save(tmp_path / "edit.json")
    path.unlink()
    replayed = replay(tmp_path / "edit.json", G=G)
    assert replayed.extras["space"] == "class" and torch.equal(replayed.images, out.images)


def test_z_directions_on_biggan(G):
    dirs = rg.find_directions(G, BOX, samples=1, space="z", c=2, k=2, downsample=16)
    assert dirs.space == "z" and dirs.dim == G.z_dim and dirs.meta["class"] == 2
    out = rg.edit(G, [1], dirs, 0, [0.0, 1.5], c=2)
    torch.testing.assert_close(out.images[0], render(G, G.map(z_from_seeds([1], G.z_dim), 2))[0], rtol=0, atol=1e-6)
    assert (out.images[1] - out.images[0]).abs().max() > 1e-3


def test_errors_name_the_models_spaces(G):
    spaces = r"this model's latent spaces are 'z' \(z_dim=8\) and 'class' \(d=8: the class embedding e = E·c\)"
    with pytest.raises(ValueError, match=r"unknown latent space 'q'; " + spaces):
        find_directions(G, BOX, space="q", c=0)
    with pytest.raises(ValueError, match=r"space 'w' is not available for this model: BigGAN's ws rows are .*; " + spaces):
        find_directions(G, BOX, c=0)  # the default space, w, means nothing for BigGAN
    with pytest.raises(ValueError, match="space 'w\\+' is not available"):
        latent_rows(G, "w+", "all")
    with pytest.raises(ValueError, match="layers= cannot be used with space='class'"):
        latent_rows(G, "class", "fine")
    with pytest.raises(ValueError, match="class-conditional with 3 classes: give a class"):
        find_directions(G, BOX, space="class", samples=1, k=2)
    hand_made = Directions(torch.eye(1, G.w_dim), torch.ones(1), "w", (0,), model=model_record(G))
    with pytest.raises(ValueError, match="space 'w' is not available for this model"):
        edit(G, 0, hand_made, c=0)
    unconditional = tiny_biggan(num_classes=0)
    with pytest.raises(ValueError) as e:
        find_directions(unconditional, BOX, space="class")
    assert str(e.value) == (
        "space 'class' is not available for this model: this BigGAN is unconditional (num_classes = 0): it has no "
        "class embedding to move; this model's latent spaces are 'z' (z_dim=8)"
    )
    with pytest.raises(ValueError, match=r"this model has no 'class' latent space; .*'w' \(w_dim=16\), 'w\+'"):
        find_directions(tiny_stylegan2(), BOX, space="class")


def test_a_family_space_uses_the_familys_tangent_pass_and_declarations_are_checked(monkeypatch):
    G = tiny_stylegan2()  # a test space: one offset on every W+ row (what "w" does), declared as a family space
    space = LatentSpace(G.w_dim, lambda ws: ws[:, 0], lambda ws, d: d[:, None, :].expand(-1, G.num_ws, -1), "an offset on every row")
    monkeypatch.setattr(G, "latent_spaces", lambda: {CLASS_SPACE: space}, raising=False)
    z = z_from_seeds([5], G.z_dim)
    ws = G.map(z)
    f, x0 = image_function(G, "class", ws, z, ())
    columns = tangent_function(G, "class", ws, ())
    assert columns is not None
    mask = Region.box(8, 8, 20, 20, size=(32, 32)).mask[0]
    fast = sample_grams(f, x0, mask, GramAccumulator(G.w_dim), chunk=7, columns=columns).result()
    slow = sample_grams(f, x0, mask, GramAccumulator(G.w_dim), chunk=7).result()
    torch.testing.assert_close(fast.A, slow.A, rtol=1e-4, atol=1e-9)
    wf, w0 = image_function(G, "w", ws, z, latent_rows(G, "w"))  # the same function as "w"
    torch.testing.assert_close(forward_jacobian(wf, w0), forward_jacobian(f, x0), rtol=1e-4, atol=1e-6)

    for bad, message in (
        ({"q": space}, "'q' is not a latent space word of regiongan"),
        ({"w": space}, "'w' is generic; a family can withdraw it"),
        ({"class": 3}, "must be a LatentSpace or a reason"),
        ({"class": "two\nlines"}, "one non-empty line"),
    ):
        monkeypatch.setattr(G, "latent_spaces", lambda bad=bad: bad, raising=False)
        with pytest.raises((TypeError, ValueError), match=message):
            latent_spaces(G)
