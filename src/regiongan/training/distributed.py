"""Data parallelism across processes started by ``torchrun`` (gloo on CPU, nccl on CUDA).

Gradients are averaged by hand with one ``all_reduce`` per optimiser step rather than through
``DistributedDataParallel``, because the R1 and path-length penalties differentiate through gradients
(``create_graph=True``), which DDP does not support. Every rank starts from the same seeded
initialisation, so averaged gradients keep the replicas identical; :meth:`Distributed.checksums` verifies it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist

__all__ = ["Distributed", "init_distributed"]


@dataclass
class Distributed:
    """This process' place in the job: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Replace each gradient by its mean over ranks (missing gradients count as zero); NaN/inf -> finite."""
        params = [p for p in params if p.requires_grad]
        if not self.enabled:  # nothing to reduce: clean each gradient in place, without a flat copy
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                else:
                    torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        if not grads:
            return
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        # as NVlabs: one bad sample must not poison the weights of a long run
        torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
        for p, g in zip(params, flat.split([g.numel() for g in grads])):
            p.grad = g.reshape(p.shape)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of a tensor over ranks (a copy; the input is unchanged)."""
        if not self.enabled:
            return value
        out = value.detach().clone()
        dist.all_reduce(out)
        return out / self.world_size

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def checksums(self, module: torch.nn.Module) -> list[str]:
        """SHA-1 of the module's parameters and buffers on every rank (equal when replicas agree)."""
        h = hashlib.sha1()
        for t in module.state_dict().values():
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return self.gather(h.hexdigest())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str = "auto") -> Distributed:
    """Join the process group described by torchrun's environment (``WORLD_SIZE`` > 1), or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if use_cuda:
        dev = torch.device(device if ":" in device else f"cuda:{local_rank % torch.cuda.device_count()}")
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(rank, world_size, local_rank, local_world_size, dev)
