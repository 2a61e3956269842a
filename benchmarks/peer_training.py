"""Training throughput (kimg/h) of our StyleGAN2 training step against NVlabs' training loop, in one process.

    python benchmarks/peer_training.py --nvlabs /work/peers/stylegan2-ada-pytorch
    python benchmarks/peer_training.py --nvlabs PATH --block 16 --rounds 3 --threads 2   # the defaults

NVlabs' code (a checkout of NVlabs/stylegan2-ada-pytorch) is imported from ``--nvlabs``, never copied: its
``training.networks.Generator`` / ``Discriminator`` and ``training.loss.StyleGAN2Loss``, driven by
:class:`NVlabsLoop`, our rewrite of the inner step of their ``training/training_loop.py`` (phases
Gmain|Gboth / Greg / Dmain / Dreg at their intervals, Adam with the lazy-regularisation lr/beta correction,
gradients through ``nan_to_num``, the G EMA update; no augmentation, metrics, snapshots or logging).

Both train faces-64's configuration (the shipped model's ``train_config``: 64², z/w 256, 4 mapping layers,
G and D widths 4:256 8:256 16:128 32:64 64:32, skip G, resnet D, mbstd group 4, style mixing 0.9, R1 γ 0.2
every 16 steps, no path-length regulariser, EMA 5 kimg with ramp-up 0.05, no augmentation) at batch 16 on
the same real images from our ``faces`` world. NVlabs' loop gets them the way its DataLoader would (uint8,
prefetched: rendered before timing); ours renders them inside its step (:class:`~regiongan.training.loop.Trainer`
``.train_step()``), which is part of what is measured. With ``--pl-weight`` > 0 both run the path-length
regulariser every 4 steps (NVlabs' Greg phase); at 0 NVlabs' G runs as one ``Gboth`` phase without a
correction of Adam, like ours.

Timing: one warm-up step each (step 0 runs every phase, so every kernel is chosen), then ``--rounds``
rounds that run ``--block`` steps of each configuration in turn (NVlabs fp32, ours fp32, ours
``--precision auto``), so that background load hits all alike; every configuration runs the same step
indices, and with ``rounds · block`` a multiple of the R1 interval (16) the same share of R1 steps as a
long run. kimg/h and ratios are from the total time over all rounds: wall clock (what a run gets) and
process CPU time (less sensitive to other processes on a shared machine; with more than one thread it
also counts threads waiting for each other). The per-round spread of the wall ratio shows the noise.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, Callable

import torch

from common import clocked, machine  # noqa: E402  (benchmarks/ is on sys.path)
from regiongan.checkpoints import shipped_model_dir
from regiongan.checkpoints.native import read_config
from regiongan.training import TrainConfig
from regiongan.training.data import open_real_images
from regiongan.training.distributed import Distributed
from regiongan.training.loop import Trainer

#: Fields of the shipped model's train_config that only steer a run (not its step); replaced here.
_RUN_FIELDS = ("run_dir", "kimg", "resume", "progress", "threads", "precision", "device")


def faces64_config(precision: str, run_dir: str, threads: int, **overrides: Any) -> TrainConfig:
    """faces-64's training configuration (from its config.json), on the CPU, with ``precision``."""
    model = shipped_model_dir("faces-64")
    if model is None:
        raise SystemExit("faces-64 is not shipped in src/regiongan/models/; its train_config defines the benchmark")
    train_config = dict(read_config(model)["extra"]["train_config"])
    for name in _RUN_FIELDS:
        train_config.pop(name, None)
    train_config.update(overrides)
    return TrainConfig(
        **train_config, run_dir=run_dir, kimg=1e6, progress=False, threads=threads, precision=precision, device="cpu"
    )


def nvlabs_widths(channels: dict[int, int], resolution: int) -> tuple[int, int]:
    """``(channel_base, channel_max)`` with ``min(channel_base // r, channel_max) == channels[r]`` for every
    resolution 4..R, the only way NVlabs' networks set widths; a ValueError when no such pair exists."""
    base, cmax = channels[resolution] * resolution, max(channels.values())
    got = {r: min(base // r, cmax) for r in channels}
    if got != channels:
        raise ValueError(f"NVlabs' networks cannot have widths {channels} (closest: {got}); pick widths min(b // r, m)")
    return base, cmax


def import_nvlabs(path: str) -> types.SimpleNamespace:
    """NVlabs' ``training.networks``, ``training.loss`` and ``torch_utils.misc`` from the checkout at ``path``."""
    root = Path(path).expanduser().resolve()
    if not (root / "training" / "networks.py").is_file():
        raise SystemExit(f"--nvlabs {path}: no training/networks.py there; give a checkout of NVlabs/stylegan2-ada-pytorch")
    sys.modules.setdefault("requests", types.ModuleType("requests"))  # dnnlib imports it; no network is used
    sys.path.insert(0, str(root))
    import training.loss as loss  # type: ignore[import-not-found]
    import training.networks as networks  # type: ignore[import-not-found]
    from torch_utils import misc  # type: ignore[import-not-found]

    return types.SimpleNamespace(networks=networks, loss=loss, misc=misc)


class NVlabsLoop:
    """NVlabs' ``training_loop`` inner step (our own code driving their modules) for ``cfg``, batch on one
    device (batch_gpu = batch), fp32, no augmentation. ``step(real_uint8 [batch, 3, R, R])`` runs one step."""

    def __init__(self, nv: types.SimpleNamespace, cfg: TrainConfig, seed: int = 0) -> None:
        torch.manual_seed(seed)
        base, cmax = nvlabs_widths(cfg.g_channels, cfg.resolution)
        if cfg.d_channels and nvlabs_widths(cfg.d_channels, cfg.resolution) != (base, cmax):
            raise ValueError("NVlabs' loop needs D's widths equal to G's here")
        common = dict(c_dim=0, img_resolution=cfg.resolution, img_channels=3)
        net = dict(channel_base=base, channel_max=cmax, num_fp16_res=0, conv_clamp=None)
        self.G = nv.networks.Generator(
            z_dim=cfg.z_dim, w_dim=cfg.w_dim, **common, mapping_kwargs=dict(num_layers=cfg.mapping_layers),
            synthesis_kwargs=dict(architecture=cfg.g_architecture, **net),
        ).train().requires_grad_(False)  # fmt: skip
        self.D = nv.networks.Discriminator(
            **common, architecture="resnet", **net, epilogue_kwargs=dict(mbstd_group_size=cfg.mbstd_group)
        ).train().requires_grad_(False)  # fmt: skip
        self.G_ema = copy.deepcopy(self.G).eval()
        self.loss = nv.loss.StyleGAN2Loss(
            device=torch.device("cpu"), G_mapping=self.G.mapping, G_synthesis=self.G.synthesis, D=self.D,
            style_mixing_prob=cfg.style_mixing, r1_gamma=cfg.r1_gamma, pl_weight=cfg.pl_weight,
            pl_decay=cfg.pl_decay, pl_batch_shrink=cfg.pl_batch_shrink,
        )  # fmt: skip
        self.misc, self.cfg = nv.misc, cfg
        self.phases: list[dict[str, Any]] = []
        g_interval = cfg.pl_interval if cfg.pl_weight > 0 else None
        d_interval = cfg.r1_interval if cfg.r1_gamma > 0 else None
        for name, module, lr, interval in (("G", self.G, cfg.g_lr, g_interval), ("D", self.D, cfg.d_lr, d_interval)):
            ratio = interval / (interval + 1) if interval else 1.0
            opt = torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=[cfg.beta1**ratio, cfg.beta2**ratio], eps=1e-8)
            if interval is None:
                self.phases.append(dict(name=name + "both", module=module, opt=opt, interval=1))
            else:
                self.phases.append(dict(name=name + "main", module=module, opt=opt, interval=1))
                self.phases.append(dict(name=name + "reg", module=module, opt=opt, interval=interval))
        self.batch_idx, self.cur_nimg = 0, 0

    def step(self, real_uint8: torch.Tensor) -> None:
        cfg, batch = self.cfg, real_uint8.shape[0]
        # data_fetch (one round per phase: batch_gpu = batch_size, one process)
        real_img = real_uint8.to(torch.float32) / 127.5 - 1
        real_c = torch.zeros([batch, 0])
        all_gen_z = torch.randn([len(self.phases) * batch, self.G.z_dim]).split(batch)
        all_gen_c = torch.zeros([len(self.phases) * batch, 0]).split(batch)
        for phase, gen_z, gen_c in zip(self.phases, all_gen_z, all_gen_c):
            if self.batch_idx % phase["interval"] != 0:
                continue
            phase["opt"].zero_grad(set_to_none=True)
            phase["module"].requires_grad_(True)
            self.loss.accumulate_gradients(
                phase=phase["name"], real_img=real_img, real_c=real_c, gen_z=gen_z, gen_c=gen_c, sync=True,
                gain=phase["interval"],
            )  # fmt: skip
            phase["module"].requires_grad_(False)
            for param in phase["module"].parameters():
                if param.grad is not None:
                    self.misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            phase["opt"].step()
        with torch.no_grad():  # G_ema (their loop runs it with every module frozen, so without a graph)
            ema_nimg = cfg.ema_kimg * 1000
            if cfg.ema_rampup:
                ema_nimg = min(ema_nimg, self.cur_nimg * cfg.ema_rampup)
            ema_beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.cur_nimg += batch
        self.batch_idx += 1


def real_pool(cfg: TrainConfig, batches: int) -> list[torch.Tensor]:
    """The first ``batches`` real batches of our stream (as our trainer sees them), as uint8 ``[B, 3, R, R]``
    (NVlabs' dataset format; the images are exact multiples of 1/127.5, so nothing is lost)."""
    data = open_real_images(cfg.data, cfg.resolution, cfg.data_seed, cfg.seed)
    out = []
    for i in range(batches):
        x, _ = data.batch(i * cfg.batch, cfg.batch)
        out.append(((x + 1) * 127.5).round().to(torch.uint8))
    return out


def steps_fn(step: Callable[[], None], count: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(count):
            step()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvlabs", required=True, help="checkout of NVlabs/stylegan2-ada-pytorch (imported from there)")
    ap.add_argument("--block", type=int, default=16, help="steps per timed block (16: one R1 step per block)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds; each runs a block of every configuration")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pl-weight", type=float, default=None, help="path-length weight (default: faces-64's, 0)")
    ap.add_argument("--skip", default="", help="comma-separated configurations to leave out (nvlabs, fp32, auto)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    nv = import_nvlabs(args.nvlabs)
    overrides = {} if args.pl_weight is None else {"pl_weight": args.pl_weight}

    tmp = tempfile.mkdtemp(prefix="peer_training-")
    ours = {p: Trainer(faces64_config(p, f"{tmp}/{p}", args.threads, **overrides), Distributed()) for p in ("fp32", "auto")}
    cfg = ours["fp32"].cfg
    nvlabs = NVlabsLoop(nv, cfg)
    pool = real_pool(cfg, 1 + args.block * args.rounds)
    cursor = iter(range(len(pool)))

    def nvlabs_step() -> None:
        nvlabs.step(pool[next(cursor) % len(pool)])

    named = {
        "nvlabs": ("NVlabs fp32", nvlabs_step),
        "fp32": ("ours fp32", ours["fp32"].train_step),
        "auto": (f"ours auto ({ours['auto'].cfg.precision})", ours["auto"].train_step),
    }
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    configs = {label: fn for key, (label, fn) in named.items() if key not in skip}
    print(
        f"faces-64 config at {cfg.resolution}², batch {cfg.batch}, R1 every {cfg.r1_interval}, pl_weight {cfg.pl_weight}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {machine()}",
        flush=True,
    )
    for name, fn in configs.items():
        print(f"warm-up {name}: {clocked(fn)[1]:.2f} s (step 0: every phase)", flush=True)
    wall: dict[str, list[float]] = {name: [] for name in configs}
    cpu: dict[str, list[float]] = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, fn in configs.items():
            _, w, c = clocked(steps_fn(fn, args.block))
            wall[name].append(w)
            cpu[name].append(c)
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1] / args.block:.3f} s/step" for n, t in wall.items()), flush=True)

    steps = args.block * args.rounds
    base = "NVlabs fp32" if "NVlabs fp32" in wall else next(iter(wall))
    print(f"\n{steps} steps each ({args.rounds} rounds of {args.block}), batch {cfg.batch}, {args.threads} thread(s)")
    print(f"| config | wall s/step | kimg/h | ×{base} (wall) | per-round range | CPU s/step | ×{base} (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in wall:
        w, c = sum(wall[name]), sum(cpu[name])
        per_round = [b / t for b, t in zip(wall[base], wall[name])]
        print(
            f"| {name} | {w / steps:.3f} | {steps * cfg.batch / 1000 / w * 3600:.2f} | {sum(wall[base]) / w:.2f}x "
            f"| {min(per_round):.2f}–{max(per_round):.2f} | {c / steps:.3f} | {sum(cpu[base]) / c:.2f}x |"
        )


if __name__ == "__main__":
    main()
