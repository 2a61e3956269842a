"""The model budget: a declared architecture is validated field by field and its size computed from the
config alone, then checked against ``model_parameters`` / ``model_activation_pixels`` before anything is
allocated. The estimate is exact (state-dict elements: parameters and buffers); real models fit the
defaults; a config declaring ``img_resolution`` 2^30 or ``mapping_layers`` 10^7 fails in milliseconds,
whichever format declares it."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest
import torch

from regiongan.checkpoints import CheckpointError, load_model, save_pretrained
from regiongan.checkpoints.nvidia import config_from_nvidia_kwargs
from regiongan.generators import BigGANDeep, StyleGAN2, build_model
from regiongan.generators.biggan import PACKAGE_DEFAULTS
from regiongan.generators.registry import check_config
from regiongan.limits import LIMITS, LimitError
from regiongan.parser.checkpoint import parser_config_cost
from regiongan.parser.model import PartParser

from ..checkpoints import nvidia_pickle_factory as factory
from ..conftest import tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")

#: stylegan2-ada-pytorch's FFHQ 1024² config-f generator (train.py --cfg=stylegan2): NVIDIA reports
#: 30,370,060 parameters; its buffers (noise_const, FIR filters, w_avg) hold 2,797,104 more.
FFHQ_1024 = dict(z_dim=512, w_dim=512, img_resolution=1024, mapping_layers=8, channel_base=32768, channel_max=512,
                 conv_clamp=256.0)  # fmt: skip
#: pytorch-pretrained-biggan's biggan-deep-512 config.json: 56,163,905 parameters (the published 56 M) and
#: 2,744,960 buffers (51 rows of BN statistics per truncation, spectral-norm vectors).
BIGGAN_DEEP_512 = dict(
    PACKAGE_DEFAULTS, output_dim=512,
    layers=[[False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 8],
            [False, 8, 8], [True, 8, 4], [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1], [False, 1, 1],
            [True, 1, 1]],
)  # fmt: skip

#: A budget failure must come this fast (seconds) and allocate less than this (bytes of peak RSS growth):
#: coarse guards against building the model, not benchmarks.
FAST, SMALL = 1.0, 200 << 20


def _state_elements(model: torch.nn.Module) -> int:
    return sum(t.numel() for t in model.state_dict().values())


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _fails_fast(call, error: type[BaseException], match: str, folder: Path | None = None) -> str:
    """``call()`` raises ``error`` matching ``match`` in one line, within FAST seconds, growing the peak
    memory by less than SMALL, and leaves ``folder`` (the test's files) as it was."""
    files_before = _files(folder) if folder is not None else None
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    with pytest.raises(error, match=match) as caught:
        call()
    seconds = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert seconds < FAST, f"took {seconds:.2f} s"
    assert grown < SMALL, f"peak memory grew by {grown >> 20} MB"
    text = str(caught.value)
    assert "\n" not in text, text
    if folder is not None:
        assert _files(folder) == files_before
    return text


# ---------------------------------------------------------------------------------------------------------
# The estimate is exact.


@pytest.mark.parametrize(
    "config",
    [
        dict(z_dim=16, w_dim=16, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32),
        dict(z_dim=16, c_dim=3, w_dim=8, img_resolution=64, mapping_layers=3, channel_base=512, channel_max=32,
             architecture="resnet", mapping_embed_features=5, mapping_layer_features=7, resample_filter=[1, 2, 1]),
        dict(z_dim=0, c_dim=3, w_dim=8, img_resolution=16, mapping_layers=1, architecture="orig",
             channels={"4": 5, "8": 6, "16": 7}, img_channels=1),
        dict(z_dim=512, w_dim=512, img_resolution=256, channel_base=16384, channel_max=512),  # FFHQ-256 (ada)
    ],
    ids=["tiny", "resnet-conditional", "orig-channels", "ffhq-256"],
)
def test_stylegan2_estimate_is_the_exact_state_dict_size(config):
    assert StyleGAN2.config_cost(config).parameters == _state_elements(StyleGAN2(**config))


@pytest.mark.parametrize(
    "change",
    [dict(channel_width=4, num_classes=3, z_dim=8), dict(channel_width=8, num_classes=0, attention_layer_position=3,
                                                         n_stats=5, z_dim=4)],
    ids=["conditional", "unconditional"],
)
def test_biggan_estimate_is_the_exact_state_dict_size(change):
    config = {**PACKAGE_DEFAULTS, **change}
    assert BigGANDeep.config_cost(config).parameters == _state_elements(BigGANDeep(**config))


@pytest.mark.parametrize(
    "config",
    [dict(part_names=["bg", "a", "b"]), dict(part_names=["a", "b"], attribute_names=["x"], channels=[3, 5, 7])],
)
def test_parser_estimate_is_the_exact_state_dict_size(config):
    assert parser_config_cost(config).parameters == _state_elements(PartParser(**config))


def test_real_models_fit_the_default_budget():
    ffhq = check_config("stylegan2", FFHQ_1024)
    assert ffhq is not None and ffhq.parameters == 30_370_060 + 2_797_104
    assert ffhq.activations == 32 * 1027**2  # 32 channels at 1024², padded by the ×2 transposed convolution
    biggan = check_config("biggan-deep", BIGGAN_DEEP_512)
    assert biggan is not None and biggan.parameters == 56_163_905 + 2_744_960
    for cost in (ffhq, biggan):
        assert cost.parameters < LIMITS["model_parameters"].default / 10
        assert cost.activations < LIMITS["model_activation_pixels"].default / 10


# ---------------------------------------------------------------------------------------------------------
# Declared sizes fail in milliseconds, in every format.

HUGE = [
    (dict(img_resolution=2**30), "declares img_resolution 1073741824"),
    (dict(mapping_layers=10**7), "mapping_layers 10000000"),
]


@pytest.mark.parametrize("change, match", HUGE, ids=["resolution", "mapping"])
def test_build_model_refuses_a_huge_config_without_allocating(change, match):
    message = _fails_fast(lambda: build_model("stylegan2", change), LimitError, match)
    assert "REGIONGAN_MAX_MODEL_PARAMETERS=" in message and "regiongan --limit model_parameters=" in message


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory) -> Path:
    return save_pretrained(tiny_stylegan2(), tmp_path_factory.mktemp("native") / "m")


@pytest.mark.parametrize("change, match", HUGE, ids=["resolution", "mapping"])
def test_native_config_json(tmp_path, native_dir, change, match):
    d = tmp_path / "m"
    d.mkdir()
    meta = json.loads((native_dir / "config.json").read_text())
    meta["config"].update(change)
    (d / "config.json").write_text(json.dumps(meta))
    (d / "model.safetensors").write_bytes((native_dir / "model.safetensors").read_bytes())
    message = _fails_fast(lambda: load_model(d), LimitError, match, folder=tmp_path)
    assert message.startswith(str(d / "config.json"))


NVIDIA_HUGE = [
    (dict(img_resolution=2**30), "declares img_resolution 1073741824"),
    (dict(z_dim=512, w_dim=512, mapping_kwargs=dict(num_layers=10**7)), "mapping_layers 10000000"),
]


@pytest.mark.parametrize("change, match", NVIDIA_HUGE, ids=["resolution", "mapping"])
def test_nvidia_pickle(tmp_path, change, match):
    init_kwargs, state = factory.small_generator_state_dict()
    p = tmp_path / "network-snapshot.pkl"
    factory.write_official_style_pickle(p, {**init_kwargs, **change}, state, include=("training_set_kwargs", "G_ema"))
    message = _fails_fast(lambda: load_model(p), LimitError, match, folder=tmp_path)
    assert message.startswith(str(p))


@pytest.mark.parametrize("change, match", NVIDIA_HUGE, ids=["resolution", "mapping"])
def test_nvidia_state_pt(tmp_path, change, match):
    init_kwargs, state = factory.small_generator_state_dict()
    p = tmp_path / "G_ema.pt"
    torch.save({"init_kwargs": json.dumps({**init_kwargs, **change}), "state_dict": state}, p)
    message = _fails_fast(lambda: load_model(p), LimitError, match, folder=tmp_path)
    assert message.startswith(str(p))


def test_rosinality_pt_declaring_2_to_the_30(tmp_path):
    """A 20 KB file: 28 pairs of 1-channel upsampling convs say size = 4 · 2^28 = 2^30."""
    g = {"input.input": torch.zeros(1, 1, 4, 4), "conv1.conv.weight": torch.zeros(1, 1, 1, 3, 3),
         "style.1.weight": torch.zeros(8, 8), "style.1.bias": torch.zeros(8)}  # fmt: skip
    for i in range(56):
        g[f"convs.{i}.conv.weight"] = torch.zeros(1, 1, 1, 3, 3)
    p = tmp_path / "550000.pt"
    torch.save({"g_ema": g}, p)
    assert p.stat().st_size < 100_000
    message = _fails_fast(lambda: load_model(p), LimitError, "declares img_resolution 1073741824", folder=tmp_path)
    assert message.startswith(str(p))


@pytest.mark.parametrize(
    "change, match",
    [(dict(n_stats=10**9), "n_stats 1000000000"), (dict(channel_width=10**5), "channel_width 100000")],
    ids=["statistics", "width"],
)
def test_biggan_config_json(tmp_path, change, match):
    d = tmp_path / "biggan"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({**PACKAGE_DEFAULTS, **change}))
    torch.save({"embeddings.weight": torch.zeros(1)}, d / "pytorch_model.bin")
    message = _fails_fast(lambda: load_model(d), LimitError, match, folder=tmp_path)
    assert message.startswith(str(d / "config.json"))


def test_a_small_file_never_builds_a_large_model(tmp_path, native_dir):
    """Within the budget (786 M numbers) but declared by a file holding 63 k: refused before building."""
    d = tmp_path / "m"
    d.mkdir()
    meta = json.loads((native_dir / "config.json").read_text())
    meta["config"].update(mapping_layers=3000, w_dim=512, z_dim=512, mapping_layer_features=512)
    (d / "config.json").write_text(json.dumps(meta))
    (d / "model.safetensors").write_bytes((native_dir / "model.safetensors").read_bytes())
    _fails_fast(lambda: load_model(d), CheckpointError, r"the weights hold 62,931 numbers but the config declares", folder=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Raising the limits.


def test_the_hint_in_the_message_raises_the_limit(native_dir, monkeypatch):
    monkeypatch.setenv("REGIONGAN_MAX_MODEL_PARAMETERS", "1000")
    message = _fails_fast(lambda: load_model(native_dir), LimitError, r"62,931 parameters and buffers, above the limit of 1,000", folder=native_dir)
    assert "REGIONGAN_MAX_MODEL_PARAMETERS=62931" in message
    monkeypatch.setenv("REGIONGAN_MAX_MODEL_PARAMETERS", "62931")
    assert load_model(native_dir).img_resolution == 32


def test_the_activation_limit(monkeypatch):
    monkeypatch.setenv("REGIONGAN_MAX_MODEL_ACTIVATION_PIXELS", "10000")
    config = dict(z_dim=16, w_dim=16, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32)
    _fails_fast(lambda: build_model("stylegan2", config), LimitError, "activation elements per image")


# ---------------------------------------------------------------------------------------------------------
# Field types and ranges: one line each, before anything is computed.


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(img_resolution=100), r"img_resolution must be a power of two in 4 … 2\^64, got 100"),
        (dict(img_resolution=1024.0), "img_resolution must be a power of two .* got 1024.0"),
        (dict(img_resolution="1024"), "img_resolution must be a power of two .* got '1024'"),
        (dict(img_resolution=2**70), "img_resolution must be a power of two"),
        (dict(z_dim=True), "z_dim must be an int >= 0, got True"),
        (dict(mapping_layers=0), "mapping_layers must be an int >= 1, got 0"),
        (dict(z_dim=0, c_dim=0), "z_dim and c_dim are both 0"),
        (dict(mapping_lr_multiplier=float("inf")), r"mapping_lr_multiplier must be a finite number in \(0, 1e\+06\], got inf"),
        (dict(w_avg_beta=float("nan")), r"w_avg_beta must be a finite number in \[0, 1\], got nan"),
        (dict(conv_clamp=-1), r"conv_clamp \(or null\) must be a finite number > 0"),
        (dict(resample_filter=[]), "resample_filter must be a list of 1-32 numbers"),
        (dict(resample_filter=[1, -1]), "resample_filter taps sum to 0"),
        (dict(resample_filter=[1, "3"]), r"each resample_filter tap must be a finite number in \[-1e\+06, 1e\+06\], got '3'"),
        (dict(resample_filter=[1e200, 1e200]), "each resample_filter tap must be a finite number in"),
        (dict(channels={"3": 8}), "channels keys must be block resolutions 4 … 256, got '3'"),
        (dict(channels={"8": 0}), r"channels\[8\] must be an int >= 1, got 0"),
        (dict(channels=[512]), "channels must map resolutions to widths"),
        (dict(architecture="stylegan3"), "architecture must be one of"),
        (dict(truncation=0.7), r"unknown field\(s\) \['truncation'\]"),
        (dict(img_resolution=2048, channel_base=1024), "channel_base 1024 gives 0 channels at resolution 2048"),
    ],
)
def test_stylegan2_fields(change, match):
    with pytest.raises(ValueError, match=match) as caught:
        build_model("stylegan2", change)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("stylegan2 config: ")


@pytest.mark.parametrize(
    "change, match",
    [(dict(eps=float("nan")), "eps must be a finite number > 0"), (dict(layers="deep"), "layers must be a non-empty list"),
     (dict(num_classes=-1), "num_classes must be an int >= 0"), (dict(depth=3), r"unknown field\(s\) \['depth'\]")],
    ids=["eps-nan", "layers-string", "classes", "unknown"],
)
def test_biggan_fields(change, match):
    with pytest.raises(ValueError, match=match) as caught:
        build_model("biggan-deep", {**PACKAGE_DEFAULTS, **change})
    assert "\n" not in str(caught.value)


def test_a_bad_field_in_config_json_names_the_file(tmp_path, native_dir):
    d = tmp_path / "m"
    d.mkdir()
    meta = json.loads((native_dir / "config.json").read_text())
    meta["config"]["w_avg_beta"] = "0.995"
    (d / "config.json").write_text(json.dumps(meta))
    (d / "model.safetensors").write_bytes((native_dir / "model.safetensors").read_bytes())
    message = _fails_fast(lambda: load_model(d), CheckpointError, "w_avg_beta must be a finite number", folder=tmp_path)
    assert message.startswith(f"{d / 'config.json'}: stylegan2 config: ")


def test_the_nvidia_converter_keeps_numbers_as_before():
    """Validation is strict but the converted config is unchanged (floats where NVIDIA's code uses floats)."""
    init_kwargs, _ = factory.small_generator_state_dict()
    config = config_from_nvidia_kwargs(init_kwargs)
    assert config["resample_filter"] == [1.0, 3.0, 3.0, 1.0] and config["conv_clamp"] is None
    assert isinstance(config["mapping_lr_multiplier"], float) and config["mapping_layers"] == 2
