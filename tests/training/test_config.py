"""TrainConfig: validation, JSON round trip, command-line glue."""

from __future__ import annotations

import argparse
import json

import click
import pytest
from click.testing import CliRunner

from regiongan.training import TrainConfig, add_train_arguments, click_train_options, parse_channels


def test_defaults_validate_and_round_trip_through_json():
    cfg = TrainConfig(g_channels="4:64,8:32")
    assert cfg.g_channels == {4: 64, 8: 32}
    again = TrainConfig.from_dict(json.loads(cfg.to_json()))
    assert again == cfg


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch", 0, "batch must be a positive integer"),
        ("batch", -4, "batch must be a positive integer"),
        ("resolution", 48, "power of two"),
        ("resolution", 0, "power of two"),
        ("kimg", 0, "kimg must be > 0"),
        ("z_dim", -1, "z_dim must be a positive integer"),
        ("r1_gamma", -1.0, "r1_gamma must be >= 0"),
        ("style_mixing", 1.5, r"style_mixing must be in \[0, 1\]"),
        ("precision", "fp16", "precision must be one of fp32, bf16"),
        ("augment", "color,flip", "unknown op"),
        ("g_channels", "4:64,128:8", "above --resolution"),
    ],
)
def test_bad_values_are_explained(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_unknown_keys_and_bad_channel_specs_are_errors():
    with pytest.raises(ValueError, match="unknown training option.*'btach'"):
        TrainConfig.from_dict({"btach": 4})
    with pytest.raises(ValueError, match="resolution:channels"):
        parse_channels("4=64")
    with pytest.raises(ValueError, match="powers of two"):
        parse_channels("6:64")


def test_argparse_options_map_to_fields():
    parser = add_train_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--data", "scenes", "--batch", "8", "--g-channels", "4:64", "--resume", "--no-progress", "--kimg", "1.5"])
    cfg = TrainConfig.from_args(args)
    assert (cfg.data, cfg.batch, cfg.g_channels, cfg.resume, cfg.progress, cfg.kimg) == ("scenes", 8, {4: 64}, True, False, 1.5)
    assert cfg.resolution == TrainConfig().resolution  # unspecified options keep the dataclass default


def test_click_options_map_to_fields():
    seen = {}

    @click.command()
    @click_train_options
    def cmd(**kw):
        seen["cfg"] = TrainConfig.from_kwargs(**kw)

    result = CliRunner().invoke(cmd, ["--batch", "8", "--precision", "bf16", "--resume"])
    assert result.exit_code == 0, result.output
    assert (seen["cfg"].batch, seen["cfg"].precision, seen["cfg"].resume) == (8, "bf16", True)


def test_precision_auto_is_resolved_once_by_the_hardware():
    from regiongan.hardware import resolve_precision

    cfg = TrainConfig(precision="auto", device="cpu")
    assert cfg.precision == resolve_precision("auto", "cpu") and cfg.precision in ("fp32", "bf16")
    assert TrainConfig.from_dict(json.loads(cfg.to_json())).precision == cfg.precision  # the run records what it uses
