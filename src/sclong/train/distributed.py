"""The process group of a (possibly single-process) training run started by ``torchrun``.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; without them the run is one process. The
backend is NCCL when training on CUDA, gloo otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from sclong.errors import ConfigError


@dataclass(frozen=True)
class Context:
    """Where this process stands: its ranks, the number of processes and its device."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes every output."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is initialised."""
        return self.world_size > 1


def init(device: str = "auto") -> Context:
    """Join the process group described by the environment; pick the device (``auto``: CUDA if present)."""
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in {"cpu", "cuda"}:
        raise ConfigError("device", f"{device!r} is not auto, cpu or cuda")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda requested but no CUDA device is available")
        torch.cuda.set_device(local_rank)
        torch_device = torch.device("cuda", local_rank)
    else:
        torch_device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if torch_device.type == "cuda" else "gloo",
            device_id=torch_device if torch_device.type == "cuda" else None,
        )
    return Context(rank, local_rank, world_size, torch_device)


def all_reduce_sum(tensor: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place; returns it."""
    if ctx.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_process(flag: bool, ctx: Context) -> bool:
    """Whether ``flag`` is true on at least one process (all processes get the same answer)."""
    if not ctx.distributed:
        return flag
    value = torch.tensor([int(flag)], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier(ctx: Context) -> None:
    """Wait for every process."""
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: Context) -> None:
    """Leave the process group."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
