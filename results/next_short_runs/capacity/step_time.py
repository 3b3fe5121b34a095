"""The cost of width: one training step (no critic) of the full network at channels 8-128
and 12-192, steps interleaved on the same synthetic batch (``benchmarks/critic_share.py``'s)::

    python results/next_short_runs/capacity/step_time.py [--threads 1] [--repeats 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from critic_share import synthetic_batch, trainer_of

from mrsisr.train.config_io import load_config
from mrsisr.train.engine import GanTrainer

WIDTHS = {"8-128": (8, 16, 32, 64, 128), "12-192": (12, 24, 48, 96, 192)}


def trainer(channels: tuple[int, ...]) -> tuple[GanTrainer, int]:
    """A trainer of ``configs/randomised.toml`` at λ = 0 without the critic, and its size."""
    config = load_config("randomised")
    config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, channels=list(channels)),
        adversarial=dataclasses.replace(config.adversarial, enabled=False),
    )
    t = trainer_of(config)
    return t, sum(p.numel() for p in t.generator.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = synthetic_batch(8, (64, 64))
    trainers = {name: trainer(channels) for name, channels in WIDTHS.items()}
    times: dict[str, list[float]] = {name: [] for name in trainers}
    rng = torch.Generator().manual_seed(0)
    for i in range(2 + args.repeats):
        for name, (t, _) in trainers.items():
            start = time.perf_counter()
            t.train_step(batch, rng)
            if i >= 2:
                times[name].append(time.perf_counter() - start)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 8, 64 x 64, no critic")
    for name, (_, parameters) in trainers.items():
        print(
            f"channels {name}: {parameters:,} parameters, median step "
            f"{1000 * statistics.median(times[name]):.0f} ms"
        )
    base, wide = (statistics.median(times[k]) for k in WIDTHS)
    print(f"ratio {wide / base:.2f}")


if __name__ == "__main__":
    main()
