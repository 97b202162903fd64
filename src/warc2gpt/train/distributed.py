"""Process-group setup for torchrun (DDP): NCCL on GPUs, gloo on CPUs; rank 0 does the I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from warc2gpt.model.device import resolve_device as model_device


@dataclass
class DistInfo:
    """Where this process sits: global rank, world size and local rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_master(self) -> bool:
        return self.rank == 0


def dist_from_env() -> DistInfo:
    """Read torchrun's RANK / WORLD_SIZE / LOCAL_RANK (absent: one process)."""
    return DistInfo(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def resolve_device(choice: str, info: DistInfo | int | None = None) -> torch.device:
    """train.device for this rank (model/device.py's rule; `auto` never picks MPS here)."""
    local_rank = info.local_rank if isinstance(info, DistInfo) else (info or 0)
    return model_device(choice, local_rank, setting="train.device")


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """Join the torchrun group (once); a single process needs none."""
    if not info.is_distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")


def destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum over ranks in place (no-op for one process). gloo has no AVG, so callers divide."""
    if info.is_distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(info: DistInfo) -> None:
    if info.is_distributed:
        dist.barrier()
