"""What this machine can do, read from the machine itself: CPU features, native bf16, ``precision="auto"``.

bf16 is fast only where the hardware has bf16 dot products: AMX (``amx_bf16``) or AVX-512 BF16
(``avx512_bf16``) on x86 CPUs, or a CUDA GPU that supports bf16. On an AVX2-only CPU oneDNN has no bf16
convolution kernels and bf16 synthesis is many times *slower* than fp32 (docs/generator.md, "Precision"), so
``"auto"`` never assumes it. This module is the one place that reads ``/proc/cpuinfo`` and the one place that
writes the hardware line of model cards and the demo page (:func:`describe_cpu`).
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

__all__ = ["CPUFeatures", "cpu_features", "native_bf16", "resolve_precision", "describe_cpu", "PRECISIONS"]

#: What callers may ask for; ``"auto"`` resolves to one of the other two.
PRECISIONS = ("auto", "fp32", "bf16")

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CPUFeatures:
    """The CPU's name and the instruction-set flags that decide precision.

    flags: the ``/proc/cpuinfo`` flags (empty where that file is absent: the booleans then come from
    torch's own CPU probes). avx512_bf16 / amx_bf16: native bf16 dot products.
    """

    name: str
    flags: frozenset[str]
    avx2: bool
    avx512f: bool
    avx512_bf16: bool
    amx_bf16: bool

    @property
    def native_bf16(self) -> bool:
        """True where the CPU has bf16 dot products (AMX or AVX-512 BF16)."""
        return self.amx_bf16 or self.avx512_bf16


def _torch_probe(name: str) -> bool:
    """One of torch's private CPU probes (``torch.cpu._is_avx512_bf16_supported`` ...); False if absent."""
    probe = getattr(torch.cpu, name, None)
    try:
        return bool(probe()) if callable(probe) else False
    except RuntimeError:
        return False


def _parse_cpuinfo(text: str) -> tuple[str | None, frozenset[str]]:
    """``/proc/cpuinfo`` text -> (model name or None, flags of the first processor)."""
    name, flags = None, frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name is None:
            name = value.strip() or None
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if name is not None and flags:
            break
    return name, flags


@functools.lru_cache(maxsize=1)
def cpu_features() -> CPUFeatures:
    """This CPU's features: from ``/proc/cpuinfo`` on Linux; elsewhere (or if it cannot be read) from torch's
    probes (``torch.cpu._is_avx512_bf16_supported``, ``_is_amx_tile_supported``) and
    ``torch.backends.cpu.get_cpu_capability()``. Cached: the CPU does not change within a process."""
    name, flags = None, frozenset()
    try:
        name, flags = _parse_cpuinfo(CPUINFO.read_text())
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown"
    if flags:
        return CPUFeatures(
            name=name, flags=flags, avx2="avx2" in flags, avx512f="avx512f" in flags,
            avx512_bf16="avx512_bf16" in flags, amx_bf16="amx_bf16" in flags,
        )  # fmt: skip
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", "DEFAULT", ...
    return CPUFeatures(
        name=name, flags=frozenset(), avx2=capability in ("AVX2", "AVX512") or _torch_probe("_is_avx2_supported"),
        avx512f=capability == "AVX512" or _torch_probe("_is_avx512_supported"),
        avx512_bf16=_torch_probe("_is_avx512_bf16_supported"), amx_bf16=_torch_probe("_is_amx_tile_supported"),
    )  # fmt: skip


def native_bf16(device: torch.device | str = "cpu", features: CPUFeatures | None = None) -> bool:
    """True where bf16 runs natively on ``device``: a CPU with AMX or AVX-512 BF16 (``features``, default
    :func:`cpu_features`), or a CUDA device that supports bf16. Any other device: False."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":
        return (features or cpu_features()).native_bf16
    return False


def resolve_precision(
    precision: str, device: torch.device | str = "cpu", features: CPUFeatures | None = None
) -> Literal["fp32", "bf16"]:
    """``"auto"`` -> ``"bf16"`` where :func:`native_bf16` holds for ``device``, else ``"fp32"``; ``"fp32"`` and
    ``"bf16"`` are returned as given (an explicit bf16 is honoured, slow or not); anything else: ValueError."""
    if precision == "auto":
        return "bf16" if native_bf16(device, features) else "fp32"
    if precision in ("fp32", "bf16"):
        return precision  # type: ignore[return-value]
    raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")


def describe_cpu(features: CPUFeatures | None = None) -> str:
    """``"AMD EPYC CPU, 2 cores (AVX2, no native bf16), no GPU"``: the hardware line of model cards and the
    demo page."""
    f = features or cpu_features()
    simd = "AVX-512" if f.avx512f else ("AVX2" if f.avx2 else "no AVX2")
    native = ", ".join(label for ok, label in ((f.avx512_bf16, "AVX-512 BF16"), (f.amx_bf16, "AMX")) if ok)
    gpu = f"{torch.cuda.get_device_name()} GPU" if torch.cuda.is_available() else "no GPU"
    return f"{f.name} CPU, {os.cpu_count()} cores ({simd}, {native or 'no native bf16'}), {gpu}"
