"""Training SSN with the shared loop: config, the low-distortion regulariser, steps, exact resume, export,
transfer initialisation from a StyleGAN2, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from regiongan.checkpoints import load_model, save_pretrained
from regiongan.generators.ssn import SSNGenerator
from regiongan.generators.ssn_transfer import transfer_state
from regiongan.generators.stylegan2 import StyleGAN2
from regiongan.ops.blocks import block_masks, mix_block
from regiongan.training import TrainConfig, list_snapshots, train
from regiongan.training.distributed import Distributed
from regiongan.training.families.ssn import SSNObjective
from regiongan.training.losses import block_distortion, low_distortion_loss
from regiongan.training.loop import Trainer

from .conftest import free_port, loss_lines, tiny_ssn_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _tiny_G(seed: int = 0, **overrides) -> SSNGenerator:
    torch.manual_seed(seed)
    kw = dict(z_channels=8, w_channels=8, block_grid=4, img_resolution=16, mapping_layers=2, channel_base=256, channel_max=16)
    kw.update(overrides)
    return SSNGenerator(**kw)


# ------------------------------------------------------------------------------------------------ config


def test_ssn_defaults_and_options_of_other_families():
    cfg = TrainConfig(family="ssn", resolution=64)
    assert (cfg.block_grid, cfg.distortion_weight, cfg.distortion_interval, cfg.init_from) == (4, 100.0, 4, None)
    assert (cfg.z_dim, cfg.w_dim, cfg.r1_gamma, cfg.g_lr, cfg.g_architecture, cfg.channel_width) == (256, 256, 1.0, 0.0025, None, None)
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert TrainConfig(family="ssn", g_channels="4:32,8:16").g_channels == {4: 32, 8: 16}
    assert TrainConfig().block_grid is None and TrainConfig().distortion_weight is None
    with pytest.raises(ValueError, match="--distortion-weight applies to --family ssn only"):
        TrainConfig(distortion_weight=10.0)
    with pytest.raises(ValueError, match="--init-from applies to --family ssn only"):
        TrainConfig(family="biggan-deep", init_from="faces-64")
    with pytest.raises(ValueError, match="--g-architecture applies to --family stylegan2 only"):
        TrainConfig(family="ssn", g_architecture="skip")
    with pytest.raises(ValueError, match=r"block_grid must be a power of two <= resolution \(16\), got 3"):
        TrainConfig(family="ssn", resolution=16, block_grid=3)
    with pytest.raises(ValueError, match="distortion_weight must be >= 0"):
        TrainConfig(family="ssn", distortion_weight=-1.0)


# ----------------------------------------------------------------------------------- the regulariser


def test_distortion_is_the_mse_outside_the_resampled_block():
    G = _tiny_G()
    gen = torch.Generator().manual_seed(1)
    z, z2 = torch.randn(3, 8, 4, 4, generator=gen), torch.randn(3, 8, 4, 4, generator=gen)
    a = torch.tensor([0, 5, 15])
    with torch.no_grad():
        got = block_distortion(G, z, z2, a, noise_mode="const")
        x, y = G(z), G(mix_block(z, z2, a))
        same = block_distortion(G, z, z, a, noise_mode="const")
    outside = 1 - block_masks(4, 16, 16)[a].unsqueeze(1)
    want = ((x - y).square() * outside).sum(dim=(1, 2, 3)) / (outside.sum(dim=(1, 2, 3)) * 3)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-10)
    assert (got > 0).all()  # a random SSN leaks: global σ_E, receptive fields
    assert float(same.abs().max()) == 0  # z' = z: nothing changes


def test_distortion_is_zero_when_G_ignores_z():
    G = _tiny_G()
    with torch.no_grad():
        G.mapping.fc1.weight.zero_()  # w = lrelu(bias): the same in every block whatever z is
    loss, dist = low_distortion_loss(G, 4, 100.0, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1))
    assert float(loss.detach()) == 0 and float(dist) == 0


def test_draws_come_from_the_given_generators_only():
    G = _tiny_G()
    global_state = torch.random.get_rng_state()
    gen, replica = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    first, _ = low_distortion_loss(G, 4, 1.0, gen, torch.Generator().manual_seed(1))
    torch.randn([4, 8, 4, 4], generator=replica), torch.randn([4, 8, 4, 4], generator=replica)
    torch.randint(0, 16, [4], generator=replica)  # z, z', then the block a of each sample
    assert torch.equal(gen.get_state(), replica.get_state())
    again, _ = low_distortion_loss(G, 4, 1.0, torch.Generator().manual_seed(7), torch.Generator().manual_seed(1))
    other, _ = low_distortion_loss(G, 4, 1.0, torch.Generator().manual_seed(8), torch.Generator().manual_seed(1))
    assert float(first.detach()) == float(again.detach()) and float(first.detach()) != float(other.detach())
    assert torch.equal(torch.random.get_rng_state(), global_state)


def test_regulariser_steps_decrease_the_distortion():
    G = _tiny_G(seed=3)
    gen = torch.Generator().manual_seed(0)
    z, z2, a = torch.randn(8, 8, 4, 4, generator=gen), torch.randn(8, 8, 4, 4, generator=gen), torch.arange(8) * 2
    with torch.no_grad():
        before = float(block_distortion(G, z, z2, a, noise_mode="const").mean())
    opt = torch.optim.Adam(G.parameters(), lr=0.01)
    train_gen = torch.Generator().manual_seed(1)
    for _ in range(12):
        loss, _ = low_distortion_loss(G, 4, 1.0, train_gen, train_gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(block_distortion(G, z, z2, a, noise_mode="const").mean())
    assert before > 0 and after < 0.5 * before, (before, after)


# ------------------------------------------------------------------------------------------- training


def test_steps_run_every_phase_and_regulariser(tmp_path):
    trainer = Trainer(tiny_ssn_config(tmp_path / "run", steps=2), Distributed())
    assert isinstance(trainer.G, SSNGenerator) and isinstance(trainer.objective, SSNObjective)
    w_avg = trainer.G.mapping.w_avg.clone()
    names = [[p.name for p in trainer.objective.phases(s, [None])] for s in range(4)]  # type: ignore[list-item]
    assert names == [["G", "G_reg", "D", "D_reg"], ["G", "D"], ["G", "G_reg", "D", "D_reg"], ["G", "G_reg", "D"]]
    stats = trainer.train_step()  # step 0: path length, distortion and R1
    assert {"loss/G", "loss/D", "loss/pl", "loss/distortion", "distortion", "loss/r1"} <= set(stats)
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    assert 0 < stats["distortion"] < 1 and stats["loss/distortion"] == pytest.approx(10 * stats["distortion"])
    assert not torch.equal(trainer.G.mapping.w_avg, w_avg)  # update_w_avg follows the mapped grids


def test_the_distortion_weight_ramps_linearly_then_holds(tmp_path):
    cfg = tiny_ssn_config(tmp_path / "run", steps=8, distortion_ramp_kimg=0.016)  # 4 steps of batch 4
    trainer = Trainer(cfg, Distributed())
    weights = [trainer.objective.distortion_weight_at(s) for s in range(7)]
    assert weights == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0, 10.0, 10.0])  # λ_D = 10 in the tiny config
    stats = [trainer.train_step() for _ in range(4)]
    logged = [st["distortion_weight"] for st in stats if "distortion" in st]
    assert logged == pytest.approx([0.0, 5.0])  # steps 0 and 2 (distortion interval 2)
    assert [st["loss/distortion"] for st in stats if "distortion" in st][0] == 0.0
    with pytest.raises(ValueError, match="distortion_ramp_kimg must be >= 0"):
        tiny_ssn_config(tmp_path / "bad", steps=1, distortion_ramp_kimg=-1.0)


def test_the_global_encoder_option_builds_and_transfers_it(tmp_path):
    sg2 = _save_stylegan2(tmp_path / "sg2")
    trainer = Trainer(tiny_ssn_config(tmp_path / "run", steps=1, encoder_global=True, init_from=str(tmp_path / "sg2")), Distributed())
    gate = trainer.G.mapping.encoder_global_gate
    assert trainer.G.mapping.encoder_global and torch.equal(gate, torch.ones(8))  # multiplier 1: stored = effective
    z = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(trainer.G_ema(z[:, :, None, None].expand(2, 8, 4, 4)), sg2(z), atol=1e-4, rtol=0)
    trainer.train_step()
    assert not torch.equal(trainer.G.mapping.encoder_global_gate, torch.ones(8))  # trained like every other parameter
    fast = Trainer(tiny_ssn_config(tmp_path / "fast", steps=1, encoder_global=True, gate_lr_multiplier=20.0), Distributed())
    assert fast.G.mapping.gate_lr_multiplier == 20.0 and torch.equal(fast.G.mapping.global_gate(), torch.ones(8))
    with pytest.raises(ValueError, match="gate_lr_multiplier must be > 0"):
        tiny_ssn_config(tmp_path / "bad", steps=1, gate_lr_multiplier=0.0)
    with pytest.raises(ValueError, match="--gate-lr-multiplier applies to --family ssn only"):
        TrainConfig(gate_lr_multiplier=2.0)


def test_resume_continues_exactly_and_exports_an_ssn(tmp_path):
    straight = train(tiny_ssn_config(tmp_path / "straight", steps=4))
    train(tiny_ssn_config(tmp_path / "split", steps=2))
    split = train(tiny_ssn_config(tmp_path / "split", steps=4, resume=True))
    a, b = loss_lines(straight), loss_lines(split)
    assert [line["step"] for line in b] == [1, 2, 3, 4] and a == b  # every loss, distortion too, bit for bit
    assert sum("distortion" in line for line in a) == 2
    sa, sb = _snapshot(straight / "snapshot-step00000004.pt"), _snapshot(split / "snapshot-step00000004.pt")
    for name in ("G", "D", "G_ema"):
        assert all(torch.equal(sa[name][k], sb[name][k]) for k in sa[name]), name
    G = load_model(straight / "model")
    meta = json.loads((straight / "model" / "config.json").read_text())
    assert isinstance(G, SSNGenerator) and meta["model_type"] == "ssn" and meta["extra"]["family"] == "ssn"
    assert G.block_grid == 4 and G.z_dim == 8 * 16
    for k, v in G.state_dict().items():
        torch.testing.assert_close(v, sa["G_ema"][k].half().float())


def _save_stylegan2(path, w_dim: int = 8):
    torch.manual_seed(5)
    sg2 = StyleGAN2(z_dim=8, w_dim=w_dim, img_resolution=16, mapping_layers=2, channel_base=256, channel_max=16)
    save_pretrained(sg2, path)
    return load_model(path)


def test_init_from_a_stylegan2_transfers_G(tmp_path, capfd):
    sg2 = _save_stylegan2(tmp_path / "sg2")
    trainer = Trainer(tiny_ssn_config(tmp_path / "run", steps=1, init_from=str(tmp_path / "sg2")), Distributed())
    assert "D starts fresh" in capfd.readouterr().err
    want = transfer_state(sg2.state_dict(), trainer.G.config)
    state = trainer.G.state_dict()
    assert set(state) - set(want) == {"mapping.encoder0.weight", "mapping.encoder0.bias", "mapping.encoder0.resample_filter", "mapping.encoder_gain"}
    assert all(torch.equal(state[k], v) for k, v in want.items())
    z = torch.randn(2, 8)
    with torch.no_grad():  # a spatially constant z reproduces the StyleGAN2 image
        torch.testing.assert_close(trainer.G_ema(z[:, :, None, None].expand(2, 8, 4, 4)), sg2(z), atol=1e-4, rtol=0)
    stats = trainer.train_step()
    assert torch.isfinite(torch.tensor(stats["loss/G"]))


def test_init_from_an_ssn_run_fine_tunes_both_networks(tmp_path):
    first = train(tiny_ssn_config(tmp_path / "first", steps=2))
    snap = _snapshot(first / "snapshot-step00000002.pt")
    trainer = Trainer(tiny_ssn_config(tmp_path / "tune", steps=1, distortion_weight=50.0, init_from=str(first)), Distributed())
    assert trainer.state.step == 0  # a new run: its own step count, optimisers and λ_D schedule
    for net, name in ((trainer.G, "G"), (trainer.D, "D"), (trainer.G_ema, "G")):  # G_ema starts as the loaded G
        assert all(torch.equal(v, snap[name][k]) for k, v in net.state_dict().items()), name
    assert torch.isfinite(torch.tensor(trainer.train_step()["loss/G"]))
    with pytest.raises(ValueError, match=r"its networks differ from this run's \(--block-grid 4 there, 2 here\)"):
        Trainer(tiny_ssn_config(tmp_path / "other", steps=1, block_grid=2, init_from=str(first)), Distributed())


def test_init_from_refuses_other_widths_and_families(tmp_path):
    _save_stylegan2(tmp_path / "wide", w_dim=16)
    with pytest.raises(ValueError, match=r"its widths \(--z-dim 8 --w-dim 16 .*\) differ from the run's \(--z-dim 8 --w-dim 8 "):
        Trainer(tiny_ssn_config(tmp_path / "run", steps=1, init_from=str(tmp_path / "wide")), Distributed())
    save_pretrained(_tiny_G(), tmp_path / "ssn")
    with pytest.raises(ValueError, match="SSNGenerator is not a StyleGAN2"):
        Trainer(tiny_ssn_config(tmp_path / "run2", steps=1, init_from=str(tmp_path / "ssn")), Distributed())


@pytest.mark.slow  # three Python processes: ~40 s on a loaded 2-core machine
def test_two_processes_keep_identical_replicas(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        "-m", "regiongan.training", "--family", "ssn", "--data", "faces", "--resolution", "16", "--batch", "4",
        "--kimg", "0.008", "--z-dim", "8", "--w-dim", "8", "--mapping-layers", "2", "--channel-base", "256",
        "--channel-max", "16", "--distortion-interval", "1", "--r1-interval", "1", "--grid", "4", "--log-every", "1",
        "--no-progress", "--run-dir", str(run),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ssn 16² on faces: batch 4 over 2 process(es)" in proc.stderr
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if "loss/G" in d] == [1, 2] and all("distortion" in d for d in lines if "loss/G" in d)
    (event,) = [d for d in lines if d.get("event") == "snapshot"]
    for name in ("G", "D"):  # the per-rank distortion draws differ, the averaged gradients do not
        sums = event["param_checksums"][name]
        assert len(sums) == 2 and sums[0] == sums[1], sums
    (snap,) = list_snapshots(run)
    assert torch.load(snap, weights_only=True)["world_size"] == 2
