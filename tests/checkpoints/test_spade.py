"""NVlabs/SPADE checkpoints: conformance with the official outputs (generator image, encoder mu/logvar),
opt.txt parsing and presets, spectral-norm ``weight_v`` reconstruction, conversion to our format, and
one-line errors for bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import regiongan as rg
from regiongan.checkpoints import CheckpointError, UnsafeCheckpointError, detect_format, load_model
from regiongan.checkpoints.spade import (
    PRESETS, _fill_spectral_v, config_from_opt, load_nvlabs_spade, read_opt_txt,
)  # fmt: skip
from regiongan.generators.spade import SPADEModel, check_spade_config

from ..cli.conftest import invoke
from ..conftest import fixture_path

pytestmark = pytest.mark.usefixtures("one_thread")

#: NVlabs' defaults for the options the fixtures record (so opt.txt gets its "[default: …]" notes).
_DEFAULTS = {"ngf": 64, "label_nc": 182, "crop_size": 256, "z_dim": 256, "norm_G": "spectralinstance"}


def write_opt_txt(path: Path, opt: dict) -> Path:
    """opt.txt as NVlabs' ``print_options`` writes it: a banner, ``{k:>25}: {v:<30}`` and a default note."""
    lines = ["----------------- Options ---------------"]
    for k, v in sorted(opt.items()):
        note = f"\t[default: {_DEFAULTS[k]}]" if k in _DEFAULTS and _DEFAULTS[k] != v else ""
        lines.append(f"{k:>25}: {str(v):<30}{note}")
    lines.append("----------------- End -------------------")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_checkpoint(directory: Path, fixture: dict, opt: bool = True, encoder: bool = True) -> Path:
    """NVlabs' ``checkpoints/<name>/`` layout: latest_net_G.pth (+ latest_net_E.pth) + opt.txt."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(fixture["state_dict_G"], directory / "latest_net_G.pth")
    if encoder and fixture["state_dict_E"] is not None:
        torch.save(fixture["state_dict_E"], directory / "latest_net_E.pth")
    if opt:
        write_opt_txt(directory / "opt.txt", json.loads(fixture["opt"]))
    return directory


@pytest.fixture(scope="module")
def seg64():
    return torch.load(fixture_path("spade_nvlabs_seg64.pt"), weights_only=True)


@pytest.fixture(scope="module")
def vae256():
    return torch.load(fixture_path("spade_nvlabs_vae256.pt"), weights_only=True)


@pytest.fixture(scope="module")
def seg64_dir(seg64, tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("nvlabs") / "seg64", seg64)


def test_seg64_reproduces_the_official_generator(seg64, seg64_dir):
    """use_vae False, 'more', spectralspadebatch3x3 (eval: running statistics): the image to 1e-4."""
    assert detect_format(seg64_dir) == "nvlabs-spade" == detect_format(seg64_dir / "latest_net_G.pth")
    G = load_model(seg64_dir)
    assert isinstance(G, SPADEModel) and not G.training and G.encoder is None
    assert (G.label_nc, G.img_resolution, G.img_width, G.z_dim) == (6, 64, 64, 0)
    img = G.synthesize_labels(seg64["segmap"])
    err = float((img - seg64["img"]).abs().max())
    print("spade_nvlabs_seg64 max abs error:", err)
    assert err < 1e-4
    torch.testing.assert_close(G.synthesize_labels(seg64["segmap"].argmax(1)), img)  # class ids = one-hot


def test_vae256_reproduces_the_official_generator_and_encoder(vae256, tmp_path):
    """use_vae True with ConvEncoder, 'normal', spectralspadesyncbatch3x3: G(segmap, z) and E(real)."""
    G = load_model(write_checkpoint(tmp_path / "vae256", vae256))
    assert G.use_vae and G.encoder is not None and G.z_dim == 256
    n = 2  # two of the three images keep this test short; eval mode makes every image independent
    img = G.synthesize_labels(vae256["segmap"][:n], z=vae256["z"][:n])
    mu, logvar = G.encode(vae256["encoder"]["real"][:n])
    errors = {
        "img": float((img - vae256["img"][:n]).abs().max()),
        "mu": float((mu - vae256["encoder"]["mu"][:n]).abs().max()),
        "logvar": float((logvar - vae256["encoder"]["logvar"][:n]).abs().max()),
    }
    print("spade_nvlabs_vae256 max abs errors:", errors)
    assert max(errors.values()) < 1e-4


def test_a_vae_generator_without_its_encoder_file_loads_without_encoder(vae256, tmp_path):
    G = load_model(write_checkpoint(tmp_path / "g-only", vae256, encoder=False))
    assert G.use_vae and G.encoder is None and G.config["with_encoder"] is False
    with pytest.raises(ValueError, match="no style encoder"):
        G.encode(vae256["encoder"]["real"][:1])


def test_convert_writes_our_format_with_the_same_outputs(seg64, seg64_dir, tmp_path):
    result = invoke("convert", seg64_dir, tmp_path / "ours")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert meta["model_type"] == "spade" and meta["config"]["label_nc"] == 6
    G = rg.load_model(tmp_path / "ours")
    torch.testing.assert_close(G.synthesize_labels(seg64["segmap"][:1]), seg64["img"][:1], atol=1e-4, rtol=0)


def test_opt_txt_parsing_keeps_values_and_drops_default_notes(tmp_path):
    opt = write_opt_txt(tmp_path / "opt.txt", {"ngf": 16, "name": "coco_pretrained", "norm_G": "spectralspadesyncbatch3x3"})
    parsed = read_opt_txt(opt)
    assert parsed == {"ngf": "16", "name": "coco_pretrained", "norm_G": "spectralspadesyncbatch3x3"}


@pytest.mark.parametrize(
    "preset, semantic_nc, size, num_up",
    [("coco", 184, (256, 256), 5), ("ade20k", 151, (256, 256), 5), ("cityscapes", 36, (256, 512), 6)],
)
def test_presets_describe_the_released_models(preset, semantic_nc, size, num_up):
    config = config_from_opt(PRESETS[preset], f"preset {preset}")
    assert config["label_nc"] == semantic_nc and config["instance_edge"] == (preset != "ade20k")
    geo = check_spade_config(**config)
    assert (geo.height, geo.width, geo.num_up) == (*size, num_up)
    assert SPADEModel.config_cost(config).parameters > 90_000_000  # ~97 M parameters at ngf 64


def test_a_preset_without_opt_txt_and_opt_txt_overriding_it(seg64, tmp_path):
    directory = write_checkpoint(tmp_path / "bare", seg64, opt=False)
    with pytest.raises(CheckpointError, match="NVlabs SPADE generator without opt.txt .*preset") as err:
        load_model(directory / "latest_net_G.pth")
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="no opt.txt beside it; give opt_txt= or preset="):
        load_nvlabs_spade(directory)
    with pytest.raises(CheckpointError, match="take 6 semantic channels but the options give 151"):
        load_nvlabs_spade(directory, preset="ade20k")
    with pytest.raises(CheckpointError, match="unknown SPADE preset 'imagenet'"):
        load_nvlabs_spade(directory, preset="imagenet")
    partial = {k: v for k, v in json.loads(seg64["opt"]).items() if k not in ("z_dim", "norm_E", "use_vae")}
    opt = write_opt_txt(tmp_path / "partial.txt", partial)  # the preset fills the three missing options
    G = load_nvlabs_spade(directory, opt_txt=opt, preset="ade20k")
    torch.testing.assert_close(G.synthesize_labels(seg64["segmap"][:1]), seg64["img"][:1], atol=1e-4, rtol=0)


def test_bad_opt_txt_values_are_one_line_errors(seg64, tmp_path):
    opt = json.loads(seg64["opt"])
    cases = [
        ({**opt, "use_vae": "maybe"}, "option use_vae must be bool, got 'maybe'"),
        ({k: v for k, v in opt.items() if k != "ngf"}, "the options lack \\['ngf'\\]"),
        ({**opt, "num_upsampling_layers": "lots"}, "num_upsampling_layers must be 'normal', 'more' or 'most'"),
        ({**opt, "ngf": 4}, "the weights do not match"),
        ({**opt, "use_vae": True}, "a generator with no VAE \\(conv fc\\) but the options say use_vae True"),
    ]
    for i, (bad, match) in enumerate(cases):
        directory = write_checkpoint(tmp_path / f"bad{i}", seg64, opt=False)
        write_opt_txt(directory / "opt.txt", bad)
        with pytest.raises(CheckpointError, match=match):
            load_model(directory)


class _NotATensor:
    pass


def test_a_pickled_object_in_the_weights_is_refused(seg64, tmp_path):
    directory = write_checkpoint(tmp_path / "unsafe", seg64)
    torch.save({"fc.weight": _NotATensor()}, directory / "latest_net_G.pth")
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_model(directory)


def test_missing_weight_v_is_rebuilt():
    """Without ``weight_v``: from the stored normalised ``weight`` (torch < 1.0) σ is reproduced exactly,
    as torch's upgrade hook does; without it ``v = normalize(Wᵀu)``, so with the converged u, σ is the
    largest singular value."""
    torch.manual_seed(0)
    w = torch.randn(6, 4, 3, 3)
    mat = w.flatten(1)
    u = torch.nn.functional.normalize(torch.randn(6), dim=0)
    v = torch.nn.functional.normalize(torch.randn(36), dim=0)
    sigma = torch.dot(u, mat @ v)
    state = {"c.weight_orig": w, "c.weight_u": u, "c.weight": w / sigma}
    out = _fill_spectral_v(dict(state), "test")
    assert "c.weight" not in out and out["c.weight_v"].shape == (36,)
    torch.testing.assert_close(torch.dot(u, mat @ out["c.weight_v"]), sigma, atol=1e-5, rtol=1e-5)
    top_u = torch.linalg.svd(mat).U[:, 0]
    out = _fill_spectral_v({"c.weight_orig": w, "c.weight_u": top_u}, "test")
    v = out["c.weight_v"]
    assert float(v.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(torch.dot(top_u, mat @ v)) == pytest.approx(float(torch.linalg.matrix_norm(mat, 2)), rel=1e-4)


def test_a_checkpoint_without_weight_v_loads(seg64, tmp_path):
    state = {k: v for k, v in seg64["state_dict_G"].items() if not k.endswith("weight_v")}
    directory = write_checkpoint(tmp_path / "old", {**seg64, "state_dict_G": state})
    G = load_model(directory)
    assert G.get_buffer("up_0.conv_s.weight_v").shape == (128,)
    assert G.synthesize_labels(seg64["segmap"][:1]).shape == (1, 3, 64, 64)


def test_the_fixture_layout_loads_through_detection(seg64, tmp_path):
    """``{'opt', 'state_dict_G', 'state_dict_E'}`` dumps (the fixtures themselves) load with load_model."""
    path = fixture_path("spade_nvlabs_seg64.pt")
    assert detect_format(path) == "nvlabs-spade"
    G = load_model(path)
    torch.testing.assert_close(G.synthesize_labels(seg64["segmap"][:1]), seg64["img"][:1], atol=1e-4, rtol=0)
    bad = {**seg64, "opt": json.dumps({**json.loads(seg64["opt"]), "semantic_nc": 7})}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="semantic_nc is 7 but label_nc \\+ contain_dontcare_label \\+ instance edge = 6"):
        load_model(tmp_path / "bad.pt")
    bad = {**seg64, "opt": json.dumps({**json.loads(seg64["opt"]), "ngf": 8.0})}
    torch.save(bad, tmp_path / "bad2.pt")
    with pytest.raises(CheckpointError, match="option ngf must be int, got 8.0"):
        load_model(tmp_path / "bad2.pt")
