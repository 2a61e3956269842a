"""The restricted NVIDIA pickle reader: round trips, refusals (nothing runs), damaged files, sniffing."""

from __future__ import annotations

import copy
import io
import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from regiongan.checkpoints.errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError
from regiongan.checkpoints.nvidia_pickle import (
    PersistentModule,
    load_nvidia_generator,
    looks_like_nvidia_pickle,
    read_nvidia_pickle,
)

from . import nvidia_pickle_factory as factory

FIXTURES = Path(__file__).parents[2] / ".." / "shared" / "fixtures"
UNCOND64 = FIXTURES / "stylegan2_nvidia_uncond64.pt"


def assert_same_tensors(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)  # nn.Module.state_dict() order, too
    for key, tensor in expected.items():
        assert actual[key].dtype == tensor.dtype, key
        assert torch.equal(actual[key], tensor), key


@pytest.fixture
def small_pickle(tmp_path: Path) -> tuple[Path, dict, dict[str, torch.Tensor]]:
    init_kwargs, state = factory.small_generator_state_dict()
    path = tmp_path / "network-snapshot-000000.pkl"
    factory.write_official_style_pickle(path, init_kwargs, state)
    return path, init_kwargs, state


# ---------------------------------------------------------------------------------------------------------
# Round trips.


@pytest.mark.skipif(not UNCOND64.is_file(), reason=f"conformance fixture {UNCOND64} not present")
def test_round_trip_of_the_official_fixture(tmp_path: Path) -> None:
    fixture = torch.load(UNCOND64, weights_only=True)
    init_kwargs, state = json.loads(fixture["init_kwargs"]), fixture["state_dict"]
    path = tmp_path / "uncond64.pkl"
    factory.write_official_style_pickle(path, init_kwargs, state, protocol=3)  # Python 3.7's default

    class_name, loaded_kwargs, loaded_state = load_nvidia_generator(path)

    assert class_name == "Generator"
    assert loaded_kwargs == init_kwargs
    assert_same_tensors(loaded_state, state)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_round_trip_of_a_small_generator(tmp_path: Path, protocol: int) -> None:
    init_kwargs, state = factory.small_generator_state_dict()
    path = tmp_path / "small.pkl"
    factory.write_official_style_pickle(path, init_kwargs, state, protocol=protocol)

    for key in ("G_ema", "G"):
        class_name, loaded_kwargs, loaded_state = load_nvidia_generator(path, key=key)
        assert class_name == "Generator"
        assert loaded_kwargs == init_kwargs
        assert_same_tensors(loaded_state, state)


def test_whole_snapshot_is_read_as_data(small_pickle: tuple[Path, dict, dict]) -> None:
    path, init_kwargs, _ = small_pickle
    data = read_nvidia_pickle(path)

    assert list(data) == ["training_set_kwargs", "G", "D", "G_ema", "augment_pipe"]
    assert type(data["training_set_kwargs"]) is dict
    assert data["training_set_kwargs"] == factory.TRAINING_SET_KWARGS
    g, d, pipe = data["G_ema"], data["D"], data["augment_pipe"]
    assert all(isinstance(net, PersistentModule) for net in (g, data["G"], d, pipe))
    assert (g.class_name, d.class_name, pipe.class_name) == ("Generator", "Discriminator", "AugmentPipe")
    assert (g.module_name, pipe.module_name) == ("training.networks", "training.augment")
    assert g.module_src_sha256 == d.module_src_sha256 != pipe.module_src_sha256
    assert g.state["training"] is False

    # EasyDicts (train.py's mapping_kwargs / synthesis_kwargs) come back as plain dicts, raw state included.
    assert type(g.state["_init_kwargs"]["mapping_kwargs"]) is dict
    assert type(g.init_kwargs["synthesis_kwargs"]) is dict and g.init_kwargs == init_kwargs
    mapping = g.state["_modules"]["mapping"]
    fc0 = mapping.state["_modules"]["fc0"]
    assert (mapping.class_name, fc0.class_name) == ("MappingNetwork", "FullyConnectedLayer")
    assert isinstance(fc0.state["weight_gain"], np.float64) and fc0.state["weight_gain"] == pytest.approx(0.5)
    assert fc0.init_args == [4, 4]

    # G and G_ema are separate networks with the same values; D and the augment pipe have their tensors.
    assert data["G"].state_dict()["mapping.w_avg"].data_ptr() != g.state_dict()["mapping.w_avg"].data_ptr()
    d_kwargs, d_state = factory.small_discriminator_state_dict()
    assert d.init_kwargs == d_kwargs
    assert {k: v.shape for k, v in d.state_dict().items()} == {k: v.shape for k, v in d_state.items()}
    assert set(pipe.state_dict()) == {"p", "Hz_geom"}


def test_subset_snapshot_and_missing_key_lists_the_keys_present(tmp_path: Path) -> None:
    init_kwargs, state = factory.small_generator_state_dict()
    path = tmp_path / "released.pkl"
    factory.write_official_style_pickle(path, init_kwargs, state, include=("G_ema",))

    assert list(read_nvidia_pickle(path)) == ["G_ema"]
    assert_same_tensors(load_nvidia_generator(path)[2], state)
    with pytest.raises(CheckpointError, match=r"no network 'G'.*keys present: \['G_ema'\]"):
        load_nvidia_generator(path, key="G")


def test_file_objects_and_max_bytes(small_pickle: tuple[Path, dict, dict]) -> None:
    path, _, state = small_pickle
    with open(path, "rb") as f:
        assert_same_tensors(read_nvidia_pickle(f)["G_ema"].state_dict(), state)
    assert_same_tensors(read_nvidia_pickle(io.BytesIO(path.read_bytes()))["G_ema"].state_dict(), state)

    size = path.stat().st_size
    read_nvidia_pickle(path, max_bytes=size)
    with pytest.raises(CheckpointError, match="max_bytes"):
        read_nvidia_pickle(path, max_bytes=size - 1)
    with pytest.raises(CheckpointError, match="max_bytes"):
        read_nvidia_pickle(io.BytesIO(path.read_bytes()), max_bytes=size - 1)


def test_state_dict_follows_nn_module_rules() -> None:
    def node(params: dict, buffers: dict, modules: dict, non_persistent: set = frozenset()) -> PersistentModule:
        state = dict(_parameters=params, _buffers=buffers, _modules=modules,
                     _non_persistent_buffers_set=set(non_persistent))
        return PersistentModule("Net", None, "", [], {}, state)

    buffers = {"kept": torch.zeros(1), "scratch": torch.zeros(3), "none": None}
    leaf = node({"weight": torch.ones(2), "bias": None}, buffers, {}, non_persistent={"scratch"})
    root = node({"const": torch.ones(1)}, {}, {"child": leaf, "absent": None})

    assert list(root.state_dict()) == ["const", "child.weight", "child.kept"]

    looped = node({}, {}, {})
    looped.state["_modules"]["self"] = looped
    with pytest.raises(CorruptCheckpointError, match="contains itself"):
        looped.state_dict()


def test_stylegan3_networks_are_read_with_their_module_name(tmp_path: Path) -> None:
    init_kwargs = dict(z_dim=4, c_dim=0, w_dim=4, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                       channel_base=32, channel_max=4, magnitude_ema_beta=0.999)
    state = factory.random_state_dict({
        "synthesis.input.weight": (4, 4), "synthesis.input.transform": (3, 3), "synthesis.input.freqs": (4, 2),
        "synthesis.input.phases": (4,), "synthesis.input.affine.weight": (4, 4), "synthesis.input.affine.bias": (4,),
        "synthesis.L0_16_4.weight": (4, 4, 3, 3), "synthesis.L0_16_4.bias": (4,), "synthesis.L0_16_4.magnitude_ema": (),
        "synthesis.L0_16_4.affine.weight": (4, 4), "synthesis.L0_16_4.affine.bias": (4,),
        "mapping.w_avg": (4,), "mapping.fc0.weight": (4, 4), "mapping.fc0.bias": (4,),
    })
    path = tmp_path / "stylegan3-r.pkl"
    factory.write_official_style_pickle(path, init_kwargs, state, include=("G_ema",), module_src=factory.STYLEGAN3_SRC)

    g = read_nvidia_pickle(path)["G_ema"]
    synthesis = g.state["_modules"]["synthesis"]
    layer, fourier = synthesis.state["_modules"]["L0_16_4"], synthesis.state["_modules"]["input"]

    assert g.module_name == "training.networks_stylegan3"
    assert g.init_kwargs == init_kwargs
    assert_same_tensors(g.state_dict(), state)  # the None up_filter buffer is skipped like nn.Module does
    assert layer.state["_buffers"]["up_filter"] is None
    assert isinstance(fourier.state["size"], np.ndarray) and fourier.state["size"].tolist() == [16, 16]


@pytest.mark.parametrize(
    ("module_src", "expected"),
    [
        (factory.STYLEGAN2_SRC, "training.networks"),  # stylegan2-ada-pytorch
        (factory.official_module_src(ema_flag="update_emas"), "training.networks_stylegan2"),  # stylegan3 repo
        (factory.STYLEGAN3_SRC, "training.networks_stylegan3"),
        ("class Unrelated:\n    pass\n", None),
    ],
)
def test_module_name_is_guessed_from_the_stored_source(tmp_path: Path, module_src: str, expected: str | None) -> None:
    init_kwargs, state = factory.small_generator_state_dict()
    path = tmp_path / "g.pkl"
    factory.write_official_style_pickle(path, init_kwargs, state, include=("G_ema",), module_src=module_src)
    assert read_nvidia_pickle(path)["G_ema"].module_name == expected


def test_plain_torch_modules_inside_a_network(tmp_path: Path) -> None:
    init_kwargs, state = factory.small_generator_state_dict()
    with factory.official_pickle_modules():
        g = factory.build_official_network("Generator", init_kwargs, state, factory.STYLEGAN2_SRC)
        g.mapping.extra = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.2))
        expected = g.state_dict()
        path = tmp_path / "with-torch-modules.pkl"
        path.write_bytes(pickle.dumps({"G_ema": g}, protocol=4))

    loaded = read_nvidia_pickle(path)["G_ema"]
    extra = loaded.state["_modules"]["mapping"].state["_modules"]["extra"]

    assert (extra.class_name, extra.module_name) == ("Sequential", "torch.nn.modules.container")
    assert extra.module_src_sha256 == ""
    assert_same_tensors(loaded.state_dict(), expected)
    copied = copy.deepcopy(extra)
    assert type(copied) is PersistentModule and list(copied.state_dict()) == ["0.weight", "0.bias"]


# ---------------------------------------------------------------------------------------------------------
# Malicious files: nothing runs, the refused global is named.


def _permissive_load(path: Path) -> None:
    """Unpickle the way an unsafe loader would (without the official exec of module_src)."""

    class Permissive(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
                return lambda meta: meta
            if (module, name) == ("dnnlib.util", "EasyDict"):
                return dict
            return super().find_class(module, name)

    with open(path, "rb") as f:
        Permissive(f).load()


@pytest.mark.parametrize("variant", list(factory.MALICIOUS_VARIANTS))
def test_malicious_pickles_run_nothing(tmp_path: Path, variant: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / f"{variant}.pkl"
    factory.write_malicious_pickle(path, marker, variant)
    refused = factory.MALICIOUS_VARIANTS[variant]

    if refused is None:  # module_src: the stored source is data to us, so the file loads normally
        _, _, state = load_nvidia_generator(path)
        assert "mapping.w_avg" in state
    else:
        with pytest.raises(UnsafeCheckpointError) as caught:
            read_nvidia_pickle(path)
        message = str(caught.value)
        assert f"'{refused}'" in message
        assert str(path) in message and "refusing to load" in message
    assert looks_like_nvidia_pickle(path) == (variant in ("module_src", "nested_global", "storage_bytes"))
    assert not marker.exists()


@pytest.mark.parametrize("variant", list(factory.MALICIOUS_VARIANTS))
def test_malicious_payloads_are_live(tmp_path: Path, variant: str) -> None:
    """The refusals above mean something: loaded permissively (or exec'd), each payload fires."""
    marker = tmp_path / "pwned"
    path = tmp_path / f"{variant}.pkl"
    factory.write_malicious_pickle(path, marker, variant)
    try:
        if variant == "module_src":
            exec(factory.malicious_module_src(marker), {})  # what persistence._src_to_module does
        else:
            _permissive_load(path)
    except Exception:
        pass  # the payload's return value rarely makes a valid snapshot; only the side effect matters
    assert marker.exists()


def test_tensorflow_era_pickles_get_a_conversion_hint(tmp_path: Path) -> None:
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    factory.write_tf_era_pickle(path)
    with pytest.raises(CheckpointError, match="TensorFlow") as caught:
        read_nvidia_pickle(path)
    assert not isinstance(caught.value, UnsafeCheckpointError)
    assert "legacy.py" in str(caught.value)


def test_persistent_ids_are_refused(tmp_path: Path) -> None:
    class WithPersistentIds(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", 0) if isinstance(obj, torch.Tensor) else None

    buffer = io.BytesIO()
    WithPersistentIds(buffer, protocol=2).dump({"G_ema": torch.zeros(2)})
    path = tmp_path / "persistent-ids.pkl"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="persistent ids"):
        read_nvidia_pickle(path)


def test_allocation_and_type_tricks_are_corrupt_not_crashes(tmp_path: Path) -> None:
    class Huge:
        def __reduce__(self):
            return (np._core.multiarray._reconstruct, (np.ndarray, (10**12,), b"b"))

    class NotAStorage:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, ({}, 0, (10**9,), (1,), False, {}))

    for name, obj in (("huge", Huge()), ("not-storage", NotAStorage())):
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps({"G_ema": obj}, protocol=4))
        with pytest.raises(CorruptCheckpointError, match=str(path)):
            read_nvidia_pickle(path)


# ---------------------------------------------------------------------------------------------------------
# Damaged and foreign files, sniffing.


@pytest.mark.parametrize("fraction", [0.5, 0.25, 0.9, 0.9999])
def test_truncated_file_is_corrupt(small_pickle: tuple[Path, dict, dict], fraction: float) -> None:
    path, _, _ = small_pickle
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CorruptCheckpointError, match="truncated or corrupt") as caught:
        load_nvidia_generator(path)
    assert str(path) in str(caught.value)


def test_non_pickles_are_checkpoint_errors(tmp_path: Path) -> None:
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    for path in (png, noise, empty):
        with pytest.raises(CheckpointError, match=str(path)):
            read_nvidia_pickle(path)
    with pytest.raises(CorruptCheckpointError):
        read_nvidia_pickle(png)

    archive = tmp_path / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, archive)
    assert zipfile.is_zipfile(archive)
    with pytest.raises(CheckpointError, match=r"torch\.load"):
        read_nvidia_pickle(archive)


def test_looks_like_nvidia_pickle(tmp_path: Path, small_pickle: tuple[Path, dict, dict]) -> None:
    path, init_kwargs, state = small_pickle
    assert looks_like_nvidia_pickle(path)
    protocol3 = tmp_path / "protocol3.pkl"
    factory.write_official_style_pickle(protocol3, init_kwargs, state, include=("G_ema",), protocol=3)
    assert looks_like_nvidia_pickle(protocol3)

    archive, legacy, noise = tmp_path / "model.pt", tmp_path / "legacy.pt", tmp_path / "noise.bin"
    torch.save(state, archive)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    noise.write_bytes(np.random.default_rng(1).bytes(4096))
    for other in (archive, legacy, noise):
        assert not looks_like_nvidia_pickle(other)
    with pytest.raises(FileNotFoundError):
        looks_like_nvidia_pickle(tmp_path / "missing.pkl")


def test_factory_leaves_no_fake_modules_behind(tmp_path: Path) -> None:
    init_kwargs, state = factory.small_generator_state_dict()
    factory.write_official_style_pickle(tmp_path / "g.pkl", init_kwargs, state, include=("G_ema",))
    assert not {"torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"} & set(sys.modules)
