"""What is benchmarked: the network configurations (cases) and the units of work (workloads).

Cases, all with the same seed and the same data:

* ``plain``: the unconditioned UNet (same architecture, plain convs and instance norm), the
  floor the conditioning is measured against;
* ``loop``: the shipped model (``full``) run on one sample at a time
  (:class:`~mrsisr.nn.unet.PerSampleLoop`), the naive reference:
  what per-sample conditioning costs without batching it (every condition-dependent product,
  trunk, head, kernel and convolution is computed per sample; the loss, backward and Adam
  still see the whole batch);
* ``loop_conv``: the shipped model on the whole batch with only its per-sample convolutions
  run one sample at a time (``conv_impl="loop"``): what the grouped convolution buys;
* ``fast``: the shipped model as trained, one grouped convolution per layer;
* ``fast_grouped``: the shipped model on batches whose samples share ``(n, m)`` (the
  ``data.grouped_batches`` training option); each layer then runs one plain convolution.

Workloads reuse the training engine (:class:`~mrsisr.train.engine.GanTrainer`, the paper's
loss, fused Adam as configured) so the times are those of real training:

* ``train``: one generator step without a critic;
* ``gan1`` / ``gan5``: one WGAN-GP step with 1 or 5 critic updates;
* ``infer_b1`` / ``infer_b32``: a forward pass in inference mode on 1 or 32 maps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from mrsisr.metabolites import METABOLITES
from mrsisr.options import StrEnum
from mrsisr.scales import fitting_scales
from mrsisr.train.config import TrainConfig

__all__ = ["Case", "Workload", "WorkloadSpec", "make_batch", "make_call"]


class Case(StrEnum):
    """A network configuration (see the module docstring)."""

    plain = "plain"
    loop = "loop"
    loop_conv = "loop_conv"
    fast = "fast"
    fast_grouped = "fast_grouped"


CASE_HELP: dict[Case, str] = {
    Case.plain: "unconditioned UNet (no conditioning: the floor)",
    Case.loop: "full model run on one sample at a time in a Python loop (naive reference)",
    Case.loop_conv: "full model, batched, only the per-sample convolutions in a Python loop",
    Case.fast: "full model, mixed batch, grouped per-sample convolution (shipped path)",
    Case.fast_grouped: "full model, batch sharing (n, m): one plain conv per layer",
}


class Workload(StrEnum):
    """A unit of work that is timed (see the module docstring)."""

    train = "train"
    gan1 = "gan1"
    gan5 = "gan5"
    infer_b1 = "infer_b1"
    infer_b32 = "infer_b32"


@dataclass(frozen=True)
class WorkloadSpec:
    """How a workload runs: training or inference, its batch size, its critic updates."""

    training: bool
    batch: int
    n_critic: int = 0
    """0: no critic."""


def workload_spec(workload: Workload, train_batch: int) -> WorkloadSpec:
    """The spec of ``workload`` with the training batch size ``train_batch``."""
    return {
        Workload.train: WorkloadSpec(True, train_batch),
        Workload.gan1: WorkloadSpec(True, train_batch, 1),
        Workload.gan5: WorkloadSpec(True, train_batch, 5),
        Workload.infer_b1: WorkloadSpec(False, 1),
        Workload.infer_b32: WorkloadSpec(False, 32),
    }[workload]


def _ellipse_mask(ny: int, nx: int) -> torch.Tensor:
    y, x = np.mgrid[0:ny, 0:nx]
    inside = ((y - (ny - 1) / 2) / (0.42 * ny)) ** 2 + ((x - (nx - 1) / 2) / (0.36 * nx)) ** 2
    return torch.from_numpy((inside <= 1).astype(np.float32))


def make_batch(batch: int, grid: tuple[int, int], shared: bool, seed: int = 0) -> Any:
    """A synthetic :class:`~mrsisr.data.dataset.Sample` batch with realistic conditions.

    Maps are smooth random fields; ``lr`` is their exact zero-filled ``n``-point acquisition.
    ``n`` is square, drawn from ``N/4 .. N/2`` (16..32 at 64 x 64), the metabolite from all
    of them and lambda from ``U[0, 0.1]`` with one sample at 0.

    Args:
        batch: ``B``.
        grid: ``(N_y, N_x)``.
        shared: every sample has the same ``n`` and metabolite (a grouped batch); lambda
            still differs per sample.
        seed: seed of every draw.
    """
    from mrsisr.data.dataset import Sample, simulate_input

    rng = np.random.default_rng(seed)
    ny, nx = grid
    low, high = max(2, min(grid) // 4), max(2, min(grid) // 2)
    sizes = rng.integers(low, high + 1, size=1 if shared else batch)
    mets = rng.integers(0, len(METABOLITES), size=1 if shared else batch)
    sizes, mets = np.resize(sizes, batch), np.resize(mets, batch)
    coarse = rng.random((batch, max(2, ny // 8), max(2, nx // 8)))
    mask = _ellipse_mask(ny, nx)
    hr = (
        torch.nn.functional.interpolate(
            torch.from_numpy(coarse)[:, None], size=(ny, nx), mode="bicubic", align_corners=False
        )[:, 0]
        .clamp_min(0)
        .numpy()
    )
    hr = hr * mask.numpy()
    lr = np.stack([simulate_input(hr[b], (int(s), int(s))) for b, s in enumerate(sizes)])
    gen = torch.Generator().manual_seed(seed)
    t1, flair = (torch.rand(batch, 1, ny, nx, generator=gen) for _ in range(2))
    lam = rng.uniform(0.0, 0.1, size=batch).astype(np.float32)
    lam[0] = 0.0
    return Sample(
        lr=torch.from_numpy(lr).float()[:, None],
        t1=t1,
        flair=flair,
        mask=mask.expand(batch, 1, ny, nx).contiguous(),
        hr=torch.from_numpy(hr).float()[:, None],
        n=torch.from_numpy(np.stack([sizes, sizes], axis=1)).long(),
        met=torch.from_numpy(mets).long(),
        lam=torch.from_numpy(lam),
        scale=torch.ones(batch),
        patient=torch.zeros(batch, dtype=torch.long),
        slice=torch.arange(batch),
    )


def _train_config(grid: tuple[int, int]) -> Any:
    """The default training configuration, with an MS-SSIM that fits a small test grid."""

    config = TrainConfig()
    config.model = replace(config.model, grid=grid)
    size, window = min(grid), config.loss.ms_ssim_window
    config.loss.ms_ssim_scales = fitting_scales(size, window, config.loss.ms_ssim_scales)
    config.loss.ms_ssim_window = min(window, size - 1 + size % 2)
    return config


def make_call(
    case: Case, workload: Workload, train_batch: int, grid: tuple[int, int], seed: int = 0
) -> Callable[[], Any]:
    """Build the networks, optimisers and data of one (case, workload); return one unit of it.

    Every case is built from the same seed, so every case of the ``full`` model holds the
    same weights.
    """
    from mrsisr.nn.unet import PerSampleLoop
    from mrsisr.nn.variants import build_critic, build_generator
    from mrsisr.train.builders import build_loss, build_optimizer
    from mrsisr.train.engine import GanTrainer

    spec = workload_spec(workload, train_batch)
    variant = "unconditioned" if case == Case.plain else "full"
    impl = "loop" if case == Case.loop_conv else "grouped"
    torch.manual_seed(seed)
    model: torch.nn.Module = build_generator(variant, grid=grid, conv_impl=impl)
    if case == Case.loop:
        model = PerSampleLoop(model)
    batch = make_batch(spec.batch, grid, shared=case == Case.fast_grouped, seed=seed)
    if not spec.training:
        model.eval()
        inputs = (batch.lr, batch.t1, batch.flair, batch.mask, batch.n, batch.met, batch.lam)

        def infer() -> torch.Tensor:
            with torch.inference_mode():
                return model(*inputs)

        return infer
    config = _train_config(grid)
    critic = build_critic() if spec.n_critic else None
    trainer = GanTrainer(
        model,
        build_optimizer(model.parameters(), config.optim.lr, config),
        build_loss(config),
        critic,
        build_optimizer(critic.parameters(), config.optim.critic_lr, config) if critic else None,
        n_critic=max(spec.n_critic, 1),
        gp_weight=config.adversarial.gp_weight,
    )
    rng = torch.Generator().manual_seed(seed)
    return lambda: trainer.train_step(batch, rng)
