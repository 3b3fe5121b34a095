"""Time one generator training step (forward, backward, Adam) per variant and convolution impl.

Usage: ``python benchmarks/generator_step.py [--threads 2] [--batch 8] [--repeats 10]``.
Each configuration: a mixed batch (every sample its own n, metabolite and lambda), L1 loss,
``Adam(fused=True)`` where supported; a few warm-up steps, then the median and the fastest of
``--repeats`` steps (on a shared machine the fastest step is the less noisy figure).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mrsisr.nn.variants import build_generator, count_parameters


def make_batch(batch: int, grid: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    ny, nx = grid
    images = [torch.rand(batch, 1, ny, nx, generator=gen) for _ in range(4)]
    lr, t1, flair, target = images
    mask = torch.ones(batch, 1, ny, nx)
    n = torch.randint(16, 33, (batch, 2), generator=gen)
    met = torch.randint(0, 7, (batch,), generator=gen)
    lam = torch.rand(batch, generator=gen) * 0.1
    return lr, t1, flair, mask, n, met, lam, target


def time_step(
    variant: str, impl: str, batch: int, repeats: int, warmup: int = 3
) -> tuple[float, float, int]:
    """Median and fastest step time (seconds) and the parameter count."""
    torch.manual_seed(0)
    model = build_generator(variant, conv_impl=impl)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    *inputs, target = make_batch(batch, model.config.grid)
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        out = model(*inputs)
        loss = (out - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), count_parameters(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["unconditioned:grouped", "full:grouped", "full:loop"],
        help="variant:impl pairs",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}")
    for case in args.cases:
        variant, impl = case.split(":")
        median, fastest, params = time_step(variant, impl, args.batch, args.repeats)
        print(
            f"{variant:20s} {impl:8s} {params:>11,d} params  "
            f"median {1000 * median:7.1f} ms/step  fastest {1000 * fastest:7.1f} ms"
        )


if __name__ == "__main__":
    main()
