"""Training BigGAN-deep with the shared loop: config, batch-statistics forward, steps, exact resume, export, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from regiongan.checkpoints import load_model
from regiongan.generators.biggan import BigGANDeep
from regiongan.training import TrainConfig, list_snapshots, train
from regiongan.training.distributed import Distributed
from regiongan.training.families import RealBatch
from regiongan.training.families.biggan import attention_position, generator_layers
from regiongan.training.families.biggan_statistics import (
    bn_layers,
    forward_batch_statistics,
    standing_statistics,
    store_statistics,
)
from regiongan.training.loop import Trainer

from .conftest import free_port, loss_lines, tiny_biggan_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(path):
    return torch.load(path, map_location="cpu", weights_only=True)


# ------------------------------------------------------------------------------------------------ config


def test_biggan_defaults_and_options_of_the_other_family():
    cfg = TrainConfig(family="biggan-deep", resolution=64)
    assert (cfg.g_lr, cfg.d_lr, cfg.beta1, cfg.beta2, cfg.d_steps) == (1e-4, 4e-4, 0.0, 0.999, 2)
    assert (cfg.z_dim, cfg.channel_width, cfg.d_channel_width, cfg.attention, cfg.ortho_reg) == (128, 32, 32, 32, 0.0)
    assert cfg.w_dim is None and cfg.r1_gamma is None and cfg.style_mixing is None
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    sg2 = TrainConfig()
    assert (sg2.g_lr, sg2.beta2, sg2.d_steps, sg2.z_dim, sg2.channel_width) == (0.0025, 0.99, 1, 256, None)
    assert TrainConfig(family="biggan-deep", g_lr=2e-4, channel_width=40).d_channel_width == 40
    with pytest.raises(ValueError, match="--r1-gamma applies to --family stylegan2 / ssn only; leave it out with --family biggan-deep"):
        TrainConfig(family="biggan-deep", r1_gamma=1.0)
    with pytest.raises(ValueError, match="--n-stats applies to --family biggan-deep only"):
        TrainConfig(n_stats=11)
    with pytest.raises(ValueError, match="raise --blocks-per-resolution to 4"):
        TrainConfig(family="biggan-deep", resolution=8)
    with pytest.raises(ValueError, match="attention must be 0 or a power of two in \\[4, 32\\]"):
        TrainConfig(family="biggan-deep", resolution=64, attention=64)


def test_generator_layers_halve_four_times_and_attention_finds_its_block():
    assert generator_layers(64, 2) == [
        [False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
        [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1],
    ]  # fmt: skip
    assert generator_layers(16, 2) == [[False, 16, 8], [True, 8, 4], [False, 4, 2], [True, 2, 1]]
    assert generator_layers(128, 1) == [[True, 16, 16], [True, 16, 8], [True, 8, 4], [True, 4, 2], [True, 2, 1]]
    layers = generator_layers(64, 2)
    assert attention_position(layers, 32) == 6 and attention_position(layers, 4) == 0 and attention_position(layers, 0) == -1
    with pytest.raises(ValueError, match="no generator block takes 64"):
        attention_position(layers, 64)


# ------------------------------------------------------------------------------------ batch statistics


def _tiny_G(n_stats: int = 3) -> BigGANDeep:
    torch.manual_seed(0)
    layers = generator_layers(16, 2)
    return BigGANDeep(output_dim=16, z_dim=8, class_embed_dim=8, channel_width=8, num_classes=5, layers=layers,
                      attention_layer_position=2, n_stats=n_stats).eval()  # fmt: skip


def test_batch_statistics_forward_is_g_with_those_statistics_stored():
    """The training forward and G's inference path share every parameter: storing the batch statistics
    in G's rows makes G reproduce the training images (pins the training forward to the generator's)."""
    G = _tiny_G()
    z, c = torch.randn(6, 8), F.one_hot(torch.tensor([0, 1, 2, 3, 4, 0]), 5).float()
    record: list = []
    img = forward_batch_statistics(G, z, c, record=record)
    assert img.shape == (6, 3, 16, 16) and len(record) == len(bn_layers(G)) == 4 * 4 + 1
    for row in range(G.n_stats):
        store_statistics(G, row, record)
    again = G.synthesize(G.styles(G.map(z, c))).image
    torch.testing.assert_close(again, img, rtol=0, atol=2e-5)
    # at truncation ψ the condition is [ψ·z, embed(c)], as G.map(z, c, ψ) writes it
    record = []
    img = forward_batch_statistics(G, z, c, psi=0.5, record=record)
    store_statistics(G, 1, record)  # row 1 of 3 is ψ = 0.5
    torch.testing.assert_close(G.synthesize(G.styles(G.map(z, c, 0.5))).image, img, rtol=0, atol=2e-5)


def test_standing_statistics_fill_every_truncation_row():
    G = _tiny_G(n_stats=3)
    standing_statistics(G, batch=5, samples=10, seed=1)
    out = G.generator.bn
    assert torch.isfinite(out.running_means).all() and (out.running_vars > 0).all()
    assert not torch.allclose(out.running_vars[0], out.running_vars[2])  # ψ = 0 and ψ = 1 differ
    first = bn_layers(G)[0]
    # row 2 (ψ = 1): the mean over the 2 batches of the first BN's input (the 4×4 grid of the linear layer)
    gen = torch.Generator().manual_seed(1)
    means = []
    for b in range(2):
        z = torch.randn([5, 8], generator=gen)
        c = F.one_hot(torch.arange(b * 5, b * 5 + 5) % 5, 5).float()
        record: list = []
        forward_batch_statistics(G, z, c, record=record)
        means.append(record[0][0])
    torch.testing.assert_close(first.running_means[2], (means[0] + means[1]) / 2)
    images = G.synthesize(G.styles(G.map(torch.randn(4, 8), 1, 0.7))).image
    assert torch.isfinite(images).all()


# ----------------------------------------------------------------------------------------- training


def test_steps_give_finite_hinge_losses_and_update_both_networks(tmp_path):
    cfg = tiny_biggan_config(tmp_path, steps=2)
    trainer = Trainer(cfg, Distributed())
    assert isinstance(trainer.G, BigGANDeep) and type(trainer.D).__name__ == "BigGANDiscriminator"
    assert trainer.G.c_dim == 5 and trainer.G_opt.param_groups[0]["lr"] == 1e-4 and trainer.D_opt.param_groups[0]["lr"] == 4e-4
    reals = [RealBatch(torch.zeros(4, 3, 16, 16), None)] * 2
    phases = [p.name for p in trainer.objective.phases(0, reals)]
    assert phases == ["D", "D", "G"]  # two D steps per G step
    before = {name: {k: v.clone() for k, v in net.state_dict().items()} for name, net in (("G", trainer.G), ("D", trainer.D))}
    for _ in range(2):
        stats = trainer.train_step()
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    assert {"loss/G", "loss/D", "loss/D_real", "loss/D_fake", "scores/real", "scores/fake", "loss/ortho"} <= set(stats)
    assert stats["loss/D"] >= 0 and trainer.state.nimg == 2 * 2 * 4 and trainer.state.data_cursor == 16
    for name, net in (("G", trainer.G), ("D", trainer.D)):
        changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[name][k])}
        assert any(k.endswith("weight_orig") for k in changed), name  # optimiser steps
        assert any(k.endswith("weight_u") for k in changed), name  # power iterations in training mode
    assert not any("running_" in k for k in changed)  # training never touches the stored statistics rows


def test_resume_continues_exactly_and_the_export_has_standing_statistics(tmp_path):
    straight = train(tiny_biggan_config(tmp_path / "straight", steps=4))
    train(tiny_biggan_config(tmp_path / "split", steps=2))
    split = train(tiny_biggan_config(tmp_path / "split", steps=4, resume=True))
    a, b = loss_lines(straight), loss_lines(split)
    assert [line["step"] for line in b] == [1, 2, 3, 4] and a == b  # every loss and score, bit for bit
    sa, sb = _snapshot(straight / "snapshot-step00000004.pt"), _snapshot(split / "snapshot-step00000004.pt")
    for name in ("G", "D", "G_ema"):  # weights, spectral-norm vectors and statistics rows
        assert all(torch.equal(sa[name][k], sb[name][k]) for k in sa[name]), name
    assert sa["config"]["family"] == "biggan-deep" and "pl_mean" not in sa
    # model/: the EMA with refined spectral norm and standing statistics, loadable as a BigGAN-deep
    G = load_model(straight / "model")
    meta = json.loads((straight / "model" / "config.json").read_text())
    assert isinstance(G, BigGANDeep) and meta["extra"]["family"] == "biggan-deep" and G.c_dim == 5
    for k, v in G.state_dict().items():
        if k.endswith("weight_orig"):
            torch.testing.assert_close(v, sa["G_ema"][k].half().float())
    rows = G.generator.bn.running_vars
    assert rows.shape == (3, 8) and not torch.equal(rows, torch.ones_like(rows))
    img = G.synthesize(G.styles(G.map(torch.randn(2, 8), torch.tensor([0, 4]), 0.5))).image
    assert torch.isfinite(img).all() and (straight / "samples" / "fakes-step00000004.png").exists()



def test_two_processes_keep_identical_replicas(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        "-m", "regiongan.training", "--family", "biggan-deep", "--data", "scenes", "--conditional",
        "--resolution", "16", "--batch", "4", "--kimg", "0.016", "--z-dim", "8", "--channel-width", "8",
        "--n-stats", "2", "--standing-samples", "2", "--grid", "4", "--log-every", "1", "--no-progress",
        "--run-dir", str(run),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "biggan-deep 16² on scenes: batch 4 over 2 process(es)" in proc.stderr
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if "loss/G" in d] == [1, 2]  # 2 steps × 2 D batches × 4 images = 16
    (event,) = [d for d in lines if d.get("event") == "snapshot"]
    for name in ("G", "D"):  # parameters and spectral-norm vectors agree on both ranks
        sums = event["param_checksums"][name]
        assert len(sums) == 2 and sums[0] == sums[1], sums
    (snap,) = list_snapshots(run)
    state = torch.load(snap, weights_only=True)
    assert state["world_size"] == 2 and state["nimg"] == 16 and state["data_cursor"] == 16
