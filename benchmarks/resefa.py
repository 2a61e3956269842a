"""ReSeFa (regiongan.methods.resefa): speed of the Jacobian engine and the solvers, locality evaluation,
and the documentation figures.

    python benchmarks/resefa.py                # speed: pipeline per sample, forward vs reverse mode, solvers, memory
    python benchmarks/resefa.py --eval         # locality vs GANSpace PCA and random directions (needs a trained model)
    python benchmarks/resefa.py --figures      # regenerate docs/img/resefa_*.png

Model: ``--model`` (default ``faces-64`` when shipped, or a path such as ``runs/faces64/model``). The speed
mode and the figures fall back to a random StyleGAN2 of faces-64's architecture (z/w 256, 4 mapping
layers, channels 4:256, 8:256, 16:128, 32:64, 64:32); the evaluation needs a trained model (random
weights have no parts) and skips otherwise.

Speed (one process per measurement, so that each reports its own peak resident memory,
``resource.getrusage``): W space (d = w_dim), one box region, ``--threads`` (default 1: a GAN training
run shares this machine).

* ``pipeline``: :func:`~regiongan.methods.resefa.find_directions` end to end (images, forward-mode
  Jacobians, Grams, solve) on ``--samples`` samples after one untimed warm-up call (imports, oneDNN
  kernel choice); seconds per sample.
* ``forward``: the Jacobian alone per ``--chunks`` size, both ways: functorch ``vmap(jvp)``
  (:func:`regiongan.jacobian.forward_jacobian`, any model) and StyleGAN2's own tangent pass
  (``synthesize_jvp`` via ``generators.base.tangent_pass``, what the pipeline uses), and one forward
  pass per image at batch 32 (a tangent pass costs about one forward pass: the ratio is the engine's
  overhead).
* ``reverse``: the official approach — one ``autograd.grad`` per output row (what
  ``torch.autograd.functional.jacobian`` runs): ``--reverse-rows`` rows are timed and the time is
  **extrapolated** to all P = 3·R² rows (graph build + P × per-row time). Also a vmapped backward over
  32 rows at a time (``is_grads_batched``), likewise extrapolated.
* ``solvers``: Cholesky vs Woodbury on the pipeline's Grams (d = w_dim), and on synthetic W+ Grams
  (d = num_ws · w_dim, ``--no-wplus`` skips them): from B, and Woodbury from J_b rows with a truncated
  (randomized) SVD.

Evaluation (``--eval``): directions in W from ``--gram-samples`` images (seeds 0…); ``--test-samples``
other images (seeds 10000…) measure In-/Out-MSE (CIELAB, regiongan.metrics.locality) of ``w + t·n``
against the original, for t on a geometric sweep and both signs. Compared at matched In-MSE (log-log
interpolation of each Out(In) curve): the top ReSeFa direction, the top global direction of W (PCA of 10k
mapped samples, GANSpace-style) and ``--random`` random unit directions (their curves averaged). Regions:
``part:eyes|mouth|nose`` (parser masks of every image; needs the part parser) and a free box. Writes CSV
files and a plot to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, ImageDraw

from regiongan.hardware import describe_cpu
from regiongan.images import make_grid
from regiongan.latents import z_from_seeds
from regiongan.jacobian import forward_jacobian, reverse_jacobian
from regiongan.methods.resefa import (
    edit,
    edited_ws,
    family_space,
    find_directions,
    image_function,
    latent_dim,
    latent_rows,
    solve_cholesky,
    solve_woodbury,
    tangent_function,
)
from regiongan.methods.sampling import render
from regiongan.regions import parse_region
from common import (  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
    InOut,
    add_output_dirs,
    clocked,
    load_parser_or_none,
    log_decades,
    method_parser,
    model_or_random,
    outline,
    peak_rss_mib,
    print_table,
    print_written,
    random_stylegan2,
    set_threads,
    timed,
    trained_or_skip,
    write_csv,
    write_json,
)

PARTS = {"eyes": ["eye_left", "eye_right"], "mouth": ["mouth"], "nose": ["nose"]}
FALLBACK = dict(z_dim=256, w_dim=256, img_resolution=64, mapping_layers=4, channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32})
#: ``--model config-f-256``: a realistic user model, StyleGAN2 config-f at 256² with random weights (z/w 512,
#: 8 mapping layers, channel_base 32768, channel_max 512: 512 channels up to 64², 256 at 128², 128 at 256²).
CONFIG_F_256 = dict(z_dim=512, w_dim=512, img_resolution=256, channel_base=32768, channel_max=512)


# --------------------------------------------------------------------------------------------------
# Models and regions


def random_model():
    return random_stylegan2(**FALLBACK)


def model_or_fallback(name: str) -> tuple[torch.nn.Module, str, bool]:
    """``(G, label, trained)``: the model, else a random one of faces-64's architecture; ``config-f-256``: a
    random 256² config-f StyleGAN2 (:data:`CONFIG_F_256`)."""
    if name == "config-f-256":
        return random_stylegan2(**CONFIG_F_256), "random StyleGAN2 config-f 256²", False
    G, label, trained = model_or_random(
        name, random_model, "a random StyleGAN2 of faces-64's architecture", "random StyleGAN2 (faces-64 architecture)"
    )
    return G.eval().requires_grad_(False), label, trained


def scaled_box(res: int, box: tuple[float, float, float, float] = (16, 36, 48, 56)) -> str:
    """A box written for 64² faces (default: around the mouth) at resolution ``res``."""
    s = res / 64
    return "box:" + ",".join(f"{v * s:g}" for v in box)


# --------------------------------------------------------------------------------------------------
# Speed: child processes


def child(task: str, args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    G, label, _ = model_or_fallback(args.model)
    res = G.img_resolution
    region = args.region or scaled_box(res)
    out: dict = {"task": task, "model": label}
    z = z_from_seeds([0], G.z_dim)
    ws = G.map(z)
    rows = latent_rows(G, "w")
    f, x0 = image_function(G, "w", ws, None, rows, 1.0)
    with torch.no_grad():
        f(x0)
    if task == "baseline":
        pass
    elif task == "pipeline":
        # every precision in one process, interleaved (background load hits all alike); ratios against fp32
        calls = {p: (lambda p=p: find_directions(G, region, samples=args.samples, k=10, chunk=args.chunk, precision=p))
                 for p in args.precisions}  # fmt: skip
        if args.warmup:
            for p in args.precisions:
                find_directions(G, region, samples=1, k=10, chunk=args.chunk, precision=p)
        runs = {p: [] for p in args.precisions}
        for _ in range(args.repeats):
            for p, fn in calls.items():
                runs[p].append(clocked(fn))
        best = {p: min(r, key=lambda r: r[2]) for p, r in runs.items()}  # least CPU time: least disturbed
        dirs = best[args.precisions[0]][0]
        out.update(
            samples=args.samples, d=dirs.dim, P=3 * res * res, region=region, chunk=args.chunk, warmup=args.warmup,
            precisions={p: {
                "seconds_per_sample": w / args.samples, "cpu_seconds_per_sample": c / args.samples,
                "jacobian_seconds_per_sample": dr.meta["jacobian_seconds_per_sample"], "solve_seconds": dr.meta["solve_seconds"],
                "min_abs_cos_vs_first_top3": float((dr.vectors[:3] * dirs.vectors[:3]).sum(1).abs().min()),
                "max_rel_eig_diff_top3": float(((dr.eigenvalues[:3] - dirs.eigenvalues[:3]) / dirs.eigenvalues[:3]).abs().max()),
            } for p, (dr, w, c) in best.items()},
        )  # fmt: skip
        first = out["precisions"][args.precisions[0]]
        out.update(seconds_per_sample=first["seconds_per_sample"], jacobian_seconds_per_sample=first["jacobian_seconds_per_sample"],
                   solve_seconds=first["solve_seconds"])  # fmt: skip
        if not args.solvers:
            out["peak_mib"] = peak_rss_mib()
            return out
        # the solvers on these Grams (d = w_dim)
        from regiongan.jacobian import GramAccumulator, sample_grams

        acc = GramAccumulator(dirs.dim)
        mask = parse_region(region, (res, res)).mask[0]
        sample_grams(f, x0, mask, acc, chunk=args.chunk, columns=tangent_function(G, "w", ws, rows))
        grams = acc.result()
        out["solvers_w"] = _time_solvers(grams.A, grams.B, k=10)
    elif task == "forward":
        from regiongan.jacobian import tangent_jacobian

        columns = tangent_function(G, "w", ws, rows)
        d = x0.shape[0]
        forward_jacobian(f, x0, chunk=args.chunk)  # warm-up
        tangent_jacobian(columns, d, chunk=args.chunk)
        out["chunks"] = {str(c): timed(lambda c=c: forward_jacobian(f, x0, chunk=c)) for c in args.chunks}
        out["model_chunks"] = {str(c): timed(lambda c=c: tangent_jacobian(columns, d, chunk=c)) for c in args.chunks}
        with torch.no_grad():
            batch = G.map(z_from_seeds(range(32), G.z_dim))
            G.synthesize(G.styles(batch))
            out["forward_ms_per_image_b32"] = 1000 * timed(lambda: G.synthesize(G.styles(batch))) / 32
            out["forward_ms_b1"] = 1000 * timed(lambda: G.synthesize(G.styles(ws)))
        out["d"], out["P"] = x0.shape[0], 3 * res * res
    elif task == "reverse":
        P = 3 * res * res
        n = args.reverse_rows
        stride = max(1, P // n)
        pick = torch.arange(0, P, stride)[:n]  # rows spread over the image
        reverse_jacobian(f, x0, rows=pick[:2])  # warm-up
        t_graph = timed(lambda: reverse_jacobian(f, x0, rows=pick[:0]))
        t_rows = timed(lambda: reverse_jacobian(f, x0, rows=pick))
        per_row = (t_rows - t_graph) / n
        out["official"] = {"rows_timed": n, "graph_s": t_graph, "per_row_s": per_row, "extrapolated_s": t_graph + P * per_row}
        nb = min(P, max(64, n))
        pick_b = torch.arange(0, P, max(1, P // nb))[:nb]
        t_rows_b = timed(lambda: reverse_jacobian(f, x0, rows=pick_b, chunk=32))
        per_row_b = (t_rows_b - t_graph) / nb
        out["vmapped32"] = {"rows_timed": nb, "per_row_s": per_row_b, "extrapolated_s": t_graph + P * per_row_b}
        out["P"] = P
    elif task == "solvers_wplus":
        d = G.num_ws * G.w_dim
        g = torch.Generator().manual_seed(0)
        # synthetic Grams of the W+ size with a decaying spectrum, like real Jacobians
        scale = torch.logspace(0, -3, d, dtype=torch.float64)
        Jf = torch.randn(2 * d, d, generator=g, dtype=torch.float64) * scale
        Jb = torch.randn(2 * d, d, generator=g, dtype=torch.float64) * scale
        A, B = Jf.T @ Jf, Jb.T @ Jb
        out["d"] = d
        out["solvers"] = _time_solvers(A, B, k=10, Jb=Jb, ranks=(None, d // 8))
    else:
        raise SystemExit(f"unknown child task {task!r}")
    out["peak_mib"] = peak_rss_mib()
    return out


def _time_solvers(A: torch.Tensor, B: torch.Tensor, k: int, Jb: torch.Tensor | None = None, ranks=()) -> dict:
    """Seconds per solver (after a warm-up call) and agreement of the top 3 with Cholesky. ``ranks``:
    Woodbury from the rows Jb with these truncations (None: all singular values, exact)."""
    res = {}
    ref = None
    from_jb = [(f"woodbury(Jb, rank {r or 'full'})", lambda r=r: solve_woodbury(A, Jb=Jb, k=k, rank=r)) for r in ranks]
    for name, fn in [
        ("cholesky", lambda: solve_cholesky(A, B, k=k)),
        ("woodbury(B)", lambda: solve_woodbury(A, B, k=k)),
        *(from_jb if Jb is not None else []),
    ]:
        fn()  # warm-up
        sol, seconds, _ = clocked(fn)
        res[name] = {"seconds": seconds}
        if ref is None:
            ref = sol
        else:
            res[name]["min_abs_cos_vs_cholesky_top3"] = float((sol.vectors[:3] * ref.vectors[:3]).sum(1).abs().min())
            res[name]["max_rel_eig_diff_top3"] = float(((sol.eigenvalues[:3] - ref.eigenvalues[:3]) / ref.eigenvalues[:3]).abs().max())
    return res


def run_child(task: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", task, "--model", args.model, "--threads", str(args.threads),
           "--samples", str(args.samples), "--chunk", str(args.chunk), "--chunks", ",".join(map(str, args.chunks)),
           "--reverse-rows", str(args.reverse_rows), "--precisions", ",".join(args.precisions), "--repeats", str(args.repeats)]
    cmd += (["--region", args.region] if args.region else []) + ([] if args.warmup else ["--no-warmup"])
    cmd += [] if args.solvers else ["--no-solvers"]  # fmt: skip
    print(f"  running {task} …", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"child {task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pipeline_only(args: argparse.Namespace) -> None:
    """``--pipeline-only``: find_directions end to end per precision (for models where the full speed run —
    reverse mode, W+ solvers — would take hours, such as ``--model config-f-256``)."""
    args.solvers = False
    results = {t: run_child(t, args) for t in ["baseline", "pipeline"]}
    pipe = results["pipeline"]
    print(f"\nReSeFa pipeline — {pipe['model']}, region {pipe['region']}, W space (d = {pipe['d']}, P = {pipe['P']} rows), "
          f"chunk {pipe['chunk']}, {pipe['samples']} sample(s){'' if pipe['warmup'] else ', no warm-up'}, {args.threads} thread(s), "
          f"{describe_cpu()}, torch {torch.__version__}, load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    _print_precisions(pipe)
    print(f"peak memory {pipe['peak_mib']:.0f} MiB (model + one image: {results['baseline']['peak_mib']:.0f} MiB)")
    if args.json:
        write_json(Path(args.json), results, end="")
        print(f"wrote {args.json}")


def _print_precisions(pipe: dict) -> None:
    """One line per precision: wall and CPU seconds per sample, the ratio to the first, agreement with it."""
    first = next(iter(pipe["precisions"].values()))
    print(f"{'precision':10s} {'wall s/sample':>14s} {'CPU s/sample':>13s} {'J+Grams s':>10s} {'CPU ratio':>10s} "
          f"{'top-3 |cos|':>12s} {'top-3 eig rel':>14s}")  # fmt: skip
    for p, r in pipe["precisions"].items():
        print(f"{p:10s} {r['seconds_per_sample']:14.2f} {r['cpu_seconds_per_sample']:13.2f} {r['jacobian_seconds_per_sample']:10.2f} "
              f"{first['cpu_seconds_per_sample'] / r['cpu_seconds_per_sample']:9.2f}x {r['min_abs_cos_vs_first_top3']:12.5f} "
              f"{r['max_rel_eig_diff_top3']:14.2e}")  # fmt: skip


def speed(args: argparse.Namespace) -> None:
    if args.pipeline_only:
        pipeline_only(args)
        return
    results = {t: run_child(t, args) for t in ["baseline", "pipeline", "forward", "reverse"] + (["solvers_wplus"] if args.wplus else [])}
    base, pipe, fwd, rev = (results[t] for t in ("baseline", "pipeline", "forward", "reverse"))
    d, P = pipe["d"], pipe["P"]
    print(f"\nReSeFa speed — {pipe['model']}, region {pipe['region']}, W space (d = {d}, P = {P} rows), "
          f"torch {torch.__version__}, {args.threads} thread(s), {platform.machine()}, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip
    print(f"{'measurement':58s} {'seconds':>10s} {'peak MiB':>9s}")

    def line(name: str, sec: float, mib: float | None = None) -> None:
        print(f"{name:58s} {sec:10.3f} {'' if mib is None else f'{mib:9.0f}'}")

    line("model loaded + one image (baseline process)", float("nan"), base["peak_mib"])
    line(f"pipeline per sample (images, J, Grams, solve; {pipe['samples']} samples)", pipe["seconds_per_sample"], pipe["peak_mib"])
    line("  of which forward-mode J + Grams per sample", pipe["jacobian_seconds_per_sample"])
    line("  solve (Cholesky, once)", pipe["solve_seconds"])
    _print_precisions(pipe)
    for c, s in fwd["chunks"].items():
        line(f"forward mode, functorch vmap(jvp), chunk {c}", s, None)
    for c, s in fwd["model_chunks"].items():
        line(f"forward mode, StyleGAN2.synthesize_jvp, chunk {c}", s, None)
    print(f"{'':58s} {'':>10s} {fwd['peak_mib']:9.0f}  (forward process)")
    best_c, best = min(fwd["model_chunks"].items(), key=lambda kv: kv[1])
    best_fc, best_f = min(fwd["chunks"].items(), key=lambda kv: kv[1])
    fwd_ms = fwd["forward_ms_per_image_b32"]
    print(f"  one forward pass: {fwd_ms:.1f} ms/image at batch 32, {fwd['forward_ms_b1']:.1f} ms at batch 1; "
          f"a tangent column costs {1000 * best / d / fwd_ms:.2f} forward passes with synthesize_jvp (chunk {best_c}), "
          f"{1000 * best_f / d / fwd_ms:.2f} with vmap(jvp) (chunk {best_fc})")  # fmt: skip
    o, v = rev["official"], rev["vmapped32"]
    line(f"reverse mode, official (1 backward/row), EXTRAPOLATED from {o['rows_timed']} rows", o["extrapolated_s"], rev["peak_mib"])
    print(f"  ({o['per_row_s'] * 1000:.1f} ms per row × {P} rows + {o['graph_s']:.2f} s graph)")
    line(f"reverse mode, vmapped 32 rows/backward, EXTRAPOLATED from {v['rows_timed']} rows", v["extrapolated_s"])
    for name, r in pipe["solvers_w"].items():
        extra = f"  |cos| {r['min_abs_cos_vs_cholesky_top3']:.6f}" if "min_abs_cos_vs_cholesky_top3" in r else ""
        label = f"solver {name}, d = {d}"
        print(f"{label:58s} {r['seconds']:10.4f}{extra}")
    if "solvers_wplus" in results:
        sw = results["solvers_wplus"]
        for name, r in sw["solvers"].items():
            extra = f"  |cos| {r['min_abs_cos_vs_cholesky_top3']:.6f}" if "min_abs_cos_vs_cholesky_top3" in r else ""
            label = f"solver {name}, d = {sw['d']} (W+, synthetic)"
            print(f"{label:58s} {r['seconds']:10.4f}{extra}")
    print("\nratios")
    print(f"  reverse (official, extrapolated) / our pipeline per sample: {o['extrapolated_s'] / pipe['seconds_per_sample']:8.1f}x   (goal >= 100x)")
    print(f"  reverse (official, extrapolated) / forward-mode J:          {o['extrapolated_s'] / best:8.1f}x")
    print(f"  functorch vmap(jvp) J / synthesize_jvp J:                   {best_f / best:8.2f}x")
    print(f"  reverse (vmapped, extrapolated) / forward-mode J:           {v['extrapolated_s'] / best:8.1f}x")
    print(f"  pipeline per sample: {pipe['seconds_per_sample']:.2f} s   (goal < 1 s)")
    if args.json:
        write_json(Path(args.json), results, end="")
        print(f"wrote {args.json}")


# --------------------------------------------------------------------------------------------------
# Evaluation: locality at matched In-MSE


def space_coordinates(G, space: str, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """Each sample's coordinates in ``space`` ``[N, d]``: z itself, its first W row, or what a family space
    reads from ws (BigGAN's class embedding)."""
    if space == "z":
        return z
    ws = G.map(z, c)
    extra = family_space(G, space)
    return ws[:, 0] if extra is None else extra.read(ws)


def pca_direction(G, space: str = "w", n: int = 10_000, seed: int = 0) -> tuple[torch.Tensor, float]:
    """Top principal direction of the space's coordinates (GANSpace-style) from ``n`` samples (classes
    drawn uniformly for a conditional model), and its std. In z (isotropic) it is as good as random; in
    BigGAN's class space it is the axis along which the class embeddings differ most."""
    g = torch.Generator().manual_seed(seed)
    coords = []
    with torch.no_grad():
        for _ in range(n // 1000):
            z = torch.randn(1000, G.z_dim, generator=g)
            c = None
            if G.c_dim:
                c = torch.nn.functional.one_hot(torch.randint(G.c_dim, [1000], generator=g), G.c_dim).float()
            coords.append(space_coordinates(G, space, z, c))
    x = torch.cat(coords)
    x = x - x.mean(0)
    _, sv, vh = torch.linalg.svd(x.double(), full_matrices=False)
    return vh[0].float(), float(sv[0] / math.sqrt(len(x) - 1))


def cycling_classes(G, seeds: range) -> torch.Tensor | None:
    """One-hot classes ``seed mod c_dim`` for a conditional model, else None."""
    if not G.c_dim:
        return None
    return torch.nn.functional.one_hot(torch.as_tensor(list(seeds)) % G.c_dim, G.c_dim).float()


def _out_at_in(curve: list[tuple[float, float]], target: float) -> float:
    """Out-MSE where the (In, Out) curve (ordered by strength) first reaches In = target, log-log interpolated."""
    for (i0, o0), (i1, o1) in zip(curve, curve[1:]):
        if i0 <= target <= i1 and i0 > 0 and i1 > i0 and o0 > 0 and o1 > 0:
            a = (math.log(target) - math.log(i0)) / (math.log(i1) - math.log(i0))
            return math.exp(math.log(o0) + a * (math.log(o1) - math.log(o0)))
    return float("nan")


def evaluate(G, sources: dict[str, Callable[[torch.Tensor], torch.Tensor] | str], args) -> tuple[list[dict], list[dict]]:
    res, space = G.img_resolution, args.space
    seeds = range(10_000, 10_000 + args.test_samples)
    test_z = z_from_seeds(seeds, G.z_dim)
    test_c = cycling_classes(G, seeds)
    with torch.no_grad():
        test_ws = G.map(test_z, test_c)
        originals = torch.cat([G.synthesize(G.styles(test_ws[i : i + 50])).image for i in range(0, len(test_ws), 50)])
    base = test_z if space == "z" else test_ws
    masks = {}
    for name, src in sources.items():
        masks[name] = parse_region(src, (res, res)).mask if isinstance(src, str) else src(originals)
    pca, pca_std = pca_direction(G, space)
    rows = latent_rows(G, space)
    g = torch.Generator().manual_seed(1)
    randoms = torch.randn(args.random, latent_dim(G, space, rows), generator=g)
    randoms /= randoms.norm(dim=1, keepdim=True)
    strengths = [pca_std * 2.0**e for e in range(-4, 3)]  # 1/16 … 4 standard deviations of the top PC

    def curve(direction: torch.Tensor, region_names: list[str]) -> dict[str, list[tuple[float, float]]]:
        """Mean (In, Out) per strength (both signs) for each region."""
        out = {r: [] for r in region_names}
        for t in strengths:
            acc = InOut()
            for sign in (1.0, -1.0):
                edited = torch.cat([
                    render(G, edited_ws(G, base[i : i + 50], direction, space, rows, [sign * t],
                                        c=None if test_c is None else test_c[i : i + 50]))
                    for i in range(0, len(base), 50)
                ])  # fmt: skip
                for r in region_names:
                    acc.add(r, originals, edited, masks[r])
            for r, i_v, o_v in acc.valid():
                out[r].append((float(i_v.mean()), float(o_v.mean())))
        return out

    names = list(sources)
    curves: dict[tuple[str, str], list[tuple[float, float]]] = {}
    print("  global directions (PCA, random) …", file=sys.stderr)
    for r, c in curve(pca, names).items():
        curves[(r, "pca")] = c
    rand_curves = [curve(rd, names) for rd in randoms]
    for r in names:
        curves[(r, "random")] = [
            (sum(rc[r][j][0] for rc in rand_curves) / len(rand_curves), sum(rc[r][j][1] for rc in rand_curves) / len(rand_curves))
            for j in range(len(strengths))
        ]  # fmt: skip
    lams = {}
    for r, src in sources.items():
        print(f"  ReSeFa directions for {r} …", file=sys.stderr)
        dirs = find_directions(G, src, samples=args.gram_samples, k=3, space=space, parser=args.parser_obj,
                               c=cycling_classes(G, range(args.gram_samples)))
        lams[r] = float(dirs.eigenvalues[0])
        curves[(r, "resefa")] = curve(dirs.vectors[0], [r])[r]
    curve_rows, summary = [], []
    for (r, method), c in curves.items():
        for t, (i, o) in zip(strengths, c):
            curve_rows.append({"region": r, "method": method, "strength": t, "in_mse": i, "out_mse": o})
    for r in names:
        reach = [max(i for i, _ in curves[(r, m)]) for m in ("resefa", "pca", "random")]
        target = args.target_in or 0.5 * min(reach)
        outs = {m: _out_at_in(curves[(r, m)], target) for m in ("resefa", "pca", "random")}
        for m, o in outs.items():
            summary.append({
                "region": r, "method": m, "target_in_mse": target, "out_mse_at_target": o,
                "out_vs_resefa": o / outs["resefa"] if outs["resefa"] > 0 else float("nan"),
                "resefa_eigenvalue": lams[r], "test_samples": args.test_samples, "gram_samples": args.gram_samples,
            })  # fmt: skip
    return curve_rows, summary


def plot_curves(curve_rows: list[dict], path: Path) -> None:
    """Out-MSE vs In-MSE (log-log), one panel per region, one colour per method (drawn with PIL)."""
    regions = list(dict.fromkeys(r["region"] for r in curve_rows))
    colours = {"resefa": "#d62728", "pca": "#1f77b4", "random": "#7f7f7f"}
    pw, ph, m = 300, 260, 46
    img = Image.new("RGB", (pw * len(regions), ph + 30), "white")
    d = ImageDraw.Draw(img)
    vals_i = [r["in_mse"] for r in curve_rows if r["in_mse"] > 0]
    vals_o = [r["out_mse"] for r in curve_rows if r["out_mse"] > 0]
    li0, li1 = log_decades(vals_i)
    lo0, lo1 = log_decades(vals_o)
    for j, reg in enumerate(regions):
        x0 = j * pw

        def xy(i: float, o: float) -> tuple[float, float]:
            x = x0 + m + (math.log10(max(i, 10.0**li0)) - li0) / max(li1 - li0, 1) * (pw - m - 10)
            y = 10 + (lo1 - math.log10(max(o, 10.0**lo0))) / max(lo1 - lo0, 1) * (ph - m - 10)
            return x, y

        d.rectangle([x0 + m, 10, x0 + pw - 10, ph - m], outline="black")
        for e in range(li0, li1 + 1):
            x, _ = xy(10.0**e, 1)
            d.text((x - 8, ph - m + 4), f"1e{e}", fill="black")
        for e in range(lo0, lo1 + 1):
            _, y = xy(1, 10.0**e)
            d.text((x0 + 4, y - 6), f"1e{e}", fill="black")
        d.text((x0 + m, ph - m + 18), f"{reg}: In-MSE ->", fill="black")
        for method, col in colours.items():
            pts = [xy(r["in_mse"], r["out_mse"]) for r in curve_rows if r["region"] == reg and r["method"] == method]
            if len(pts) > 1:
                d.line(pts, fill=col, width=2)
            for x, y in pts:
                d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=col)
    d.text((6, ph + 10), "Out-MSE (y) vs In-MSE (x), CIELAB, log-log.  red: ReSeFa top   blue: PCA of W (GANSpace)   grey: random", fill="black")
    img.save(path)


# --------------------------------------------------------------------------------------------------
# Figures


def figures(G, label: str, parser, out_dir: Path, samples: int, strengths: list[float]) -> list[Path]:
    res = G.img_resolution
    regions: dict[str, object] = {"box": scaled_box(res)}
    if parser is not None:
        regions.update({name: f"part:{name}" for name in PARTS})
    seeds = [10_001, 10_002, 10_003, 10_004]
    z = z_from_seeds(seeds, G.z_dim)
    written = []
    for name, spec in regions.items():
        dirs = find_directions(G, spec, samples=samples, k=3, parser=parser)
        images = edit(G, seeds, dirs, 0, strengths).images.reshape(len(seeds), len(strengths), 3, res, res)
        with torch.no_grad():
            plain = G.synthesize(G.styles(G.map(z))).image
        if isinstance(spec, str) and spec.startswith("part:"):
            masks = parser.part_masks(plain, PARTS[name])
        else:
            masks = parse_region(spec, (res, res)).mask.expand(len(seeds), -1, -1, -1)
        first = torch.cat([outline(plain[i : i + 1], masks[i : i + 1]) for i in range(len(seeds))])
        grid = torch.cat([first[:, None], images], dim=1).flatten(0, 1)
        img = make_grid(grid, ncols=len(strengths) + 1, pad=2, scale=2)
        canvas = Image.new("RGB", (img.width, img.height + 34), "white")
        canvas.paste(img, (0, 0))
        dr = ImageDraw.Draw(canvas)
        cell = img.width / (len(strengths) + 1)
        dr.text((4, img.height + 2), "region", fill="black")
        for j, t in enumerate(strengths):
            dr.text(((j + 1) * cell + 6, img.height + 2), f"t = {t:+g}", fill="black")
        dr.text((4, img.height + 18), f"{label}: ReSeFa top direction for {spec} (W, {samples} samples, lambda = {float(dirs.eigenvalues[0]):.3g})", fill="black")
        path = out_dir / f"resefa_{name}.png"
        out_dir.mkdir(parents=True, exist_ok=True)
        canvas.save(path)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = method_parser(
        __doc__, "locality vs PCA / random directions (needs a trained model)", "regenerate docs/img/resefa_*.png", child=True
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=3, help="speed: samples of the timed pipeline call")
    ap.add_argument("--chunk", type=int, default=32, help="basis vectors per vmapped jvp in the pipeline")
    ap.add_argument("--chunks", default="8,16,32,64", help="speed: chunk sizes to time")
    ap.add_argument("--reverse-rows", type=int, default=48, help="speed: rows timed for the reverse-mode extrapolation")
    ap.add_argument("--region", default=None, help="speed: region spec (default: a mouth box)")
    ap.add_argument("--no-wplus", dest="wplus", action="store_false", help="speed: skip the W+ solver timing")
    ap.add_argument("--precisions", default="fp32,bf16", help="speed: tangent precisions of the pipeline, the first is the reference")
    ap.add_argument("--repeats", type=int, default=1, help="speed: interleaved rounds of the pipeline per precision")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false", help="speed: no untimed warm-up call of the pipeline")
    ap.add_argument("--no-solvers", dest="solvers", action="store_false", help=argparse.SUPPRESS)
    ap.add_argument("--pipeline-only", action="store_true",
                    help="speed: only the pipeline per precision (e.g. --model config-f-256 --samples 1 --chunk 16)")
    ap.add_argument("--json", default=None, help="speed: also write the raw results here")
    ap.add_argument("--gram-samples", type=int, default=8)
    ap.add_argument("--test-samples", type=int, default=100)
    ap.add_argument("--random", type=int, default=4, help="eval: random directions (curves averaged)")
    ap.add_argument("--target-in", type=float, default=None, help="eval: In-MSE to match (default: half the smallest reach)")
    ap.add_argument("--box", default=None, help="eval/figures: the free box (default: a mouth box)")
    ap.add_argument("--parser", default="parser-faces-64")
    ap.add_argument("--space", default="w", help="eval: the latent space of the directions (w, z, or a family space such as class)")
    ap.add_argument("--parts", default=None, help="eval: NAME=PART+PART,… parser regions (default: eyes, mouth, nose of faces)")
    add_output_dirs(ap, "out/resefa_eval", "--eval: where the CSV files and the plot go")
    ap.add_argument("--strengths", default="-6,-3,0,3,6", help="--figures: edit strengths")
    args = ap.parse_args()
    args.chunks = [int(c) for c in str(args.chunks).split(",")]
    args.precisions = [p.strip() for p in str(args.precisions).split(",") if p.strip()]

    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    set_threads(args.threads)

    if args.eval:
        G = trained_or_skip(args.model, "A random model has no parts to measure; train one (regiongan train) and pass --model.")
        if G is None:
            return
        G = G.eval().requires_grad_(False)
        parser = load_parser_or_none(args.parser)
        args.parser_obj = parser
        sources: dict[str, object] = {}
        if parser is not None:
            parts = PARTS if args.parts is None else {
                name: spec.split("+") for name, spec in (item.split("=", 1) for item in args.parts.split(","))
            }
            sources.update({name: (lambda images, p=p: parser.part_masks(images, p)) for name, p in parts.items()})
        sources["box"] = args.box or scaled_box(G.img_resolution)
        print(f"evaluating {list(sources)} on {args.test_samples} test samples of {args.model}", file=sys.stderr)
        curve_rows, summary = evaluate(G, sources, args)
        out = Path(args.out_dir)
        write_csv(out / "resefa_curves.csv", curve_rows)
        write_csv(out / "resefa_locality.csv", summary)
        plot_curves(curve_rows, out / "resefa_locality.png")
        print_table(summary, [("region", "8s", "region"), ("method", "8s", "method"), ("target In", "10.2f", "target_in_mse"),
                              ("Out @ target", "13.3f", "out_mse_at_target"), ("× ReSeFa", "9.2f", "out_vs_resefa")])  # fmt: skip
        print(f"wrote {out / 'resefa_locality.csv'}, {out / 'resefa_curves.csv'} and {out / 'resefa_locality.png'}")
        return

    if args.figures:
        G, _, trained = model_or_fallback(args.model)
        parser = load_parser_or_none(args.parser) if trained else None
        strengths = [float(s) for s in args.strengths.split(",")]
        print_written(figures(G, args.model if trained else "random model", parser, Path(args.figures_dir), args.gram_samples, strengths))
        return

    speed(args)


if __name__ == "__main__":
    main()
