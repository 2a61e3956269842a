"""SPADE (regiongan.generators.spade): the paper's comparison on our scenes, training speed, NVlabs forward time.

    python benchmarks/spade.py --eval runs/spade64/model --baseline runs/spade64-baseline/model
    python benchmarks/spade.py --eval runs/spade64 --baseline runs/spade64-baseline --kimg 18   # equal images seen
    python benchmarks/spade.py --train-speed             # kimg/h of SPADE and the baseline at 64², one process
    python benchmarks/spade.py --nvlabs ~/src/SPADE      # forward time vs NVlabs' generator, COCO config
    python benchmarks/spade.py --memory --nvlabs ~/src/SPADE --eval scenes-spade-64   # peak memory of a forward

**Comparison** (``--eval``; the paper's Table 1 protocol with our parser as the segmenter). ``--count``
label maps of the ``scenes`` world — stream ``--stream`` (0) from index ``--start`` (10⁷, far beyond any
training run's images, so held out) — are painted by each model (z from seed i for map i with a VAE). The
part parser ``parser-scenes-64`` segments the outputs; **pixel accuracy** and **mIoU** (over the classes of
the input maps) are measured against the INPUT label map. The real images of the same maps give the
parser's own ceiling. **FD-parser** compares each set of ``count`` images with the procedural images
``0 .. count-1`` of stream 0 (:func:`regiongan.parser.metrics.fd_parser`); the floor is two disjoint
procedural sets of that size (:func:`~regiongan.parser.metrics.fd_parser_floor`). Writes
``benchmarks/results/spade_eval.csv``, prints a markdown table, and saves the grid
``docs/img/spade_comparison.png`` (label map | SPADE | baseline | real, one row per map).

**Training speed** (``--train-speed``): a few optimiser steps of the default 64² configurations of both
(``--family spade`` and ``--label-injection input``, batch 8), interleaved, in one process.

**NVlabs** (``--nvlabs PATH``): our generator and NVlabs' ``SPADEGenerator`` (imported from the NVlabs/SPADE
checkout at PATH) at the COCO-Stuff configuration (184 channels, 256², ngf 64, no VAE) with the same random
weights; the outputs are compared and the forward times reported. Skipped with a message without PATH.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from argparse import Namespace
from pathlib import Path

import torch

from common import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    DOCS_IMG, REPO, add_threads, export_at, interleaved, print_written, set_threads, torch_env, write_csv,
)  # fmt: skip
from regiongan.checkpoints import load_model
from regiongan.data.worlds import get_world
from regiongan.generators.spade import SPADEModel
from regiongan.images import make_grid
from regiongan.latents import z_from_seeds
from regiongan.parser import load_parser
from regiongan.parser.metrics import fd_parser, fd_parser_floor, world_feature_statistics
from regiongan.parser.training import confusion_matrix, images_to_tensor
from regiongan.training.families.spade import label_colors

RESULTS = REPO / "benchmarks" / "results"
#: Indices of the held-out label maps start here (a run would need 10⁴ kimg to reach them).
HELD_OUT_START = 10_000_000


def held_out(count: int, stream: int, start: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` real images ``[N, 3, size, size]`` in [-1, 1] and their label maps ``[N, size, size]`` int64."""
    images, labels, _, _ = get_world("scenes").sample_batch(stream, start, count, size)
    return images_to_tensor(images), torch.from_numpy(labels.astype("int64"))


@torch.no_grad()
def paint(G: SPADEModel, labels: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """``G`` on every label map, z from seed i for map i (VAE models) -> ``[N, 3, H, W]`` (CPU)."""
    z = z_from_seeds(range(len(labels)), G.z_dim) if G.use_vae else None
    out = []
    for lo in range(0, len(labels), batch):
        out.append(G.synthesize_labels(labels[lo : lo + batch], None if z is None else z[lo : lo + batch]).cpu())
    return torch.cat(out)


@torch.no_grad()
def segmentation_scores(parser, images: torch.Tensor, labels: torch.Tensor, batch: int = 100) -> dict[str, float]:
    """Pixel accuracy and mIoU (mean over classes present in ``labels``) of the parser on ``images`` against
    ``labels``; images are resized to the parser's 64² when needed."""
    p = len(parser.part_names)
    cm = torch.zeros(p, p, dtype=torch.int64)
    for lo in range(0, len(images), batch):
        x = images[lo : lo + batch]
        y = labels[lo : lo + batch]
        if x.shape[-1] != 64:
            x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
            y = torch.nn.functional.interpolate(y[:, None].float(), size=(64, 64), mode="nearest")[:, 0].long()
        cm += confusion_matrix(parser(x).logits.argmax(dim=1), y, p)
    inter = cm.diag().double()
    union = cm.sum(0).double() + cm.sum(1).double() - inter
    present = cm.sum(1) > 0
    return {"pixel_acc": float(inter.sum() / cm.sum()), "miou": float((inter[present] / union[present]).mean())}


def evaluate(args: argparse.Namespace) -> None:
    if args.kimg is not None:  # both runs at the same number of images seen
        scratch = REPO / "runs" / "spade_eval_at_kimg"
        args.eval = str(export_at(Path(args.eval), args.kimg, scratch / "spade"))
        if args.baseline:
            args.baseline = str(export_at(Path(args.baseline), args.kimg, scratch / "baseline"))
    parser = load_parser(args.parser)
    models = {"SPADE": load_model(args.eval)}
    if args.baseline:
        models["baseline (label at input)"] = load_model(args.baseline)
    size = next(iter(models.values())).img_resolution
    real, labels = held_out(args.count, args.stream, args.start, size)
    print(f"{args.count} held-out label maps (scenes stream {args.stream}, from index {args.start}), {size}², {torch_env()}")
    reference = world_feature_statistics(parser, "scenes", args.count, 0, 0)
    floor = fd_parser_floor(parser, "scenes", args.count)
    rows, painted = [], {}
    for name, G in models.items():
        G.eval()
        params = sum(t.numel() for t in G.state_dict().values() if t.is_floating_point())
        painted[name] = paint(G, labels)
        rows.append({"model": name, "params_M": round(params / 1e6, 3),
                     **segmentation_scores(parser, painted[name], labels),
                     "fd_parser": fd_parser(painted[name], parser, args.count, reference=reference)})  # fmt: skip
    rows.append({"model": "real images (parser ceiling)", "params_M": None, **segmentation_scores(parser, real, labels),
                 "fd_parser": fd_parser(real, parser, args.count, reference=reference)})  # fmt: skip
    for r in rows:
        r["fd_floor"] = floor
        r["count"] = args.count
    path = write_csv(RESULTS / "spade_eval.csv", rows)
    print("\n| model | parameters | pixel accuracy | mIoU | FD-parser (floor %.2f) |\n|---|---|---|---|---|" % floor)
    for r in rows:
        params = "—" if r["params_M"] is None else f"{r['params_M']:.2f} M"
        print(f"| {r['model']} | {params} | {r['pixel_acc']:.3f} | {r['miou']:.3f} | {r['fd_parser']:.2f} |")
    n = min(args.grid, args.count)
    tiles = [label_colors(labels[:n])] + [painted[k][:n] for k in models] + [real[:n]]
    grid = make_grid(torch.stack(tiles, dim=1).flatten(0, 1), ncols=len(tiles), scale=2)
    out = Path(args.figures_dir) / "spade_comparison.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    print("columns: label map | " + " | ".join(models) + " | real")
    print_written([path, out])


def train_speed(args: argparse.Namespace) -> None:
    from regiongan.training import TrainConfig
    from regiongan.training.distributed import Distributed
    from regiongan.training.loop import Trainer

    trainers = {}
    for name, injection in (("SPADE", "spade"), ("baseline", "input")):
        cfg = TrainConfig(family="spade", data="scenes", resolution=64, batch=args.batch, label_injection=injection,
                          run_dir=str(RESULTS / "unused"), progress=False)  # fmt: skip
        trainers[name] = Trainer(cfg, Distributed())
    wall, _ = interleaved({k: tr.train_step for k, tr in trainers.items()}, args.repeats)
    print(f"training steps of batch {args.batch} at 64², median of {args.repeats}, {torch_env()}")
    for name, tr in trainers.items():
        s = statistics.median(wall[name])
        params = sum(p.numel() for p in tr.G.parameters())
        print(f"  {name:9s} G {params / 1e6:.2f} M params: {s:.2f} s/step  {args.batch / s * 3.6:.2f} kimg/h")


def _stub_nvlabs_extras(root: Path) -> None:
    """NVlabs' generator module imports things its forward never uses: torchvision (for the VGG loss), dill
    (to pickle options) and the ``sync_batchnorm`` submodule (a one-process sync batch norm is ``BatchNorm2d``). Stand-ins are
    installed for whichever is missing, and said so."""
    import importlib.util
    import types

    for name, user in (("torchvision", "NVlabs' VGG loss"), ("dill", "NVlabs' opt.pkl writer")):
        if importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)
            print(f"note: {name} is not installed; a stand-in module is used (only {user} needs it)")
    if not (root / "models" / "networks" / "sync_batchnorm" / "__init__.py").exists():
        stub = types.ModuleType("models.networks.sync_batchnorm")
        stub.SynchronizedBatchNorm2d = torch.nn.BatchNorm2d
        sys.modules["models.networks.sync_batchnorm"] = stub
        print("note: the sync_batchnorm submodule is absent; BatchNorm2d stands in (the same on one process)")


def nvlabs_forward(args: argparse.Namespace) -> None:
    if not args.nvlabs:
        print("skipping the NVlabs comparison: give --nvlabs PATH (a checkout of github.com/NVlabs/SPADE)")
        return
    root = Path(args.nvlabs).expanduser().resolve()
    sys.path.insert(0, str(root))
    _stub_nvlabs_extras(root)
    try:
        from models.networks.generator import SPADEGenerator
    except Exception as e:  # noqa: BLE001 - any import failure means: no comparison, say why
        print(f"skipping the NVlabs comparison: cannot import models.networks.generator from {args.nvlabs} ({e})")
        return
    opt = Namespace(ngf=64, semantic_nc=184, label_nc=182, contain_dontcare_label=True, no_instance=False,
                    num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0, use_vae=False, z_dim=256,
                    norm_G="spectralspadesyncbatch3x3")  # fmt: skip
    torch.manual_seed(0)
    ours = SPADEModel(label_nc=184, instance_edge=True).eval().requires_grad_(False)
    theirs = SPADEGenerator(opt)
    theirs.load_state_dict(ours.state_dict())
    theirs = theirs.eval().requires_grad_(False)
    seg = ours.label_input(torch.randint(0, 183, (args.nvlabs_batch, 256, 256)))
    with torch.no_grad():
        err = float((ours(seg) - theirs(seg)).abs().max())
    wall, _ = interleaved({"ours": lambda: ours(seg), "NVlabs": lambda: theirs(seg)}, args.repeats)
    a, b = statistics.median(wall["ours"]), statistics.median(wall["NVlabs"])
    print(f"COCO config (184 channels, 256², ngf 64), batch {args.nvlabs_batch}, {torch_env()}; max |ours − NVlabs| = {err:.2e}")
    print(f"  ours {a:.3f} s, NVlabs {b:.3f} s per forward: ratio {a / b:.2f}")


def _memory_child(kind: str, batch: int, nvlabs: str | None, q) -> None:
    """Peak resident memory of one no-grad forward, above the interpreter with torch imported (child process)."""
    from common import peak_rss_mib

    torch.set_num_threads(1)
    before = peak_rss_mib()
    if kind == "NVlabs COCO":
        root = Path(nvlabs).expanduser().resolve()
        sys.path.insert(0, str(root))
        _stub_nvlabs_extras(root)
        from models.networks.generator import SPADEGenerator

        opt = Namespace(ngf=64, semantic_nc=184, label_nc=182, contain_dontcare_label=True, no_instance=False,
                        num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0, use_vae=False, z_dim=256,
                        norm_G="spectralspadesyncbatch3x3")  # fmt: skip
        G = SPADEGenerator(opt).eval().requires_grad_(False)
        seg = torch.zeros(batch, 184, 256, 256)
        seg[:, 0] = 1
    else:
        G = SPADEModel(label_nc=184, instance_edge=True) if kind == "ours COCO" else load_model(kind)
        G = G.eval().requires_grad_(False)
        size = 256 if kind == "ours COCO" else G.img_resolution
        seg = G.label_input(torch.zeros(batch, size, size, dtype=torch.int64))
    with torch.no_grad():
        G(seg)
    q.put(peak_rss_mib() - before)


def memory(args: argparse.Namespace) -> None:
    """Peak memory of a forward per configuration, each in a fresh child process."""
    import multiprocessing as mp

    kinds = ["ours COCO"] + (["NVlabs COCO"] if args.nvlabs else []) + [m for m in (args.eval, args.baseline) if m]
    ctx = mp.get_context("spawn")
    print(f"peak resident memory of one forward above torch's import (MiB), {torch_env()}")
    for kind in kinds:
        for batch in (1, args.batch):
            q = ctx.Queue()
            p = ctx.Process(target=_memory_child, args=(kind, batch, args.nvlabs, q))
            p.start()
            value = q.get()
            p.join()
            print(f"  {kind:40s} batch {batch}: {value:8.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval", metavar="DIR", help="a trained SPADE model folder (e.g. runs/spade64/model)")
    ap.add_argument("--baseline", metavar="DIR", help="the label-at-the-input baseline's model folder")
    ap.add_argument("--kimg", type=float, default=None,
                    help="--eval/--baseline are RUN folders: compare their snapshots at (or just before) this kimg")
    ap.add_argument("--count", type=int, default=500, help="held-out label maps (and FD-parser set size)")
    ap.add_argument("--stream", type=int, default=0)
    ap.add_argument("--start", type=int, default=HELD_OUT_START)
    ap.add_argument("--parser", default="parser-scenes-64")
    ap.add_argument("--grid", type=int, default=8, help="rows of the sample grid")
    ap.add_argument("--figures-dir", default=str(DOCS_IMG))
    ap.add_argument("--train-speed", action="store_true")
    ap.add_argument("--memory", action="store_true",
                    help="peak memory of a forward: ours (and NVlabs' with --nvlabs) at COCO, and --eval/--baseline models")
    ap.add_argument("--nvlabs", metavar="PATH", help="a checkout of NVlabs/SPADE: compare forward times")
    ap.add_argument("--batch", type=int, default=8, help="batch of --train-speed")
    ap.add_argument("--nvlabs-batch", type=int, default=1, help="batch of the --nvlabs forward")
    ap.add_argument("--repeats", type=int, default=3)
    add_threads(ap)
    args = ap.parse_args()
    set_threads(args.threads)
    if args.memory:
        memory(args)
        return
    if not (args.eval or args.train_speed or args.nvlabs is not None):
        ap.error("choose --eval DIR [--baseline DIR], --train-speed, --memory and/or --nvlabs PATH")
    if args.eval:
        evaluate(args)
    if args.train_speed:
        train_speed(args)
    if args.nvlabs is not None or args.train_speed:
        nvlabs_forward(args)


if __name__ == "__main__":
    main()
