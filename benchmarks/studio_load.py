"""Load on the studio: N concurrent browser sessions (gradio_client clients) each making E edits on faces-64.

    python benchmarks/studio_load.py                  # 8 sessions x 10 edits
    python benchmarks/studio_load.py --sessions 8 --edits 10 --threads 1 --out benchmarks/results/studio_load.json

Starts the studio in this process on a free loopback port; every session starts its own image (seed 100 +
its index) and then alternates ITAN resample (2 variations, accept the second) and ITAN transfer (reference
seed 11, accept), so one edit = one run request + one accept request. Reports the latency of each edit
(p50 / p95 / max, seconds), errors, the wall time, and the state-leak check: after the load every session
exports its stack, and the export must hold exactly that session's base seed and its own edits, in order,
and replay (``rg.replay``) to exactly its PNG.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BOX = "box:16,36,48,56"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shared(spec: str, seed: int) -> list:
    return [None, spec, None, seed, 1.0, "all", None]


def run_session(url: str, index: int, edits: int, latencies: list, errors: list, exports: dict) -> None:
    from gradio_client import Client

    seed = 100 + index
    try:
        c = Client(url, verbose=False)
        c.predict("faces-64", None, seed, 1.0, None, api_name="/new_image")
        for e in range(edits):
            t0 = time.perf_counter()
            if e % 2 == 0:
                c.predict(*_shared(BOX, seed), 2, e, 0.0, api_name="/run_itan_resample")
                c.predict(1, None, api_name="/accept")
            else:
                c.predict(*_shared(f"box:{4 * e},0,{4 * e + 16},16", seed), 11, 0.0, api_name="/run_itan_transfer")
                c.predict(0, None, api_name="/accept")
            latencies.append(time.perf_counter() - t0)
        exports[index] = c.predict(api_name="/export")[0]
    except Exception as err:  # noqa: BLE001  (counted and reported, not raised)
        errors.append(f"session {index}: {type(err).__name__}: {' '.join(str(err).split())[:200]}")


def check_leaks(exports: dict, folders, edits: int) -> list[str]:
    import regiongan as rg
    from regiongan.images import to_uint8

    problems = []
    for index, files in sorted(exports.items()):
        js = folders.output / Path(next(f for f in files if f.endswith(".json"))).name
        recipe = rg.load_recipe(js)
        base_seed = recipe.params["base"]["params"]["code"]
        steps = recipe.params["steps"]
        expected = ["itan.resample" if e % 2 == 0 else "itan.transfer" for e in range(edits)]
        if base_seed != 100 + index:
            problems.append(f"session {index}: base seed {base_seed}, expected {100 + index}")
        if [s["method"] for s in steps] != expected:
            problems.append(f"session {index}: steps {[s['method'] for s in steps]}")
        seeds = {s["params"].get("code", s["params"].get("target")) for s in steps}
        if seeds != {100 + index}:
            problems.append(f"session {index}: edits on seeds {seeds}")
        if not np.array_equal(to_uint8(rg.replay(js).images)[0], np.asarray(Image.open(js.with_suffix(".png")).convert("RGB"))):
            problems.append(f"session {index}: replay differs from its PNG")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per request")
    ap.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from regiongan.studio.app import StudioConfig, build_app, launch_kwargs, prepare_environment
    from regiongan.studio.security import StudioFolders

    root = Path(tempfile.mkdtemp(prefix="studio-load-"))
    folders = StudioFolders.create(root / "uploads", root / "out")
    prepare_environment(folders)
    app = build_app(StudioConfig("faces-64", folders))
    port = _free_port()
    app.queue(default_concurrency_limit=args.sessions).launch(prevent_thread_lock=True, quiet=True, **launch_kwargs("127.0.0.1", port, folders))
    url = f"http://127.0.0.1:{port}/"
    latencies: list[float] = []
    errors: list[str] = []
    exports: dict = {}
    t0 = time.perf_counter()
    threads = [threading.Thread(target=run_session, args=(url, i, args.edits, latencies, errors, exports)) for i in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    leaks = check_leaks(exports, folders, args.edits)
    app.close()
    lat = sorted(latencies)
    q = lambda p: lat[min(len(lat) - 1, int(round(p * (len(lat) - 1))))] if lat else float("nan")  # noqa: E731
    report = {
        "sessions": args.sessions, "edits_per_session": args.edits, "edits_done": len(lat), "torch_threads": args.threads,
        "p50_s": q(0.50), "p95_s": q(0.95), "max_s": lat[-1] if lat else None, "mean_s": statistics.fmean(lat) if lat else None,
        "wall_s": wall, "edits_per_s": len(lat) / wall, "errors": errors, "leaks": leaks,
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if not errors and not leaks and len(lat) == args.sessions * args.edits else 1


if __name__ == "__main__":
    sys.exit(main())
