"""Data-parallel training under ``torchrun`` (``python -m torch.distributed.run``).

Each process trains on its shard of every batch (:class:`~dicmini.train.data.IterationBatchSampler`) and the
gradients are averaged across processes before each optimiser step, as ``DistributedDataParallel`` does.
The averaging is done explicitly here (one flattened all-reduce per optimiser step) instead of through the
``DistributedDataParallel`` wrapper because the DIC recipes switch ``requires_grad`` during training — the
landmark branch is frozen until ``release_hourglass_step`` and the discriminator is frozen during every
generator step — which the wrapper (it fixes the set of reduced parameters at construction) does not allow.
Only rank 0 logs and writes checkpoints. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..utils import parse_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job (``world_size == 1``: a plain single-process run)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "") -> tuple[DistInfo, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``) and pick this process's device.

    Without ``WORLD_SIZE > 1`` nothing is initialised. ``device=""`` picks ``cuda:LOCAL_RANK`` when CUDA is
    available, else the CPU; the backend is NCCL for CUDA and gloo otherwise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device:
        dev = parse_device(device, "config device")
    else:
        dev = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank if world > 1 else 0)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return DistInfo(rank, local_rank, world), dev


def cleanup() -> None:
    """Leave the process group (if one was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """In-place mean of ``tensor`` over processes (identity for a single process)."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(info.world_size)
    return tensor


def average_gradients(params: Iterable[nn.Parameter], info: DistInfo) -> None:
    """Average the ``.grad`` of ``params`` over processes with one flattened all-reduce.

    Every process must pass the same parameters with gradients in the same order (true here: all ranks
    run the same code on same-shaped shards).
    """
    if not info.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    all_reduce_mean(flat, info)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process (identical start)."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def broadcast_int(value: int, info: DistInfo, device: torch.device) -> int:
    """Rank 0's ``value`` on every process."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())


def replicas_identical(module: nn.Module, info: DistInfo) -> bool:
    """Whether every process holds bit-identical parameters and buffers (rank 0's are broadcast and
    compared with ``torch.equal`` on each process; the verdict is agreed by all). ``True`` for one process."""
    if not info.enabled:
        return True
    flat = torch.cat([t.detach().reshape(-1).float() for t in [*module.parameters(), *module.buffers()]])
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    mismatch = torch.tensor([0.0 if torch.equal(flat, reference) else 1.0], device=flat.device)
    dist.all_reduce(mismatch, op=dist.ReduceOp.MAX)
    return mismatch.item() == 0.0
