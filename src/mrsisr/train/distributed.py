"""Process-group helpers for ``torchrun``: one process per device, rank 0 writes the files.

``torchrun --nproc_per_node G -m mrsisr.cli train ...`` (or ``torch.distributed.run``) sets
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; :func:`setup` reads them, joins the process
group (NCCL on CUDA, Gloo on CPU) and picks the device. Without them it is a single process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from mrsisr.options import resolve_device

__all__ = ["DistInfo", "all_reduce_sums", "barrier", "setup", "teardown"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress (rank 0)."""
        return self.rank == 0


def setup(device: str = "auto") -> DistInfo:
    """Join the process group if launched by ``torchrun``; return this process's place.

    Args:
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda"``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    rank = int(os.environ.get("RANK", str(local_rank)))
    chosen = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group(backend=backend)
        log.debug("rank %d/%d joined the %s process group", rank, world_size, backend)
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=chosen)


def teardown() -> None:
    """Leave the process group (if any)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sums(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Add a dict of floats over all ranks (same keys on every rank; identity if single)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return dict(values)
    keys = sorted(values)
    buf = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(buf)
    return dict(zip(keys, buf.tolist()))
