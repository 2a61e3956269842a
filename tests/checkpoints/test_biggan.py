"""pytorch-pretrained-biggan checkpoints: conformance with the official outputs, format detection, the
round trip to our format, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import regiongan as rg
from regiongan.checkpoints import CheckpointError, UnsafeCheckpointError, detect_format, load_model, save_pretrained
from regiongan.generators.biggan import BigGANDeep

from ..conftest import fixture_path
from ..generators.test_biggan import reference_forward, tiny_biggan

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fixture():
    return torch.load(fixture_path("biggan_hf_deep32.pt"), weights_only=True)


def _write_package_dir(directory: Path, config: dict | str, state: dict) -> Path:
    """The package's layout: ``pytorch_model.bin`` (torch.save of the state dict) + ``config.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / "pytorch_model.bin")
    (directory / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return directory


@pytest.fixture(scope="module")
def package_dir(fixture, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("biggan") / "biggan-deep-32"
    return _write_package_dir(directory, fixture["config"], fixture["state_dict"])


@pytest.fixture(scope="module")
def G(package_dir):
    return load_model(package_dir)


def test_the_official_outputs_are_reproduced_for_every_case(fixture, G):
    """Every case of the fixture (truncation 1.0, 0.4, 0.37 with interpolated statistics, a mixed class
    vector at 0.5): ``synthesize(styles(map(z / ψ, c, ψ)))`` is the package's ``forward(z, c, ψ)``."""
    assert isinstance(G, BigGANDeep) and G.config == {**json.loads(fixture["config"]), "eps": 1e-4}
    z = fixture["z"]
    errors = {}
    for case in fixture["cases"]:
        psi, c, expected = case["truncation"], case["class_vector"], case["img"]
        img = G.synthesize(G.styles(G.map(z / psi, c, psi))).image
        errors[psi] = float((img - expected).abs().max())
        torch.testing.assert_close(G(z, c, psi), expected, atol=1e-4, rtol=0)
    print("biggan_hf_deep32 max abs error per truncation:", errors)
    assert max(errors.values()) < 1e-4 and len(errors) == 4


def test_the_test_reference_reproduces_the_fixture_too(fixture):
    """The reference used at other sizes (tests/generators/test_biggan.py) is itself checked here."""
    cfg = json.loads(fixture["config"])
    sd = {k: v.float() for k, v in fixture["state_dict"].items()}
    for case in fixture["cases"]:
        img = reference_forward(sd, cfg, fixture["z"], case["class_vector"], case["truncation"])
        torch.testing.assert_close(img, case["img"], atol=1e-4, rtol=0)


def test_a_weights_file_next_to_config_json_loads_the_same(package_dir, G, fixture):
    assert detect_format(package_dir) == "pytorch-pretrained-biggan"
    assert detect_format(package_dir / "pytorch_model.bin") == "pytorch-pretrained-biggan"
    again = load_model(package_dir / "pytorch_model.bin")
    z, c = fixture["z"], fixture["cases"][0]["class_vector"]
    assert torch.equal(again(z, c, 1.0), G(z, c, 1.0))
    assert G.model_name == str(package_dir) and G.companions == {}


def test_convert_round_trip_through_our_format(G, fixture, tmp_path):
    """What ``regiongan convert`` does: load_model, then save_pretrained; the copy is ours and identical."""
    saved = save_pretrained(G, tmp_path / "ours")
    assert detect_format(saved) == "regiongan"
    assert json.loads((saved / "config.json").read_text())["model_type"] == "biggan-deep"
    ours = rg.load_model(saved)
    z, c = fixture["z"], fixture["cases"][3]["class_vector"]
    assert torch.equal(ours(z, c, 0.37), G(z, c, 0.37))


def test_missing_fields_take_the_package_defaults_and_unknown_ones_are_ignored(tmp_path):
    G = tiny_biggan()
    cfg = {k: v for k, v in G.config.items() if k not in ("eps", "n_stats")}
    cfg["transformers_version"] = "x"
    loaded = load_model(_write_package_dir(tmp_path / "m", cfg, G.state_dict()))
    assert loaded.config == G.config


# ------------------------------------------------------------------------------------------------------
# Bad files


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(z_dim="8"), r"config\.json: biggan-deep config: z_dim must be an int >= 1, got '8'"),
        (dict(layers=[[True, 16, 8], [True, 8]]), r"layers\[1\] must be \[upsample"),
        (dict(eps=-1), "eps must be a finite number > 0"),
        (dict(output_dim=128), "output_dim is 128 but the layers upsample 4 to 32"),
        (dict(attention_layer_position=1.5), "attention_layer_position must be an int"),
    ],
)
def test_bad_config_fields_are_one_line_errors(tmp_path, change, match):
    G = tiny_biggan()
    d = _write_package_dir(tmp_path / "m", {**G.config, **change}, G.state_dict())
    with pytest.raises(CheckpointError, match=match) as e:
        load_model(d)
    assert "\n" not in str(e.value)


def test_a_config_whose_layers_do_not_match_the_weights_is_refused(tmp_path):
    G = tiny_biggan()
    more = {**G.config, "layers": [[True, 16, 8], [True, 8, 4], [True, 4, 2], [False, 2, 2], [False, 2, 1]]}
    wider = {**G.config, "channel_width": 8}
    other_z = {**G.config, "z_dim": 6}
    cases = [
        (more, r"describes 6 generator layers \(5 blocks \+ attention\) but the weights hold 5; was the weights"),
        (wider, r"block 0 \(generator\.layers\.0\) takes 64 channels in the weights but 128 = channel_width 8 × 16"),
    ]
    for i, (config, match) in enumerate(cases):
        with pytest.raises(CheckpointError, match=match) as e:
            load_model(_write_package_dir(tmp_path / str(i), config, G.state_dict()))
        assert "\n" not in str(e.value)
    # anything else goes through the strict state-dict comparison, which lists what differs
    match = r"pytorch_model\.bin: the weights do not match the architecture.*\n  shape mismatch"
    with pytest.raises(CheckpointError, match=match):
        load_model(_write_package_dir(tmp_path / "z", other_z, G.state_dict()))


def test_missing_weights_and_foreign_files_are_refused(tmp_path):
    G = tiny_biggan()
    d = _write_package_dir(tmp_path / "m", G.config, G.state_dict())
    (d / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="pytorch_model.bin is missing next to config.json"):
        load_model(d)
    torch.save({"g_ema": 1}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"not a plain state dict: \['g_ema'\] are not tensors"):
        load_model(d)
    torch.save({"generator.gen_z.bias": torch.zeros(3)}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="not a pytorch-pretrained-biggan state dict"):
        load_model(d)


class _Payload:
    """Pickled by reference: ``weights_only=True`` refuses to import it."""


def test_a_weights_file_asking_for_code_is_refused(tmp_path):
    G = tiny_biggan()
    d = _write_package_dir(tmp_path / "m", G.config, {**G.state_dict(), "x": _Payload()})
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_model(d)
