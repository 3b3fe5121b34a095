"""The adversarial term's share of a training step: one step with and without the critic.

Usage: ``python benchmarks/critic_share.py [--config realistic] [--threads 2] [--repeats 12]``.
Both trainers are built from the same configuration (``adversarial.enabled`` on and off) with
the project's builders, and run on the same synthetic batch of ``batch_size`` samples (every
sample its own n, metabolite and λ > 0), their steps interleaved so that the shared machine's
load falls on both alike. Prints the median step times, their ratio and the critic's share
of a step (``1 - without / with``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from mrsisr.data.dataset import Sample
from mrsisr.train import builders
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import load_config
from mrsisr.train.engine import GanTrainer


def synthetic_batch(batch: int, grid: tuple[int, int], seed: int = 0) -> Sample:
    """A batch of random maps and images with random conditions."""
    gen = torch.Generator().manual_seed(seed)
    ny, nx = grid

    def image() -> torch.Tensor:
        return torch.rand(batch, 1, ny, nx, generator=gen)

    return Sample(
        lr=image(),
        t1=image(),
        flair=image(),
        mask=torch.ones(batch, 1, ny, nx),
        hr=image(),
        n=torch.randint(16, 33, (batch, 2), generator=gen),
        met=torch.randint(0, 7, (batch,), generator=gen),
        lam=torch.rand(batch, generator=gen) * 0.1,
        scale=torch.ones(batch),
        patient=torch.zeros(batch, dtype=torch.int64),
        slice=torch.zeros(batch, dtype=torch.int64),
    )


def trainer(config_name: str, adversarial: bool) -> GanTrainer:
    """A trainer of the configuration, with or without its critic."""
    config = load_config(config_name)
    return trainer_of(
        dataclasses.replace(
            config, adversarial=dataclasses.replace(config.adversarial, enabled=adversarial)
        )
    )


def trainer_of(config: TrainConfig) -> GanTrainer:
    """A trainer as ``mrsisr train`` builds it for ``config`` (seeded: same weights each call)."""
    torch.manual_seed(0)
    generator = builders.build_generator_for(config)
    critic = builders.build_critic_for(config)
    return GanTrainer(
        generator,
        builders.build_optimizer(generator.parameters(), config.optim.lr, config),
        builders.build_loss(config),
        critic,
        None
        if critic is None
        else builders.build_optimizer(critic.parameters(), config.optim.critic_lr, config),
        n_critic=config.adversarial.n_critic,
        gp_weight=config.adversarial.gp_weight,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="realistic")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    batch = synthetic_batch(config.batch_size, tuple(config.model.grid))
    trainers = {"with critic": trainer(args.config, True), "without": trainer(args.config, False)}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    rng = torch.Generator().manual_seed(0)
    for i in range(args.warmup + args.repeats):
        for name, t in trainers.items():
            start = time.perf_counter()
            t.train_step(batch, rng)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    with_critic, without = (statistics.median(times[k]) for k in trainers)
    print(
        f"torch {torch.__version__}, {args.threads} threads, config {args.config}, "
        f"batch {config.batch_size}, n_critic {config.adversarial.n_critic}"
    )
    print(f"median step: with critic {1000 * with_critic:.0f} ms, without {1000 * without:.0f} ms")
    share = 1 - without / with_critic
    print(f"ratio {with_critic / without:.2f}; critic's share of a step {share:.0%}")


if __name__ == "__main__":
    main()
