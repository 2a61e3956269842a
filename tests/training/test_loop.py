"""The training loop: finite losses, bf16, outputs, exact resume, corrupt-snapshot fallback, bad input."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from regiongan.checkpoints import load_model
from regiongan.training import SnapshotError, SnapshotWarning, TrainConfig, list_snapshots, train
from regiongan.training.__main__ import main as cli_main
from regiongan.training.distributed import Distributed
from regiongan.training.loop import Trainer, make_adam

from .conftest import loss_lines, tiny_config


def _snapshot(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_steps_give_finite_losses(tmp_path, precision):
    cfg = tiny_config(tmp_path / precision, steps=2, precision=precision)
    trainer = Trainer(cfg, Distributed())
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    for _ in range(2):  # step 0 runs both lazy regularisers, step 1 neither
        stats = trainer.train_step()
        assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    assert {"loss/G", "loss/D", "loss/D_real", "loss/D_fake"} <= set(stats)
    assert 0 < stats["loss/D"] < 10 and 0 < stats["loss/G"] < 10
    changed = [k for k, v in trainer.G.state_dict().items() if not torch.equal(v, before[k])]
    assert any("synthesis" in k for k in changed) and "mapping.w_avg" in changed
    assert float(trainer.loss.pl_mean) > 0


def test_run_writes_snapshots_model_samples_and_metrics(tmp_path):
    run = train(tiny_config(tmp_path / "run", steps=3, snap_kimg=0.004, keep_snapshots=2))
    assert [p.name for p in list_snapshots(run)] == ["snapshot-step00000003.pt", "snapshot-step00000002.pt"]
    snap = _snapshot(run / "snapshot-step00000003.pt")
    assert snap["step"] == 3 and snap["nimg"] == 12 and snap["data_cursor"] == 12
    assert set(snap["rng"]["global"]) >= {"python", "numpy", "torch"}
    assert {p.name for p in (run / "samples").iterdir()} >= {"reals.png", "fakes-step00000003.png"}
    G = load_model(run / "model")
    meta = json.loads((run / "model" / "config.json").read_text())
    assert meta["weights_dtype"] == "float16" and meta["extra"]["step"] == 3 and meta["extra"]["data"]["world"] == "faces"
    for k, v in G.state_dict().items():
        torch.testing.assert_close(v, snap["G_ema"][k].half().float())
    assert [line["step"] for line in loss_lines(run)] == [1, 2, 3]
    assert json.loads((run / "train_config.json").read_text())["batch"] == 4


def test_resume_continues_exactly(tmp_path):
    straight = train(tiny_config(tmp_path / "straight", steps=6))
    train(tiny_config(tmp_path / "split", steps=3))
    split = train(tiny_config(tmp_path / "split", steps=6, resume=True))
    a, b = loss_lines(straight), loss_lines(split)
    assert [line["step"] for line in b] == [1, 2, 3, 4, 5, 6]
    assert a == b  # every loss, penalty and score, bit for bit
    sa, sb = _snapshot(straight / "snapshot-step00000006.pt"), _snapshot(split / "snapshot-step00000006.pt")
    for name in ("G", "D", "G_ema"):
        assert all(torch.equal(sa[name][k], sb[name][k]) for k in sa[name]), name


def test_corrupt_newest_snapshot_falls_back_to_the_previous_one(tmp_path):
    straight = train(tiny_config(tmp_path / "straight", steps=4))
    run = train(tiny_config(tmp_path / "run", steps=3, snap_kimg=0.004))
    newest = run / "snapshot-step00000003.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a half-written file
    with pytest.warns(SnapshotWarning, match="snapshot-step00000003.pt"):
        train(tiny_config(run, steps=4, snap_kimg=0.004, resume=True))
    assert loss_lines(run) == loss_lines(straight)


def test_all_snapshots_corrupt_is_an_error(tmp_path):
    run = train(tiny_config(tmp_path / "run", steps=1))
    for p in list_snapshots(run):
        p.write_bytes(b"not a snapshot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SnapshotWarning)
        with pytest.raises(SnapshotError, match="none of the 1 snapshots"):
            train(tiny_config(run, steps=2, resume=True))


def test_resume_without_snapshot_starts_fresh_and_a_new_run_never_overwrites(tmp_path, capsys):
    run = train(tiny_config(tmp_path / "run", steps=1, resume=True))
    assert "no snapshot in" in capsys.readouterr().err
    with pytest.raises(SnapshotError, match="pass --resume"):
        train(tiny_config(run, steps=2))
    with pytest.raises(ValueError, match="batch: snapshot 4, now 8"):
        train(tiny_config(run, steps=2, batch=8, resume=True))


def test_bad_data_and_batch_are_explained(tmp_path):
    with pytest.raises(ValueError, match="available worlds: faces, scenes"):
        Trainer(tiny_config(tmp_path, 1, data="facez"), Distributed())
    with pytest.raises(ValueError, match="not divisible by the number of processes \\(3\\)"):
        Trainer(tiny_config(tmp_path, 1), Distributed(rank=0, world_size=3))
    with pytest.raises(ValueError, match="minibatch-stddev group"):
        Trainer(tiny_config(tmp_path, 1, batch=6), Distributed())


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert cli_main(["--data", "nowhere", "--run-dir", str(tmp_path)]) == 2
    assert "available worlds" in capsys.readouterr().err
    assert cli_main(["--batch", "0"]) == 2
    assert "batch must be a positive integer" in capsys.readouterr().err


def test_lazy_regularisation_corrects_adam():
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = make_adam(p, 0.0025, 0.0, 0.99, reg_interval=16)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 16 / 17) and group["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    assert make_adam(p, 0.0025, 0.0, 0.99, None).param_groups[0]["lr"] == 0.0025


def test_adam_steps_bump_the_version_caches_are_keyed_by():
    """The fused kernel writes parameters without bumping ``_version``; make_adam's hook does, so the
    generator's frozen-weight caches (squared_weight_sums) never serve a stale weight."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = make_adam([p], 0.1, 0.0, 0.99, None)
    p.grad = torch.ones(3)
    before = p._version
    opt.step()
    assert p._version > before and not torch.equal(p.detach(), torch.ones(3))


def test_single_process_gradients_are_cleaned_in_place_and_missing_ones_zeroed():
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    frozen = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    a.grad = torch.tensor([float("nan"), float("inf"), -float("inf")])
    grad = a.grad
    Distributed().average_gradients([a, b, frozen])
    assert a.grad is grad and a.grad.tolist() == [0.0, 1e5, -1e5]
    assert torch.equal(b.grad, torch.zeros(2)) and frozen.grad is None


def test_ema_update_moves_each_parameter_by_the_half_life_rule(tmp_path):
    trainer = Trainer(tiny_config(tmp_path / "run", steps=1, ema_rampup=0.0, ema_kimg=0.004), Distributed())
    with torch.no_grad():
        for p in trainer.G.parameters():
            p.add_(1.0)
    old = [p.clone() for p in trainer.G_ema.parameters()]
    trainer._update_ema()
    beta = 0.5 ** (4 / 4)  # batch 4, half-life 4 images
    for e, o, p in zip(trainer.G_ema.parameters(), old, trainer.G.parameters()):
        torch.testing.assert_close(e, beta * o + (1 - beta) * p)
    assert torch.equal(trainer.G_ema.mapping.w_avg, trainer.G.mapping.w_avg)


def test_d_warmup_freezes_G_until_the_given_kimg(tmp_path):
    """With --d-warmup-kimg, the first steps train D alone (G, its EMA and regulariser state unchanged)."""
    cfg = tiny_config(tmp_path / "run", steps=3, d_warmup_kimg=0.008)  # 2 steps of batch 4
    trainer = Trainer(cfg, Distributed())
    g0 = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    d0 = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    stats = trainer.train_step()
    assert "loss/G" not in stats and "loss/D" in stats
    trainer.train_step()
    assert all(torch.equal(v, g0[k]) for k, v in trainer.G.state_dict().items())
    assert any(not torch.equal(v, d0[k]) for k, v in trainer.D.state_dict().items())
    assert "loss/G" in trainer.train_step()  # 8 images shown: G trains from here on
    assert any(not torch.equal(v, g0[k]) for k, v in trainer.G.state_dict().items())
    with pytest.raises(ValueError, match="d_warmup_kimg must be >= 0"):
        tiny_config(tmp_path / "bad", steps=1, d_warmup_kimg=-1)
