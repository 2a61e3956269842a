"""The model card reads its facts from the run's records."""

from __future__ import annotations

import json

from regiongan.training.ship import _last_metrics


def test_card_timings_come_from_the_last_step_not_a_snapshot_event(tmp_path):
    lines = [
        {"step": 10, "kimg": 0.16, "wall_s": 30.0},
        {"step": 20, "kimg": 0.32, "wall_s": 61.5},
        {"step": 20, "kimg": 0.32, "event": "snapshot", "file": "snapshot-step00000020.pt"},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(d) + "\n" for d in lines))
    assert _last_metrics(tmp_path)["wall_s"] == 61.5
    assert _last_metrics(tmp_path / "missing") == {}


def test_a_reship_keeps_the_parser_companion_but_not_the_stale_catalog(tmp_path):
    import json

    from regiongan.training.ship import _carry_companions

    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"companions": {"parser": "parser-faces-64", "catalog": "catalog-faces-64"}}))
    new.write_text(json.dumps({"format": "regiongan", "config": {}}))
    _carry_companions(new, old)
    assert json.loads(new.read_text())["companions"] == {"parser": "parser-faces-64"}
    _carry_companions(new, tmp_path / "absent.json")  # a first ship: nothing to carry
    assert json.loads(new.read_text())["companions"] == {"parser": "parser-faces-64"}


def test_shipping_a_biggan_run_writes_a_card_in_the_family_s_words(tmp_path, one_thread):
    """The card names the family, its classes and its config; samples have one column per class."""
    from PIL import Image

    from regiongan.checkpoints import load_model
    from regiongan.training import train
    from regiongan.training.ship import ship

    from .conftest import tiny_biggan_config

    run = tmp_path / "run"
    train(tiny_biggan_config(run, steps=2))
    models = tmp_path / "models"
    dest = ship(run, "scenes-test", fd_count=4, grid=10, models_dir=models)
    assert dest == models / "scenes-test"
    card = (dest / "README.md").read_text()
    assert "class-conditional BigGAN-deep" in card and "StyleGAN2" not in card
    assert "alpine, desert, coast, meadow, city" in card and "channel width 8" in card
    assert "class = seed mod 5" in card
    G = load_model(dest)
    assert G.model_type == "biggan-deep" and G.c_dim == 5
    with Image.open(dest / "samples.png") as im:  # 5 columns × 2 rows of 16² at scale 2
        assert im.width > im.height


def test_shipping_a_label_map_model_draws_label_maps_and_points_to_its_benchmark(tmp_path, one_thread):
    from regiongan.checkpoints import load_model
    from regiongan.training import train
    from regiongan.training.ship import ship

    from .conftest import tiny_spade_config

    run = tmp_path / "run"
    train(tiny_spade_config(run, steps=1))
    dest = ship(run, "spade-test", fd_count=4, grid=2, models_dir=tmp_path / "models")
    card = (dest / "README.md").read_text()
    assert "label map, generated image, real image" in card and "benchmarks/spade.py --eval" in card
    assert "None" not in card.split("```bash")[1].split("```")[0]  # options of other families are left out
    assert load_model(dest).model_type == "spade" and (dest / "samples.png").is_file()


def test_the_card_command_parses_back_to_the_same_config():
    """Every option the card spells out is accepted by `regiongan train` and means the same: on/off flags as
    flags, family options that take true/false with their value (``--use-vae true``, not a bare flag)."""
    import shlex

    from click.testing import CliRunner

    from regiongan.cli.train import train as train_cli
    from regiongan.training import TrainConfig
    from regiongan.training.ship import training_command

    seen = {}

    def capture(cfg):
        seen["cfg"] = cfg
        return "unused"

    import regiongan.cli.train as cli_train

    for cfg in (
        TrainConfig(family="spade", data="scenes", use_vae=False, run_dir="runs/x", resume=True),
        TrainConfig(family="ssn", encoder_global=True, gate_lr_multiplier=20.0, distortion_ramp_kimg=15.0, run_dir="runs/y"),
    ):
        args = shlex.split(training_command(cfg))[3:]  # after "python -m regiongan.training"
        original, cli_train.train_run = cli_train.train_run, capture
        try:
            result = CliRunner().invoke(train_cli, args)
        finally:
            cli_train.train_run = original
        assert result.exit_code == 0, result.output
        assert seen["cfg"] == cfg
