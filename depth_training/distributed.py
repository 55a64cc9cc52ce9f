"""Distributed (DDP) setup and the few collectives training uses; single-process runs skip them.

Launched by torchrun (``WORLD_SIZE`` > 1) a process joins the process group: gloo on CPU, nccl
on CUDA, each rank on ``cuda:LOCAL_RANK``. Every helper here is a no-op in a one-process run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from depth_training.errors import ConfigError

__all__ = ["DistInfo", "all_max", "all_sum", "barrier", "broadcast", "resolve_device",
           "setup_distributed"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_spec: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1).

    gloo on CPU, nccl on CUDA; each rank uses ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec, local if world > 1 else None)
    info = DistInfo(rank=rank, world_size=world, local_rank=local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def resolve_device(spec: str, local_rank: int | None) -> torch.device:
    """The device named by ``spec`` (auto, cpu, cuda, cuda:N); plain cuda = cuda:local_rank."""
    spec = spec.strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} requested but CUDA is not available; use cpu.")
        if spec == "cuda":
            return torch.device("cuda", local_rank or 0)
        return torch.device(spec)
    raise ConfigError(f"device {spec!r} not understood; expected auto, cpu, cuda or cuda:N.")


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.enabled:
        dist.barrier()


def broadcast(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise sum over ranks (on the device: nccl reduces CUDA tensors only)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_max(value: float, info: DistInfo, device: torch.device) -> float:
    """The largest ``value`` over ranks."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())
