"""Peer comparison: StyleGAN2 synthesis of NVlabs stylegan2-ada-pytorch against ours, same weights, one process.

NVlabs' code is imported from a checkout you give with ``--nvlabs`` (never vendored). At each resolution the
script builds NVlabs' ``training.networks.Generator`` at config-f widths (z/w 512, 8 mapping layers,
channel_base 32768, channel_max 512, fp32 everywhere: num_fp16_res=0, conv_clamp=None) with seeded random
weights, converts its state dict to our StyleGAN2 with our NVIDIA checkpoint loader, and checks that both
give the same image from the same ws with const noise (fails when the fp32 outputs differ by more than 1e-3).
The zero-initialised parameters (noise strengths, biases) are randomised first, so that the check covers
the noise and bias paths too.

Then it times, interleaved in this process (median of ``--repeats`` rounds after a warm-up, ms per image):
NVlabs ``G.synthesis(ws, noise_mode='const')`` in fp32 (eval mode, so its fused grouped convolutions), and
ours ``G.synthesize(G.styles(ws), impl='fast')`` in fp32 and, where the CPU has native bf16 (or with
``--force-bf16``), in bf16. Both sides start from the same ws, so ours includes the style affines that
NVlabs computes inside ``synthesis``. The ratio is NVlabs' time over ours (> 1: ours is faster). The bf16
rows also give the error of our bf16 image against our fp32 image. On a CPU, NVlabs runs its reference
(pure PyTorch) ops.

    python benchmarks/peer_stylegan2.py --nvlabs ~/src/stylegan2-ada-pytorch          # 64², 256², 1024²; batch 1, 8
    python benchmarks/peer_stylegan2.py --nvlabs ~/src/stylegan2-ada-pytorch --resolutions 64,256 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import types
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from regiongan.checkpoints.native import model_from_state
from regiongan.checkpoints.nvidia import config_from_nvidia_kwargs
from regiongan.generators.stylegan2 import StyleGAN2
from regiongan.hardware import describe_cpu, native_bf16
from common import REPO, interleaved, set_threads, torch_env, write_json  # noqa: E402  (benchmarks/ is on sys.path)

CONFIG_F = dict(
    z_dim=512, c_dim=0, w_dim=512, img_channels=3, mapping_kwargs=dict(num_layers=8),
    synthesis_kwargs=dict(channel_base=32768, channel_max=512, num_fp16_res=0, conv_clamp=None),
)  # fmt: skip
PARITY_TOLERANCE = 1e-3  # max abs difference of the fp32 images (values of order 1)


@dataclass
class Row:
    """One line of the table: a resolution, batch and precision of ours, against NVlabs fp32."""

    resolution: int
    batch: int
    precision: str
    nvlabs_ms_per_image: float
    regiongan_ms_per_image: float
    ratio: float
    fp32_parity_max_abs_diff: float
    bf16_max_abs_err_vs_fp32: float | None = None
    bf16_mean_abs_err_vs_fp32: float | None = None
    nvlabs_cpu_ms_per_image: float | None = None  # process CPU time, all threads (spin-waits included)
    regiongan_cpu_ms_per_image: float | None = None
    nvlabs_wall_s: list[float] | None = None
    regiongan_wall_s: list[float] | None = None


# --------------------------------------------------------------------------------------------------
# Building the pair


def import_nvlabs(path: Path) -> types.ModuleType:
    """``training.networks`` of the stylegan2-ada-pytorch checkout at ``path`` (ValueError if it holds none)."""
    if not (path / "training" / "networks.py").is_file():
        raise ValueError(f"--nvlabs {path}: no training/networks.py there; give a checkout of NVlabs/stylegan2-ada-pytorch")
    # Its dnnlib imports requests at module import (for downloads we never make).
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    sys.path.insert(0, str(path.resolve()))
    import training.networks as networks  # noqa: PLC0415  (only importable once the checkout is on sys.path)

    return networks


def nvlabs_commit(path: Path) -> str | None:
    """The checked-out commit of ``path``, or None when it is not a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def build_pair(networks: types.ModuleType, resolution: int, seed: int) -> tuple[torch.nn.Module, StyleGAN2]:
    """NVlabs' config-f ``Generator`` at ``resolution`` with seeded random weights, and our StyleGAN2 holding
    the same weights (converted by our NVIDIA loader); both in eval mode without gradients."""
    torch.manual_seed(seed)
    nv = networks.Generator(img_resolution=resolution, **CONFIG_F).eval().requires_grad_(False)
    for name, p in nv.named_parameters():
        if name.endswith("noise_strength") or (name.endswith("bias") and not name.endswith("affine.bias")):
            p.copy_(0.1 * torch.randn_like(p))  # zero at init; random values let the parity check see them
    state = nv.state_dict()
    source = f"NVlabs Generator {resolution}²"
    config = config_from_nvidia_kwargs(dict(nv.init_kwargs), state, source)
    ours = model_from_state("stylegan2", config, state, source).eval().requires_grad_(False)
    return nv, ours


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


# --------------------------------------------------------------------------------------------------
# Measuring


def measure(
    nv: torch.nn.Module, ours: StyleGAN2, resolution: int, batch: int, repeats: int, bf16: bool, seed: int
) -> list[Row]:
    """The rows of one resolution and batch: parity check, then NVlabs fp32, ours fp32 (and bf16) interleaved."""
    z = torch.randn(batch, ours.z_dim, generator=torch.Generator().manual_seed(seed))
    ws = nv.mapping(z, None)  # [batch, num_ws, w_dim], the same input for both synthesis networks
    mapping_diff = max_abs(ws, ours.map(z))
    runs: dict[str, Callable[[], torch.Tensor]] = {
        "nvlabs fp32": lambda: nv.synthesis(ws, noise_mode="const"),
        "regiongan fp32": lambda: ours.synthesize(ours.styles(ws), impl="fast", precision="fp32").image,
    }
    if bf16:
        runs["regiongan bf16"] = lambda: ours.synthesize(ours.styles(ws), impl="fast", precision="bf16").image
    images = {name: fn() for name, fn in runs.items()}
    parity = max_abs(images["nvlabs fp32"], images["regiongan fp32"])
    scale = images["nvlabs fp32"].abs().max().item()
    print(f"{resolution}², batch {batch}: max |NVlabs - ours| fp32 = {parity:.3g} (image max |x| {scale:.3g}), "
          f"mapping {mapping_diff:.3g}", flush=True)  # fmt: skip
    if not parity <= PARITY_TOLERANCE:  # also catches NaN
        raise SystemExit(
            f"MISMATCH at {resolution}², batch {batch}: NVlabs and regiongan fp32 images differ by {parity:.3g} "
            f"(> {PARITY_TOLERANCE}); the conversion or the fast path is wrong"
        )

    wall, cpu = interleaved(runs, repeats)
    per_image = {name: statistics.median(times) * 1000 / batch for name, times in wall.items()}
    cpu_per_image = {name: statistics.median(times) * 1000 / batch for name, times in cpu.items()}
    rows = []
    for name in runs:
        if not name.startswith("regiongan"):
            continue
        precision = name.split()[1]
        row = Row(
            resolution=resolution, batch=batch, precision=precision,
            nvlabs_ms_per_image=round(per_image["nvlabs fp32"], 1), regiongan_ms_per_image=round(per_image[name], 1),
            ratio=round(per_image["nvlabs fp32"] / per_image[name], 3), fp32_parity_max_abs_diff=parity,
            nvlabs_cpu_ms_per_image=round(cpu_per_image["nvlabs fp32"], 1),
            regiongan_cpu_ms_per_image=round(cpu_per_image[name], 1),
            nvlabs_wall_s=[round(t, 4) for t in wall["nvlabs fp32"]], regiongan_wall_s=[round(t, 4) for t in wall[name]],
        )  # fmt: skip
        if precision == "bf16":
            err = (images[name] - images["regiongan fp32"]).abs()
            row.bf16_max_abs_err_vs_fp32 = round(err.max().item(), 5)
            row.bf16_mean_abs_err_vs_fp32 = round(err.mean().item(), 6)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# Reporting


def markdown_table(rows: list[Row]) -> str:
    """The table of issue #16: fp32 rows first, then the bf16 rows (NVlabs has no bf16 path: its fp32 time)."""
    lines = [
        "| config-f, fp32 unless noted | NVlabs ada (ms/img) | regiongan fast (ms/img) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r.precision != "fp32", r.resolution, r.batch)):
        config = f"{r.resolution}², batch {r.batch}" + (", **bf16**" if r.precision == "bf16" else "")
        ratio = f"{r.ratio:.2f}×"
        if r.precision == "bf16":
            ratio += f" (max abs error {r.bf16_max_abs_err_vs_fp32:.2g})"
        lines.append(f"| {config} | {r.nvlabs_ms_per_image:.0f} | {r.regiongan_ms_per_image:.0f} | {ratio} |")
    return "\n".join(lines)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 1,8, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvlabs", type=Path, required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--resolutions", type=int_list, default=[64, 256, 1024], help="default: 64,256,1024")
    ap.add_argument("--batches", type=int_list, default=[1, 8], help="default: 1,8")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds after the warm-up (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--force-bf16", action="store_true", help="time bf16 even where the CPU has no native bf16 (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "peer_stylegan2.json")
    args = ap.parse_args()
    try:
        networks = import_nvlabs(args.nvlabs)
    except ValueError as e:
        ap.error(str(e))
    set_threads(args.threads)
    bf16 = native_bf16() or args.force_bf16
    cpu = describe_cpu()
    print(cpu)
    print(torch_env())
    if not bf16:
        print("bf16 skipped: this CPU has no native bf16 (AMX / AVX-512 BF16); --force-bf16 times it anyway")

    rows: list[Row] = []
    with torch.no_grad():
        for res in args.resolutions:
            nv, ours = build_pair(networks, res, args.seed)
            for batch in args.batches:
                rows += measure(nv, ours, res, batch, args.repeats, bf16, args.seed + 1)
            del nv, ours

    print()
    print(markdown_table(rows))
    print(f"\n{cpu}; {torch_env()}; median of {args.repeats} interleaved rounds")
    meta = dict(
        cpu=cpu, torch=torch.__version__, threads=torch.get_num_threads(), repeats=args.repeats, seed=args.seed,
        nvlabs_path=str(args.nvlabs.resolve()), nvlabs_commit=nvlabs_commit(args.nvlabs),
        parity_tolerance=PARITY_TOLERANCE, config=CONFIG_F,
    )  # fmt: skip
    out = write_json(args.out, {"meta": meta, "rows": [asdict(r) for r in rows]})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
