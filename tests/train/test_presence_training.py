"""Training with modality dropout: its configuration keys, and a run whose model needs no image."""

from __future__ import annotations

import pytest
import torch

from mrsisr.checkpoint import load_model
from mrsisr.errors import UserError
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import apply_overrides, config_hash, load_config
from mrsisr.train.run import plan_run, train

DROPOUT = ["model.presence=true", "data.presence_probs=[0.4, 0.3, 0.2, 0.1]"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.presence_probs=[0.5, 0.5, 0.0, 0.0]"], r"needs model.presence = true"),
        (["model.presence=true", "data.presence_probs=[0.5, 0.4, 0.0, 0.0]"], r"summing to 1"),
        (["model.presence=true", "data.presence_probs=[1.2, -0.2, 0, 0]"], r"summing to 1"),
        (["model.presence=true", 'variant="unconditioned"'], r"plain convolutions"),
    ],
)
def test_bad_dropout_settings_are_one_line_user_errors(overrides, message, tiny_cohort, tmp_path):
    with pytest.raises(UserError, match=message) as err:
        plan_run(load_config("tiny", overrides), tiny_cohort, 0, tmp_path / "run")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_the_new_keys_keep_the_fingerprint_of_older_runs_until_set():
    base = config_hash(TrainConfig())
    assert config_hash(apply_overrides(TrainConfig(), ["model.presence=false"])) == base
    assert config_hash(apply_overrides(TrainConfig(), DROPOUT)) != base


@pytest.mark.slow
def test_a_dropout_run_gives_a_model_that_works_without_images(tiny_cohort, tmp_path):
    config = load_config("tiny", [*DROPOUT, "epochs=1", "steps_per_epoch=2"])
    summary = train(plan_run(config, tiny_cohort, 0, tmp_path / "run"))
    assert summary["steps"] == 2
    model, info = load_model(tmp_path / "run" / "best.safetensors")
    assert info.config["presence"] is True and model.accepts_missing_images
    images = torch.rand(2, 1, 32, 32)
    args = (images, images, images, torch.ones_like(images), torch.full((2, 2), 12))
    absent = torch.zeros(2, 2, dtype=torch.bool)
    with torch.no_grad():
        out = model(*args, torch.tensor([0, 1]), torch.zeros(2), absent)
    assert out.shape == (2, 1, 32, 32) and torch.isfinite(out).all()


def test_the_trainer_gives_the_generator_the_flags_of_the_batch():
    from torch import nn

    from mrsisr.data.dataset import Sample
    from mrsisr.train.engine import GanTrainer
    from mrsisr.train.losses import ReconstructionLoss

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.tensor(1.0))
            self.seen = []

        def forward(self, lr, t1, flair, mask, n, met, lam, present=None):
            self.seen.append(present)
            return lr * self.gain * mask

    images = torch.rand(2, 1, 8, 8)
    present = torch.tensor([[True, False], [False, False]])
    ints = torch.zeros(2, dtype=torch.int64)
    batch = Sample(
        *(images,) * 5,
        torch.full((2, 2), 4),
        ints,
        torch.zeros(2),
        torch.ones(2),
        ints,
        ints,
        present,
    )
    recorder = Recorder()
    trainer = GanTrainer(
        recorder, torch.optim.SGD(recorder.parameters(), lr=0.1), ReconstructionLoss(alpha=0.0)
    )
    trainer.train_step(batch, torch.Generator())
    trainer.evaluate([batch], {})
    assert len(recorder.seen) == 2 and all(torch.equal(p, present) for p in recorder.seen)
