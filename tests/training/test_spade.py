"""Training SPADE with the shared loop: config, label maps in the data, steps, the baseline, exact resume, export."""

from __future__ import annotations

import argparse

import pytest
import torch
from PIL import Image

from regiongan.checkpoints import load_model
from regiongan.discriminators.spade import SPADEDiscriminator
from regiongan.generators.spade import SPADEModel
from regiongan.generators.spade_blocks import SPADE, AffineNorm
from regiongan.training import TrainConfig, train
from regiongan.training.config import add_train_arguments
from regiongan.training.data import FolderImages, open_real_images
from regiongan.training.distributed import Distributed
from regiongan.training.families import get_family
from regiongan.training.families import spade as spade_family
from regiongan.training.families.spade import baseline_ngf, generator_config
from regiongan.training.loop import Trainer

from .conftest import loss_lines, tiny_spade_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


# ------------------------------------------------------------------------------------------------ config


def test_spade_defaults_and_refusals():
    cfg = TrainConfig(family="spade", data="scenes")
    assert (cfg.g_lr, cfg.d_lr, cfg.beta1, cfg.beta2, cfg.d_steps) == (1e-4, 4e-4, 0.0, 0.9, 1)
    assert (cfg.lambda_feat, cfg.lambda_kld, cfg.d_scales, cfg.use_vae, cfg.label_injection) == (10.0, 0.05, 2, True, "spade")
    assert cfg.w_dim is None and cfg.r1_gamma is None and TrainConfig.from_dict(cfg.to_dict()) == cfg
    parser = add_train_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--family", "spade", "--use-vae", "false", "--label-injection", "input"])
    assert TrainConfig.from_args(args).use_vae is False and TrainConfig.from_args(args).label_injection == "input"
    with pytest.raises(SystemExit):
        parser.parse_args(["--family", "spade", "--use-vae", "maybe"])
    with pytest.raises(ValueError, match="--ngf applies to --family spade only"):
        TrainConfig(ngf=8)
    with pytest.raises(ValueError) as err:
        TrainConfig(family="spade", resolution=16, conditional=True, augment="color,translation", lambda_kld=-1)
    for part in ("needs resolution >= 32", "--conditional does not apply", "translation would misalign", "lambda_kld must be >= 0"):
        assert part in str(err.value)


def test_world_gives_label_maps_and_a_folder_is_refused(tmp_path):
    data = open_real_images("scenes", 32, labels=True)
    x, c, labels = data.batch_with_labels(3, 2)
    assert x.shape == (2, 3, 32, 32) and c is None and labels.shape == (2, 32, 32) and labels.dtype == torch.int64
    assert int(labels.max()) < 12 and torch.equal(data.batch(3, 2)[0], x)  # the same images, rendered together
    for i in range(2):
        Image.new("RGB", (32, 32), (i * 100, 0, 0)).save(tmp_path / f"{i}.png")
    with pytest.raises(ValueError, match="trains on label maps, which the image folder .* does not have"):
        open_real_images(str(tmp_path), 32, labels=True)
    with pytest.raises(ValueError, match="does not have"):
        FolderImages(tmp_path, 32).batch_with_labels(0, 1)
    assert open_real_images(str(tmp_path), 32).batch(0, 2)[0].shape == (2, 3, 32, 32)  # other families still may
    with pytest.raises(ValueError, match="trains on label maps, which --data"):
        get_family("spade").build_networks(TrainConfig(family="spade", data=str(tmp_path)), 0)


# ------------------------------------------------------------------------------------------------- steps


def _trainer(tmp_path, **overrides) -> Trainer:
    return Trainer(tiny_spade_config(tmp_path / "run", steps=2, **overrides), Distributed())


def test_a_step_updates_both_networks_and_D_sees_the_labels(tmp_path):
    tr = _trainer(tmp_path)
    assert isinstance(tr.G, SPADEModel) and isinstance(tr.D, SPADEDiscriminator) and tr.G.label_nc == 12
    assert tr.G.encoder is not None and tr.G.config["encoder_size"] == 32
    real = tr._real_batch(0)
    assert real.labels.shape == (2, 32, 32)
    G0, D0 = _params(tr.G), _params(tr.D)
    stats = tr.train_step()
    assert set(stats) >= {"loss/G", "loss/G_feat", "loss/KLD", "loss/D", "loss/D_real", "loss/D_fake"}
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()) and stats["loss/G_feat"] > 0
    for before, net in ((G0, tr.G), (D0, tr.D)):
        changed = [k for k, v in net.named_parameters() if not torch.equal(v, before[k])]
        assert len(changed) > len(before) // 2
    assert any(k.startswith("encoder.") for k, v in tr.G.named_parameters() if not torch.equal(v, G0[k]))
    # D judges (label map, image): the same images with other labels get other scores
    seg = tr.G.label_input(real.labels)
    with torch.no_grad():
        a = tr.D(seg, real.images)[0][-1]
        b = tr.D(seg.roll(1, dims=1), real.images)[0][-1]
    assert not torch.allclose(a, b)
    # the family refuses a real batch without label maps
    with pytest.raises(ValueError, match="needs the real images' label maps"):
        tr.objective.phases(0, [type(real)(real.images, None)])[0].loss()


def test_the_baseline_sees_labels_only_at_its_input_and_matches_the_parameter_count(tmp_path):
    cfg = TrainConfig(family="spade", data="scenes", resolution=64)
    spade = SPADEModel.config_cost(generator_config(cfg, 12)).parameters
    ngf = baseline_ngf(cfg, 12)
    base = SPADEModel.config_cost(generator_config(cfg, 12, ngf, "input")).parameters
    assert ngf > cfg.ngf and abs(base - spade) / spade < 0.1
    for use_vae in (True, False):  # config_cost counts the built baseline exactly
        config = dict(generator_config(cfg, 12, 4, "input"), use_vae=use_vae, crop_size=32)
        G = SPADEModel(**config)
        assert sum(t.numel() for t in G.state_dict().values()) == SPADEModel.config_cost(config).parameters
        assert not any(isinstance(m, SPADE) for m in G.modules()) and any(isinstance(m, AffineNorm) for m in G.modules())
    tr = _trainer(tmp_path, label_injection="input")
    assert tr.G.config["label_injection"] == "input" and tr.G.label_down is not None
    G0 = _params(tr.G)
    stats = tr.train_step()
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert not torch.equal(G0["label_down.layer1.weight_orig"], tr.G.label_down.layer1.weight_orig)
    # the label map still steers the baseline's image (through its input), from the same code
    G = tr.G.eval()
    labels = tr._real_batch(0).labels
    z = torch.randn(1, G.z_dim)
    with torch.no_grad():
        assert not torch.allclose(G.synthesize_labels(labels[:1], z), G.synthesize_labels(labels[1:], z))


# ------------------------------------------------------------------------------------ resume and export


def test_resume_continues_exactly_and_the_export_has_standing_statistics(tmp_path, monkeypatch):
    monkeypatch.setattr(spade_family, "STANDING_SAMPLES", 8)
    straight = train(tiny_spade_config(tmp_path / "straight", steps=3))
    train(tiny_spade_config(tmp_path / "split", steps=1))
    split = train(tiny_spade_config(tmp_path / "split", steps=3, resume=True))
    a, b = loss_lines(straight), loss_lines(split)
    assert [line["step"] for line in b] == [1, 2, 3] and a == b  # every loss and score, bit for bit
    sa, sb = _snapshot(straight / "snapshot-step00000003.pt"), _snapshot(split / "snapshot-step00000003.pt")
    for name in ("G", "D", "G_ema"):  # weights, spectral-norm vectors, batch-norm statistics
        assert all(torch.equal(sa[name][k], sb[name][k]) for k in sa[name]), name
    G = load_model(straight / "model")
    assert isinstance(G, SPADEModel) and not G.training and G.use_vae and G.encoder is not None
    key = "up_3.norm_0.param_free_norm.running_var"
    assert not torch.allclose(G.state_dict()[key], sa["G_ema"][key].half().float())  # standing, not the G's
    img = G.synthesize_labels(torch.randint(0, 12, (2, 32, 32)), generator=torch.Generator().manual_seed(0))
    assert img.shape == (2, 3, 32, 32) and torch.isfinite(img).all()
    grid = Image.open(straight / "samples" / "fakes-step00000003.png")
    assert grid.size[0] > 3 * 2 * 32  # label | fake | real per sample
