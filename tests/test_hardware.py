"""Hardware probing: /proc/cpuinfo parsing, native bf16, what precision="auto" resolves to, the hardware line."""

from __future__ import annotations

import pytest
import torch

from regiongan import hardware
from regiongan.hardware import CPUFeatures, cpu_features, describe_cpu, native_bf16, resolve_precision

CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
model name\t: {name}
flags\t\t: {flags}

processor\t: 1
model name\t: second socket, ignored
flags\t\t: fpu
"""


def _features(*flags: str, name: str = "Test CPU") -> CPUFeatures:
    f = frozenset(flags)
    return CPUFeatures(name, f, "avx2" in f, "avx512f" in f, "avx512_bf16" in f, "amx_bf16" in f)


AVX2 = _features("sse4_2", "avx", "avx2", "fma")
AVX512_BF16 = _features("avx2", "avx512f", "avx512bw", "avx512_bf16")
AMX = _features("avx2", "avx512f", "amx_tile", "amx_bf16")
AVX512_ONLY = _features("avx2", "avx512f", "avx512bw")


@pytest.mark.parametrize(
    "features, expected",
    [(AVX2, "fp32"), (AVX512_ONLY, "fp32"), (AVX512_BF16, "bf16"), (AMX, "bf16"), (_features(), "fp32")],
    ids=["avx2", "avx512-no-bf16", "avx512-bf16", "amx", "nothing"],
)
def test_auto_picks_bf16_only_with_native_bf16_dot_products(features, expected):
    assert resolve_precision("auto", "cpu", features) == expected
    assert native_bf16("cpu", features) is (expected == "bf16")


@pytest.mark.parametrize("features", [AVX2, AMX])
def test_explicit_precisions_are_honoured_on_any_cpu(features):
    assert resolve_precision("fp32", "cpu", features) == "fp32"
    assert resolve_precision("bf16", "cpu", features) == "bf16"


@pytest.mark.parametrize("bad", ["fp16", "BF16", "", None, 32])
def test_unknown_precision_is_a_one_line_error(bad):
    with pytest.raises(ValueError, match="precision must be 'auto', 'fp32' or 'bf16'") as e:
        resolve_precision(bad)
    assert "\n" not in str(e.value)


def test_auto_on_a_device_without_bf16_knowledge_is_fp32():
    assert resolve_precision("auto", "meta", AMX) == "fp32"
    if not torch.cuda.is_available():
        assert resolve_precision("auto", "cuda", AMX) == "fp32"


def test_cpuinfo_is_parsed_from_the_first_processor(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO.format(vendor="GenuineIntel", name="Intel Xeon Platinum 8480+", flags="avx2 avx512f amx_bf16"))
    monkeypatch.setattr(hardware, "CPUINFO", info)
    cpu_features.cache_clear()
    try:
        f = cpu_features()
        assert f.name == "Intel Xeon Platinum 8480+"
        assert (f.avx2, f.avx512f, f.avx512_bf16, f.amx_bf16) == (True, True, False, True)
        assert resolve_precision("auto") == "bf16"
        assert "(AVX-512, AMX)" in describe_cpu()
    finally:
        cpu_features.cache_clear()


def test_without_cpuinfo_torch_probes_are_used(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "CPUINFO", tmp_path / "absent")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(hardware, "_torch_probe", lambda name: name == "_is_avx512_bf16_supported")
    cpu_features.cache_clear()
    try:
        f = cpu_features()
        assert f.flags == frozenset() and f.name
        assert (f.avx2, f.avx512f, f.avx512_bf16, f.amx_bf16) == (True, True, True, False)
        assert resolve_precision("auto") == "bf16"
    finally:
        cpu_features.cache_clear()


def test_describe_cpu_line():
    line = describe_cpu(_features("avx2", name="AMD EPYC"))
    assert line.startswith("AMD EPYC CPU, ") and "(AVX2, no native bf16)" in line
    assert line.endswith("no GPU") or line.endswith(" GPU")
    assert "(AVX-512, AVX-512 BF16)" in describe_cpu(AVX512_BF16)


def test_this_machine_matches_its_cpuinfo_flags():
    """On this project's AVX2-only machine: auto is fp32. Anywhere: auto follows /proc/cpuinfo's flags."""
    try:
        text = hardware.CPUINFO.read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo on this system")
    flags = hardware._parse_cpuinfo(text)[1]
    expected = "bf16" if {"amx_bf16", "avx512_bf16"} & flags else "fp32"
    assert resolve_precision("auto", "cpu") == expected
    if "avx2" in flags and not {"avx512f", "amx_bf16", "avx512_bf16"} & flags:  # e.g. the AMD EPYC we develop on
        assert resolve_precision("auto", "cpu") == "fp32"
        assert "(AVX2, no native bf16)" in describe_cpu()
