"""Data parallelism: two gloo processes under torchrun train in lockstep and only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from regiongan.training import list_snapshots

from .conftest import free_port



def test_two_processes_keep_identical_replicas(tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        "-m", "regiongan.training", "--data", "faces", "--resolution", "16", "--batch", "4", "--kimg", "0.008",
        "--z-dim", "16", "--w-dim", "16", "--mapping-layers", "2", "--channel-base", "256", "--channel-max", "32",
        "--r1-interval", "1", "--grid", "4", "--log-every", "1", "--no-progress", "--run-dir", str(run),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "over 2 process(es)" in proc.stderr
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if "loss/G" in d] == [1, 2]  # one writer: no duplicate lines
    (event,) = [d for d in lines if d.get("event") == "snapshot"]
    for name in ("G", "D"):
        sums = event["param_checksums"][name]
        assert len(sums) == 2 and sums[0] == sums[1], sums
    (snap,) = list_snapshots(run)
    state = torch.load(snap, weights_only=True)
    assert state["world_size"] == 2 and state["nimg"] == 8 and len(state["rng"]["ranks"]) == 2
    # ranks draw different latents: their generator states differ
    assert not torch.equal(state["rng"]["ranks"][0]["cpu"], state["rng"]["ranks"][1]["cpu"])
