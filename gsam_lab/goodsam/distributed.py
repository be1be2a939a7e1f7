"""Data-parallel helpers: the same training function runs alone or under ``torchrun``.

``torchrun --nproc_per_node N script.py`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address; :func:`setup` reads them, starts the process group (``nccl`` when the device is a
GPU, ``gloo`` on the CPU) and pins each rank to its GPU. Without those variables everything is a
no-op with rank 0 of a world of 1.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "env_world_size", "setup", "is_main", "barrier", "all_reduce_mean", "broadcast_flag",
           "broadcast_buffers"]


class DistInfo(NamedTuple):
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    """World size from an existing process group, else ``$WORLD_SIZE`` (1 when unset)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError as e:
        raise ValueError(f"WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") from e


def setup(device: torch.device) -> DistInfo:
    """Join the ``torchrun`` process group if there is one (idempotent) and return this rank's place.

    ``device``: the resolved device; a CUDA device becomes ``cuda:LOCAL_RANK`` under ``torchrun``.
    """
    world = env_world_size()
    if world == 1:
        return DistInfo(0, 1, 0, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def is_main(info: DistInfo) -> bool:
    return info.rank == 0


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_mean(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of ``x`` over ranks (a copy; ``x`` itself when not distributed)."""
    if not info.distributed:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / info.world_size


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's ``flag`` on every rank (so that all ranks stop at the same step)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.broadcast(t, src=0)
    return bool(t.item() > 0.5)


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts them before each forward, so after the last step the ranks' running statistics
    differ by one update; this makes the replicas identical again (checkpoints, the returned model).
    """
    if not info.distributed:
        return
    for b in module.buffers():
        dist.broadcast(b.data, src=0)
