"""The ``data.grouped_batches`` option: batches of one (n, metabolite), end to end."""

from __future__ import annotations

import pytest
import torch

from mrsisr.data.sampler import GroupedBatchSampler
from mrsisr.errors import UserError
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import config_hash, diff_configs, load_config
from mrsisr.train.distributed import DistInfo
from mrsisr.train.loop import TrainingLoop
from mrsisr.train.run import plan_run, train


@pytest.mark.slow
def test_grouped_batches_share_n_and_metabolite_and_train(tiny_cohort, tmp_path) -> None:
    config = load_config("tiny", ["epochs=1", "steps_per_epoch=2", "data.grouped_batches=true"])
    plan = plan_run(config, tiny_cohort, 0, tmp_path / "run")
    loop = TrainingLoop(plan, DistInfo())
    assert isinstance(loop.train_loader.batch_sampler, GroupedBatchSampler)
    batches = list(loop.train_loader)
    assert len(batches) >= 2
    assert sum(b.hr.shape[0] for b in batches) == len(loop.train_loader.dataset)
    for batch in batches:
        assert len({tuple(n) for n in batch.n.tolist()}) == 1
        assert len(set(batch.met.tolist())) == 1
    summary = train(plan)
    assert summary["steps"] == 2 and torch.isfinite(torch.tensor(summary["best_val_loss"]))


def test_default_batches_mix_conditions(tiny_cohort, tmp_path) -> None:
    config = load_config("tiny", ["batch_size=8"])
    loop = TrainingLoop(plan_run(config, tiny_cohort, 0, tmp_path / "run"), DistInfo())
    assert not isinstance(loop.train_loader.batch_sampler, GroupedBatchSampler)
    batch = next(iter(loop.train_loader))
    assert len(set(batch.met.tolist())) > 1 or len({tuple(n) for n in batch.n.tolist()}) > 1


@pytest.mark.slow
def test_option_keeps_old_fingerprints_and_cannot_change_on_resume(tiny_cohort, tmp_path) -> None:
    default, grouped = TrainConfig(), TrainConfig()
    grouped.data.grouped_batches = True
    assert config_hash(default) != config_hash(grouped)
    # A key at its default stays out of the fingerprint: runs started before it existed resume.
    assert not any("grouped_batches" in line for line in diff_configs(default, TrainConfig()))
    assert diff_configs(default, grouped) == ["data.grouped_batches: None -> True"]
    run = tmp_path / "run"
    base = ["epochs=1", "steps_per_epoch=1"]
    train(plan_run(load_config("tiny", base), tiny_cohort, 0, run))
    with pytest.raises(UserError, match="grouped_batches"):
        plan_run(
            load_config("tiny", [*base, "data.grouped_batches=true"]), None, None, run, resume=True
        )
