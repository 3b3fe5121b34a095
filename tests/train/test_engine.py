"""The GAN step with stand-in networks that have the generator's and the critic's call."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from mrsisr.data.dataset import Sample
from mrsisr.train.engine import GanTrainer
from mrsisr.train.losses import ReconstructionLoss


class StandInGenerator(nn.Module):
    """``model(lr, t1, flair, mask, n, met, lam, present=None)`` with a lambda-conditioned conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        self.lam_gain = nn.Parameter(torch.tensor(0.5))

    def forward(self, lr, t1, flair, mask, n, met, lam, present=None):
        x = self.conv(torch.cat([lr, t1, flair], 1))
        return (lr + x * (1 + self.lam_gain * lam.view(-1, 1, 1, 1))) * mask


class StandInCritic(nn.Module):
    """``critic(t1, flair, lr, x) -> (B, 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 4, stride=2)
        self.fc = nn.Linear(4, 1)

    def forward(self, t1, flair, lr, x):
        h = torch.relu(self.conv(torch.cat([t1, flair, lr, x], 1)))
        return self.fc(h.mean((2, 3)))


def make_batch(lam: list[float], size: int = 16) -> Sample:
    gen = torch.Generator().manual_seed(3)
    b = len(lam)

    def img():
        return torch.rand(b, 1, size, size, generator=gen)

    return Sample(
        lr=img(),
        t1=img(),
        flair=img(),
        mask=(img() > 0.2).float(),
        hr=img(),
        n=torch.full((b, 2), 8),
        met=torch.zeros(b, dtype=torch.int64),
        lam=torch.tensor(lam),
        scale=torch.full((b,), 2.0),
        patient=torch.zeros(b, dtype=torch.int64),
        slice=torch.zeros(b, dtype=torch.int64),
    )


def l1_only() -> ReconstructionLoss:
    return ReconstructionLoss(alpha=0.0)


def make_trainer(critic: bool, seed: int = 0, n_critic: int = 2) -> GanTrainer:
    torch.manual_seed(seed)
    g = StandInGenerator()
    g_opt = torch.optim.SGD(g.parameters(), lr=0.1)
    if not critic:
        return GanTrainer(g, g_opt, l1_only())
    d = StandInCritic()
    return GanTrainer(
        g, g_opt, l1_only(), d, torch.optim.SGD(d.parameters(), lr=0.1), n_critic=n_critic
    )


def generator_grads(trainer: GanTrainer, batch: Sample) -> dict[str, torch.Tensor]:
    opt = trainer.g_optimizer
    step = opt.step
    opt.step = lambda *a, **k: None  # keep the gradients, skip the update
    try:
        trainer.train_step(batch, torch.Generator().manual_seed(0))
    finally:
        opt.step = step
    return {k: p.grad.clone() for k, p in trainer.generator.named_parameters()}


def test_without_critic_the_step_reports_no_adversarial_terms():
    logs = make_trainer(critic=False).train_step(make_batch([0.0, 0.0]), torch.Generator())
    assert set(logs) == {"loss", "l1", "ms_ssim"}


def test_zero_lambda_gradient_is_identical_with_and_without_adversarial_term():
    batch = make_batch([0.0, 0.0, 0.0])
    plain = generator_grads(make_trainer(critic=False), batch)
    gan = generator_grads(make_trainer(critic=True), batch)
    for name in plain:
        assert torch.equal(plain[name], gan[name]), name


def test_positive_lambda_adds_the_critic_gradient():
    batch = make_batch([0.1, 0.0])
    plain = generator_grads(make_trainer(critic=False), batch)
    gan = generator_grads(make_trainer(critic=True), batch)
    assert not torch.equal(plain["conv.weight"], gan["conv.weight"])


def test_critic_is_updated_n_critic_times_and_untouched_by_the_generator_step():
    trainer = make_trainer(critic=True, n_critic=3)
    calls = []
    original = trainer.d_optimizer.step
    trainer.d_optimizer.step = lambda *a, **k: calls.append(1) or original(*a, **k)
    before = copy.deepcopy(trainer.critic.state_dict())
    logs = trainer.train_step(make_batch([0.05, 0.1]), torch.Generator().manual_seed(1))
    assert len(calls) == 3
    assert {"critic", "gp", "wdist", "adv"} <= set(logs)
    assert any(not torch.equal(before[k], v) for k, v in trainer.critic.state_dict().items())
    assert all(p.requires_grad for p in trainer.critic.parameters())


def test_same_rng_gives_the_same_step_and_another_rng_another_penalty():
    batch = make_batch([0.05, 0.1])
    runs = []
    for seed in (5, 5, 6):
        trainer = make_trainer(critic=True)
        runs.append(trainer.train_step(batch, torch.Generator().manual_seed(seed)))
    assert runs[0] == runs[1]
    assert runs[0]["gp"] != runs[2]["gp"]


def test_evaluate_sums_per_sample_metrics_at_lambda_zero_on_denormalised_maps():
    trainer = make_trainer(critic=False)
    batch = make_batch([0.1, 0.1])
    seen = {}

    def record(pred, target, data_range, mask=None):
        seen["target"], seen["range"] = target, data_range
        return torch.ones(pred.shape[0])

    sums = trainer.evaluate([batch, batch], {"ones": record})
    assert sums["count"] == 4 and sums["ones"] == 4
    torch.testing.assert_close(seen["target"], batch.hr * batch.mask * 2.0)
    with torch.no_grad():
        zero = trainer.generator(*batch[:5], batch.met, torch.zeros(2))
    l1 = ((zero - batch.hr * batch.mask).abs() * batch.mask).flatten(1).sum(1)
    l1 = l1 / batch.mask.flatten(1).sum(1)
    assert sums["l1"] == pytest.approx(2 * l1.sum().item(), rel=1e-5)


def test_critic_without_optimiser_is_rejected():
    g = StandInGenerator()
    with pytest.raises(ValueError, match="together"):
        GanTrainer(g, torch.optim.SGD(g.parameters(), lr=0.1), l1_only(), StandInCritic())
