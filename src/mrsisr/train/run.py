"""Running a planned training run (also as one rank of ``torchrun``: only rank 0 writes).

:func:`mrsisr.train.plan.plan_run` checks a run and writes nothing; :func:`train` writes the
run files and runs :class:`mrsisr.train.loop.TrainingLoop`.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import torch

from mrsisr.atomic import atomic_write
from mrsisr.data.splits import save_splits
from mrsisr.machine import cpu_threads
from mrsisr.train import distributed as dist_utils
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import config_hash, to_toml
from mrsisr.train.loop import TrainingLoop
from mrsisr.train.plan import RunFiles, RunPlan, plan_run

__all__ = ["RunFiles", "RunPlan", "plan_run", "train"]


def _threads(config: TrainConfig) -> int:
    """The package's thread policy for one of the local processes of this run."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return cpu_threads(config.threads or None, processes=local)


def _write_run_files(plan: RunPlan, world_size: int) -> None:
    files = plan.files
    files.root.mkdir(parents=True, exist_ok=True)
    atomic_write(files.config, lambda tmp: tmp.write_text(to_toml(plan.config), "utf-8"))
    atomic_write(files.split, lambda tmp: save_splits(tmp, [plan.split]))
    run = {
        "data": str(plan.data.resolve()),
        "fold": plan.fold,
        "variant": plan.config.variant,
        "config_hash": config_hash(plan.config),
        "world_size": world_size,
    }
    atomic_write(files.run, lambda tmp: tmp.write_text(json.dumps(run, indent=2) + "\n"))


def train(plan: RunPlan) -> dict[str, Any]:
    """Run (or resume) the training of a checked plan; see :mod:`mrsisr.train.loop`.

    Returns:
        A summary: ``epochs``, ``steps``, ``best_epoch``, ``best_val_loss``, ``seconds`` and
        ``weights_sha256`` (fingerprint of this process's final generator weights).
    """
    owns_group = not torch.distributed.is_available() or not torch.distributed.is_initialized()
    dist = dist_utils.setup(str(plan.config.device))
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(_threads(plan.config))
    try:
        if dist.is_main and not (plan.resume and plan.files.checkpoint.exists()):
            _write_run_files(plan, dist.world_size)
        dist_utils.barrier()
        start = time.perf_counter()
        loop = TrainingLoop(plan, dist)
        summary = loop.run()
        summary["seconds"] = time.perf_counter() - start
        return summary
    finally:
        torch.set_num_threads(previous_threads)
        if owns_group:  # a process group the caller made stays the caller's
            dist_utils.teardown()
