"""Two CPU processes with the Gloo backend train like one DDP job; only rank 0 writes."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch.distributed
import torch.multiprocessing as mp
from tiny_cohort import both_grids

from mrsisr.checkpoint import load_model
from mrsisr.data.cohort import Cohort
from mrsisr.train.config_io import load_config
from mrsisr.train.run import plan_run, train

pytestmark = pytest.mark.slow  # two gloo processes train


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(
    rank: int,
    world: int,
    port: int,
    cohort: str,
    out: str,
    report: str,
    overrides: tuple[str, ...] = (),
    fold: int = 0,
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
    )
    sets = ["epochs=2", "steps_per_epoch=2", "threads=1", 'device="cpu"', *overrides]
    config = load_config("tiny", sets)
    summary = train(plan_run(config, cohort, fold, out))
    Path(report, f"rank{rank}.json").write_text(json.dumps(summary))


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_two_gloo_ranks_end_with_identical_weights_and_one_writer(tiny_cohort, tmp_path):
    out, report = tmp_path / "run", tmp_path / "report"
    report.mkdir()
    args = (2, _free_port(), str(tiny_cohort), str(out), str(report))
    mp.spawn(_worker, args=args, nprocs=2, join=True)
    summaries = [json.loads((report / f"rank{r}.json").read_text()) for r in range(2)]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    assert summaries[0]["best_val_loss"] == summaries[1]["best_val_loss"]
    # 8 training samples shared by 2 ranks, batch 4: one step per rank and epoch.
    assert summaries[0]["steps"] == summaries[1]["steps"] == 2
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "best.safetensors",
            "checkpoint.safetensors",
            "config.toml",
            "last.safetensors",
            "loss_curves.png",
            "metrics.csv",
            "run.json",
            "split.json",
        ]
    )
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 2  # header + 2 epochs


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_two_gloo_ranks_train_on_a_cohort_of_two_grids(mixed_cohort, tmp_path):
    """Each rank's batch holds one grid (its own share of the samples of the grid drawn for
    the batch on every rank); the ranks stay in step and end with identical weights."""
    split_seed, fold = both_grids(Cohort.open(mixed_cohort))
    out, report = tmp_path / "run", tmp_path / "report"
    report.mkdir()
    overrides = (split_seed, "batch_size=2")
    args = (2, _free_port(), str(mixed_cohort), str(out), str(report), overrides, fold)
    mp.spawn(_worker, args=args, nprocs=2, join=True)
    summaries = [json.loads((report / f"rank{r}.json").read_text()) for r in range(2)]
    assert summaries[0]["weights_sha256"] == summaries[1]["weights_sha256"]
    assert summaries[0]["steps"] == summaries[1]["steps"] == 4
    _, info = load_model(out / "best.safetensors")
    assert info.trained is not None and info.trained.grid_range == ((32, 32), (64, 64))
