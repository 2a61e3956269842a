"""Loaders under attack: files that are not files, files larger than they say or smaller than they claim,
malformed ``.pt`` and safetensors files, and pickles whose shared object graphs would make a naive walk
visit 2^40 paths. Each case asserts the one-line message, that it fails (or loads) quickly with bounded
memory, and that nothing was written next to the input."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import resource
import struct
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from regiongan.checkpoints import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError, load_model
from regiongan.checkpoints.nvidia_pickle import load_nvidia_generator, read_nvidia_pickle
from regiongan.checkpoints.reading import read_safetensors_header
from regiongan.cli import main
from regiongan.limits import LimitError
from regiongan.parser import load_parser, save_parser
from regiongan.parser.model import PartParser

from ..checkpoints import nvidia_pickle_factory as factory
from ..conftest import tiny_stylegan2

pytestmark = pytest.mark.usefixtures("one_thread")

#: Every case here must fail (or load) within this many seconds: a coarse guard against unbounded work.
FAST = 2.0


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its content (None for folders and special files): to assert that a
    failed load wrote, changed and removed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() and p.stat().st_size < 1 << 26 else None
            for p in folder.rglob("*")}


def refuse(call, error: type[BaseException], match: str, folder: Path | None = None, seconds: float = FAST) -> str:
    """Run ``call()``, expect ``error`` whose one-line message matches ``match``, within ``seconds``, and
    ``folder`` (the test's files) unchanged."""
    before = listing(folder) if folder is not None else None
    start = time.perf_counter()
    with pytest.raises(error, match=match) as caught:
        call()
    assert time.perf_counter() - start < seconds
    if folder is not None:
        assert listing(folder) == before
    return one_line(caught.value)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    from regiongan.checkpoints import save_pretrained

    return save_pretrained(tiny_stylegan2(), tmp_path_factory.mktemp("saved") / "m")


def _copy_dir(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


# ---------------------------------------------------------------------------------------------------------
# Paths that are not regular files, and files above the size cap.


def _load_in_thread(call) -> tuple[bool, BaseException | None]:
    """Run ``call`` in a daemon thread; (finished within FAST seconds, the exception it raised)."""
    outcome: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as e:  # noqa: BLE001
            outcome[0] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(FAST)
    return not thread.is_alive(), outcome[0]


@pytest.mark.parametrize("where", ["model path", "config.json", "model.safetensors", "parser path"])
def test_a_fifo_is_refused_without_opening_it(tmp_path, saved, where):
    fifo = tmp_path / "pipe"
    if where == "model path":
        os.mkfifo(fifo)
        call, match = (lambda: load_model(fifo)), "is a FIFO"
    elif where == "parser path":
        os.mkfifo(fifo)
        call, match = (lambda: load_parser(fifo)), "no parser at"
    else:
        d = _copy_dir(saved, tmp_path / "m")
        (d / where).unlink()
        os.mkfifo(d / where)
        fifo = d / where
        call = lambda: load_model(d)  # noqa: E731
        match = "a directory without config.json" if where == "config.json" else "is a FIFO"
    before = listing(tmp_path)
    finished, error = _load_in_thread(call)
    if not finished:  # unblock the reader so the thread can end, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert finished, f"loading a FIFO as the {where} hangs"
    assert isinstance(error, (CheckpointError, FileNotFoundError)) and error is not None
    assert match in one_line(error)
    assert listing(tmp_path) == before


def test_a_device_is_refused(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    message = refuse(lambda: load_model("/dev/zero"), CheckpointError, "a device or socket, not a regular file")
    assert message.startswith("/dev/zero")


def test_a_file_above_checkpoint_bytes_is_refused_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "big.pt"
    torch.save({"g_ema": {"w": torch.zeros(1000)}}, p)
    monkeypatch.setenv("REGIONGAN_MAX_CHECKPOINT_BYTES", "1000")
    message = refuse(lambda: load_model(p), LimitError, r"above the limit of 1000", folder=tmp_path)
    assert "REGIONGAN_MAX_CHECKPOINT_BYTES=" in message and "--limit checkpoint_bytes=" in message


def test_a_huge_sparse_file_is_refused_from_its_size(tmp_path):
    p = tmp_path / "model.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}).encode()
    with open(p, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        try:
            f.truncate(8 + len(header) + 4 * 10**12)  # 4 TB that occupy no disk blocks
        except OSError:
            pytest.skip("this filesystem has no sparse files of 4 TB")
    (tmp_path / "config.json").write_text(json.dumps({"format": "regiongan", "format_version": 1,
                                                      "model_type": "stylegan2", "config": {}}))
    message = refuse(lambda: load_model(tmp_path), LimitError, "model.safetensors in bytes is 4000000000", folder=tmp_path)
    assert "REGIONGAN_MAX_CHECKPOINT_BYTES" in message


# ---------------------------------------------------------------------------------------------------------
# safetensors headers, read by hand before safetensors maps anything.


def _write_safetensors(path: Path, header: object, data: bytes = b"", raw_length: int | None = None) -> Path:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(raw) if raw_length is None else raw_length) + raw + data)
    return path


@pytest.mark.parametrize(
    "header, data, raw_length, match",
    [
        ({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}, b"\0" * 16, None,
         r"'w' F32 \[1000000000000\] declares bytes up to 4000000000000, the file holds 16 bytes"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"", 10**15,
         r"the header declares 1000000000000000 bytes"),
        (b"{not json", b"", None, "its header is not JSON"),
        (b"[" * 100000 + b"]" * 100000, b"", None, "nested too deeply"),
        ({"w": {"dtype": "PICKLE", "shape": [1], "data_offsets": [0, 1]}}, b"\0", None, "has dtype 'PICKLE'"),
        ({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16, None, "not a list of ints >= 0"),
        ({"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}, b"\0" * 16, None, "needs 20 bytes, its data_offsets give 16"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, b"\0" * 16, None, r"data_offsets \[16, 0\]"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": "0-16"}}, b"\0" * 16, None, "not \\[begin, end\\]"),
        ([1, 2], b"", None, "a JSON list, not an object"),
        ({"__metadata__": {"format": 1}}, b"", None, "__metadata__ must map names to strings"),
    ],
    ids=["huge-tensor", "huge-header", "not-json", "deep-json", "dtype", "negative-shape", "size-mismatch",
         "reversed-offsets", "offsets-type", "not-object", "metadata"],
)
def test_malformed_safetensors_are_one_line_errors_before_loading(tmp_path, saved, header, data, raw_length, match):
    d = _copy_dir(saved, tmp_path / "m")
    _write_safetensors(d / "model.safetensors", header, data, raw_length)
    message = refuse(lambda: load_model(d), CorruptCheckpointError, match, folder=tmp_path)
    assert message.startswith(str(d / "model.safetensors"))


def test_a_safetensors_header_above_the_object_cap_is_a_limit(tmp_path, monkeypatch):
    p = _write_safetensors(tmp_path / "w.safetensors", {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                           b"\0" * 4)
    monkeypatch.setenv("REGIONGAN_MAX_PICKLE_OBJECTS", "10")
    refuse(lambda: read_safetensors_header(p), LimitError, "REGIONGAN_MAX_PICKLE_OBJECTS", folder=tmp_path)


def test_safetensors_whose_names_do_not_fit_the_model_fail_before_the_data_is_read(tmp_path, saved):
    d = _copy_dir(saved, tmp_path / "m")
    save_file({"w": torch.zeros(3)}, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"do not match the architecture[\s\S]*missing"):
        load_model(d)


# ---------------------------------------------------------------------------------------------------------
# config.json


@pytest.mark.parametrize(
    "text, error, match",
    [
        ("[" * 100000 + "]" * 100000, CorruptCheckpointError, r"not valid JSON \(nested too deeply\)"),
        ('{"format": "regiongan", "format_version": ' + "9" * 5000 + "}", CorruptCheckpointError, "not valid JSON"),
        ('{"format": "regiongan", "format_version": Infinity}', CheckpointError, "format_version must be an int"),
        ('{"format": "regiongan", "format_version": 1, "model_type": ["stylegan2"], "config": {}}', CheckpointError,
         r"unknown model_type \['stylegan2'\]"),
        ('{"format": "regiongan", "format_version": 1, "model_type": "stylegan2", "config": [1]}', CheckpointError,
         '"config" must be an object'),
        ('{"format": "regiongan", "format_version": 1, "model_type": "stylegan2", "config": {}, "companions": []}',
         CheckpointError, '"companions" must map names to artefact names'),
    ],
    ids=["deep", "huge-int", "infinity", "type-list", "config-list", "companions"],
)
def test_malformed_config_json_is_one_line(tmp_path, saved, text, error, match):
    d = _copy_dir(saved, tmp_path / "m")
    (d / "config.json").write_text(text)
    refuse(lambda: load_model(d), error, match, folder=tmp_path)


def test_a_config_json_above_the_object_cap_is_refused_unread(tmp_path, saved, monkeypatch):
    d = _copy_dir(saved, tmp_path / "m")
    monkeypatch.setenv("REGIONGAN_MAX_PICKLE_OBJECTS", "100")
    refuse(lambda: load_model(d), LimitError, r"config.json is \d+ bytes, more than a config.json may hold", folder=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Malformed .pt files.


def _nvidia_state_file(path: Path, init_kwargs: object, state: object) -> Path:
    torch.save({"init_kwargs": init_kwargs, "state_dict": state}, path)
    return path


KWARGS = json.dumps({"z_dim": 16, "w_dim": 16, "img_resolution": 32, "mapping_kwargs": {"num_layers": 2},
                     "synthesis_kwargs": {"channel_base": 512, "channel_max": 32}})


class _Payload:
    """Pickled by reference: weights_only refuses to import it."""


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda p: p.write_bytes(_zip_of(tiny_stylegan2().state_dict())[:3000]), CorruptCheckpointError,
         "truncated or corrupt"),
        (lambda p: p.write_bytes(_plain_zip()), CorruptCheckpointError, "not a torch checkpoint"),
        (lambda p: p.write_bytes(_deflated_bomb()), CorruptCheckpointError, r"inflates to \d+ bytes"),
        (lambda p: _nvidia_state_file(p, KWARGS, {"mapping.w_avg": "a string"}), CheckpointError,
         "state dict entry 'mapping.w_avg' is a str, not a tensor"),
        (lambda p: _nvidia_state_file(p, KWARGS, {"mapping": {"w_avg": torch.zeros(16)}}), CheckpointError,
         "state dict entry 'mapping' is a dict, not a tensor"),
        (lambda p: _nvidia_state_file(p, KWARGS, [torch.zeros(16)]), CheckpointError,
         "expected a state dict .* got list"),
        (lambda p: _nvidia_state_file(p, KWARGS, {3: torch.zeros(1)}), CheckpointError, "key 3 is a int, not a name"),
        (lambda p: _nvidia_state_file(p, "{not json", {}), CheckpointError, "init_kwargs is not valid JSON"),
        (lambda p: _nvidia_state_file(p, [1, 2], {}), CheckpointError, "init_kwargs must be a dict"),
        (lambda p: _nvidia_state_file(p, json.dumps({**json.loads(KWARGS), "z_dim": "16"}), {}), CheckpointError,
         "z_dim must be an int >= 0, got '16'"),
        (lambda p: _nvidia_state_file(p, json.dumps({**json.loads(KWARGS), "mapping_kwargs": [2]}), {}),
         CheckpointError, "mapping_kwargs must be a dict, got list"),
        (lambda p: _nvidia_state_file(p, json.dumps({**json.loads(KWARGS), "img_resolution": 32.0}), {}),
         CheckpointError, "img_resolution must be a power of two"),
        (lambda p: _nvidia_state_file(p, json.dumps({**json.loads(KWARGS),
                                                    "synthesis_kwargs": {"conv_clamp": float("nan")}}), {}),
         CheckpointError, "conv_clamp \\(or null\\) must be a finite number > 0, got nan"),
        (lambda p: _nvidia_state_file(p, KWARGS, {"w": torch.zeros(1).expand(10**9)}), CheckpointError,
         r"declares shape \(1000000000,\) .* \(a broadcast view\)"),
        (lambda p: torch.save({1: torch.zeros(1), "a": 2}, p), CheckpointError, "not a generator checkpoint"),
        (lambda p: torch.save({"g_ema": {"w": 1}, "x": _Payload()}, p), UnsafeCheckpointError, "refusing to load"),
    ],
    ids=["truncated-zip", "zip-not-torch", "zip-bomb", "string-for-tensor", "nested-dict", "list-state",
         "int-key", "kwargs-not-json", "kwargs-list", "z-dim-string", "mapping-list", "resolution-float",
         "clamp-nan", "broadcast-view", "mixed-keys", "global"],
)
def test_malformed_pt_files_are_one_line_errors(tmp_path, build, error, match):
    p = tmp_path / "model.pt"
    build(p)
    message = refuse(lambda: load_model(p), error, match, folder=tmp_path)
    assert str(p) in message


def _zip_of(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")
    return buffer.getvalue()


def _deflated_bomb() -> bytes:
    """A torch zip whose one storage record (64 MB of zeros) is deflated to about 64 KB."""
    n = 16 << 20
    original = zipfile.ZipFile(io.BytesIO(_zip_of({"g_ema": {"w": torch.zeros(4)}})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename.endswith("/data/0"):
                archive.writestr(info.filename, b"\0" * (4 * n), compress_type=zipfile.ZIP_DEFLATED)
            else:
                archive.writestr(info, data)
    return out.getvalue()


def _rosinality(**changes) -> dict:
    g = {"input.input": torch.zeros(1, 4, 4, 4), "conv1.conv.weight": torch.zeros(1, 4, 4, 3, 3),
         "style.1.weight": torch.zeros(8, 8), "style.1.bias": torch.zeros(8)}
    g.update(changes.pop("g", {}))
    return {"g_ema": g, **changes}


@pytest.mark.parametrize(
    "ckpt, match",
    [
        (_rosinality(g={"convs.0.conv.weight": torch.zeros(1, 4, 4, 3, 3)}), "not found in pairs"),
        (_rosinality(g={"style.1.weight": torch.zeros(8)}), r"'style.1.weight' has shape \(8,\), expected 2"),
        (_rosinality(g={"style.3.weight": torch.zeros(8, 8)}), "not contiguous"),
        (_rosinality(latent_avg=torch.zeros(3)), r"latent_avg must be a tensor of 8 numbers, got \(3,\)"),
        (_rosinality(g={"conv1.noise.weight": torch.zeros(1)}), "lacks 'conv1.conv.modulation.weight'"),
    ],
    ids=["odd-convs", "style-1d", "style-gap", "latent-avg", "missing-key"],
)
def test_malformed_rosinality_files_are_one_line_errors(tmp_path, ckpt, match):
    p = tmp_path / "550000.pt"
    torch.save(ckpt, p)
    refuse(lambda: load_model(p), CheckpointError, match, folder=tmp_path)


def test_rosinality_args_with_a_nan_lr_mlp(tmp_path):
    import argparse

    p = tmp_path / "train.pt"
    torch.save(_rosinality(args=argparse.Namespace(lr_mlp=float("nan"))), p)
    refuse(lambda: load_model(p), CheckpointError, "args.lr_mlp must be a finite number > 0, got nan", folder=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Pickles: wrong argument types, and object graphs shared 40 levels deep.


class _Reduce(factory._Reduce):
    pass


def _dump(path: Path, snapshot: object) -> Path:
    with factory.official_pickle_modules(), open(path, "wb") as f:
        pickle.dump(snapshot, f, protocol=4)
    return path


def _snapshot() -> dict:
    init_kwargs, state = factory.small_generator_state_dict()
    with factory.official_pickle_modules():
        return factory.build_snapshot(init_kwargs, state, include=("training_set_kwargs", "G_ema"))


@pytest.mark.parametrize(
    "value, match",
    [
        (_Reduce(torch._utils._rebuild_tensor_v2, ("storage", 0, (4,), (1,), False, collections.OrderedDict())),
         "a tensor is built on str, not a storage"),
        (_Reduce(torch._utils._rebuild_parameter, ("not a tensor", False, collections.OrderedDict())),
         "a parameter is built on str, not a tensor"),
        (_Reduce(torch.storage._load_from_bytes, ("text, not bytes",)), "a tensor storage is stored as str"),
        (_Reduce(np.dtype, ("O",)), "unsupported numpy dtype 'O'"),
    ],
    ids=["storage-string", "parameter-string", "storage-bytes-string", "object-dtype"],
)
def test_wrong_argument_types_inside_pickles(tmp_path, value, match):
    snapshot = _snapshot()
    snapshot["G_ema"].mapping._buffers["w_avg"] = value
    p = _dump(tmp_path / "bad.pkl", snapshot)
    message = refuse(lambda: load_model(p), CorruptCheckpointError, match, folder=tmp_path)
    assert message.startswith(str(p))


def _measure(call, folder: Path) -> tuple[float, int, BaseException | None]:
    """(seconds, growth of the process's peak resident memory in bytes, the exception raised or None).

    Peak RSS only grows, so this is how far the call pushed the peak above everything before it: a walk
    that visited a 40-level shared graph once per path would push it by gigabytes before any timeout."""
    files_before = listing(folder)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    error = None
    try:
        call()
    except Exception as e:  # noqa: BLE001
        error = e
    seconds = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
    assert listing(folder) == files_before
    return seconds, grown, error


def _shared(depth: int, leaf: object, kind: type) -> object:
    node = leaf
    for _ in range(depth):
        node = kind([node, node]) if kind is not dict else {"a": node, "b": node}
    return node


LEAF_INTS = 300_000  # ~1.5 MB of BININT opcodes: every visit of the leaf costs 300 k objects


@pytest.mark.parametrize("where", ["snapshot tuples", "init_kwargs lists", "init_kwargs dicts"])
def test_a_graph_shared_40_levels_deep_is_walked_once(tmp_path, where):
    snapshot = _snapshot()
    leaf = list(range(10**6, 10**6 + LEAF_INTS))
    if where.startswith("snapshot"):
        snapshot["extra"] = _shared(40, tuple(leaf), tuple)  # after G_ema: the format sniff reads the first 64 KiB
    else:
        kind = list if "lists" in where else dict
        snapshot["G_ema"]._init_kwargs["synthesis_kwargs"]["extra"] = _shared(40, leaf, kind)
    p = _dump(tmp_path / "shared.pkl", snapshot)
    assert 1_000_000 < p.stat().st_size < 2_000_000
    seconds, peak, error = _measure(lambda: load_model(p), tmp_path)
    assert seconds < 10 and peak < 200 << 20, (seconds, peak)
    if where.startswith("snapshot"):
        assert error is None  # loads: the extra entry is not part of the generator
    else:
        assert isinstance(error, CheckpointError)
        assert "unsupported generator options ['extra']" in one_line(error)


@pytest.mark.parametrize("levels, match", [(25, "appears twice"), (40, "nested more than 100 levels deep")])
def test_shared_sub_networks_are_refused(tmp_path, levels, match):
    snapshot = _snapshot()
    with factory.official_pickle_modules():
        node = factory.persistent_class("FullyConnectedLayer", factory.STYLEGAN2_SRC)()
        node.register_parameter("weight", torch.nn.Parameter(torch.zeros(2), requires_grad=False))
        for _ in range(levels):  # 2^levels paths to the leaf
            parent = factory.persistent_class("SynthesisLayer", factory.STYLEGAN2_SRC)()
            parent.add_module("a", node)
            parent.add_module("b", node)
            node = parent
        snapshot["G_ema"].synthesis.add_module("shared", node)
    p = _dump(tmp_path / "modules.pkl", snapshot)
    seconds, peak, error = _measure(lambda: load_nvidia_generator(p), tmp_path)
    assert seconds < FAST and peak < 200 << 20
    assert isinstance(error, CorruptCheckpointError) and match in one_line(error)


def test_storage_bytes_rebuilt_again_and_again_are_refused(tmp_path):
    with warnings.catch_warnings():  # TypedStorage is deprecated; NVIDIA pickles hold them all the same
        warnings.simplefilter("ignore")
        data = torch.zeros(1 << 18).storage().__reduce__()[1][0]  # 1 MB of storage bytes, once in the file
    storages = [_Reduce(torch.storage._load_from_bytes, (data,)) for _ in range(4000)]  # 4 GB if each were built
    p = tmp_path / "reused.pkl"
    with factory.official_pickle_modules(), open(p, "wb") as f:
        pickle.dump({"G_ema": storages}, f, protocol=4)
    seconds, peak, error = _measure(lambda: read_nvidia_pickle(p), tmp_path)
    assert seconds < FAST, seconds
    assert isinstance(error, CorruptCheckpointError)
    assert "bytes of data from a file of" in one_line(error)


def test_a_shared_list_copied_into_many_containers_hits_the_object_cap(tmp_path, monkeypatch):
    monkeypatch.setenv("REGIONGAN_MAX_PICKLE_OBJECTS", "200000")  # the default (5 M) works the same, 25x slower
    pairs = [(str(i), i) for i in range(20_000)]  # 20 000 copies of it would be 4·10^8 entries (~30 GB)
    p = tmp_path / "copies.pkl"
    with factory.official_pickle_modules(), open(p, "wb") as f:
        pickle.dump({"G_ema": [_Reduce(collections.OrderedDict, (pairs,)) for _ in range(20_000)]}, f, protocol=4)
    seconds, peak, error = _measure(lambda: read_nvidia_pickle(p), tmp_path)
    assert seconds < 5 and peak < 200 << 20, (seconds, peak)
    assert isinstance(error, LimitError)
    assert "builds more than 200,000 objects" in one_line(error) and "REGIONGAN_MAX_PICKLE_OBJECTS" in str(error)


def test_constructor_arguments_that_contain_themselves(tmp_path):
    snapshot = _snapshot()
    loop: list = []
    loop.append(loop)
    snapshot["G_ema"]._init_kwargs["synthesis_kwargs"]["loop"] = loop
    p = _dump(tmp_path / "loop.pkl", snapshot)
    refuse(lambda: load_model(p), CorruptCheckpointError, "constructor arguments contain themselves", folder=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Part parsers follow the same rules.


@pytest.fixture(scope="module")
def parser_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_parser(PartParser(["bg", "a", "b"], channels=[4, 8]), tmp_path_factory.mktemp("parser") / "p")


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(channels=[10**6, 10**6]), LimitError, r"declares 3 parts, 0 attributes, channels \[1000000, 1000000\]"),
        (dict(part_names="bg,a,b"), ValueError, "part_names must be a list of at least 2 strings"),
        (dict(channels=[4, 8.5]), ValueError, "each of channels must be an int >= 1, got 8.5"),
        (dict(depth=3), ValueError, r"unknown field\(s\) \['depth'\]"),
    ],
    ids=["huge", "names-string", "channels-float", "unknown"],
)
def test_parser_configs_are_checked_before_building(tmp_path, parser_dir, change, error, match):
    d = _copy_dir(parser_dir, tmp_path / "p")
    meta = json.loads((d / "config.json").read_text())
    meta["config"].update(change)
    (d / "config.json").write_text(json.dumps(meta))
    message = refuse(lambda: load_parser(d), error, match, folder=tmp_path)
    assert str(d / "config.json") in message


def test_parser_safetensors_header_is_checked(tmp_path, parser_dir):
    d = _copy_dir(parser_dir, tmp_path / "p")
    _write_safetensors(d / "model.safetensors", {"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4]}},
                       b"\0" * 4)
    refuse(lambda: load_parser(d), ValueError, "needs 4000000000000 bytes", folder=tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Through the CLI: one `error:` line, the exit status cli/common.py gives the class of error, no traceback.


def _cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_reports_loader_errors_in_one_line(tmp_path, saved):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(_zip_of({"g_ema": {"w": torch.zeros(1000)}})[:2000])
    huge = _copy_dir(saved, tmp_path / "huge")
    meta = json.loads((huge / "config.json").read_text())
    meta["config"]["img_resolution"] = 2**30
    (huge / "config.json").write_text(json.dumps(meta))
    shared = tmp_path / "shared.pkl"
    snapshot = _snapshot()
    snapshot["G_ema"]._init_kwargs["synthesis_kwargs"]["extra"] = _shared(40, list(range(1000)), list)
    _dump(shared, snapshot)
    cases = [
        (["info", fifo], 2, "is a FIFO (named pipe), not a regular file"),
        (["info", truncated], 1, "truncated or corrupt"),
        (["info", huge], 2, "declares img_resolution 1073741824"),
        (["info", shared], 2, "unsupported generator options ['extra']"),
        (["convert", truncated, tmp_path / "out"], 1, "truncated or corrupt"),
    ]
    for args, status, message in cases:
        before = listing(tmp_path)
        start = time.perf_counter()
        result = _cli(*args)
        assert time.perf_counter() - start < 5
        lines = result.output.splitlines()
        assert result.exit_code == status, result.output
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
        assert "Traceback" not in result.output
        assert listing(tmp_path) == before
