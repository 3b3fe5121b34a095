"""Make the parts of a run from its configuration: networks, optimisers, schedules, data.

Every random draw of a run is derived from ``(seed, purpose, rank, epoch or step)`` by
:func:`derive_seed`, so that a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from mrsisr.errors import UserError, argument
from mrsisr.train.config import TrainConfig
from mrsisr.train.losses import ReconstructionLoss

if TYPE_CHECKING:
    from mrsisr.data.cohort import Cohort
    from mrsisr.data.dataset import MRSIDataset
    from mrsisr.data.splits import Split

__all__ = [
    "acquisition_sizes",
    "build_critic_for",
    "build_datasets",
    "build_generator_for",
    "build_loss",
    "build_optimizer",
    "build_scheduler",
    "check_model",
    "derive_seed",
    "initial_generator",
    "seed_globals",
    "step_generator",
    "validation_loader",
]

log = logging.getLogger(__name__)


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from integers and labels, e.g. ``derive_seed(seed, "gp", rank, step)``."""
    words = [
        int(p) if not isinstance(p, str) else int.from_bytes(p.encode(), "little") for p in parts
    ]
    return int(np.random.SeedSequence(words).generate_state(2, np.uint64)[0] >> np.uint64(1))


def seed_globals(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - third-party code may use the global one
    torch.manual_seed(seed)


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU generator of the gradient-penalty draws of one optimisation step."""
    return torch.Generator().manual_seed(derive_seed(seed, "step", rank, step))


def check_model(config: TrainConfig) -> None:
    """Check the architecture options that depend on the variant.

    Raises:
        UserError: presence flags for a variant with plain convolutions.
    """
    if config.model.presence:
        from mrsisr.nn.unet import ConvKind
        from mrsisr.nn.variants import CONDITIONING

        if CONDITIONING[config.variant].conv == ConvKind.plain:
            raise UserError(
                f"model.presence = true: the presence flags condition the filter trunks, which "
                f"the {config.variant} variant has not (plain convolutions); use full, "
                "filter_scaling, filter_scaling_met or hypernetwork"
            )


def build_generator_for(config: TrainConfig) -> nn.Module:
    """The generator of ``config.variant`` with the ``config.model`` architecture."""
    from mrsisr.nn.variants import build_generator

    return build_generator(config.variant, **dataclasses.asdict(config.model))


def build_critic_for(config: TrainConfig) -> nn.Module | None:
    """The critic, or ``None`` when the run has no adversarial term."""
    if not config.uses_critic:
        return None
    from mrsisr.nn.variants import build_critic

    return build_critic(**dataclasses.asdict(config.adversarial.critic))


def build_loss(config: TrainConfig) -> ReconstructionLoss:
    """The masked reconstruction loss with the configured MS-SSIM scales and window."""
    from mrsisr.metrics import ms_ssim, ms_ssim_weights

    similarity = functools.partial(
        ms_ssim,
        weights=ms_ssim_weights(config.loss.ms_ssim_scales),
        win_size=config.loss.ms_ssim_window,
    )
    return ReconstructionLoss(alpha=config.loss.alpha, ms_ssim=similarity)


def build_optimizer(params: Any, lr: float, config: TrainConfig) -> torch.optim.Adam:
    """Adam with the configured betas and weight decay; fused when asked and supported."""
    params = [p for p in params if p.requires_grad]
    options: dict[str, Any] = {
        "lr": lr,
        "betas": tuple(config.optim.betas),
        "weight_decay": config.optim.weight_decay,
    }
    if config.optim.fused:
        try:
            return torch.optim.Adam(params, fused=True, **options)
        except (RuntimeError, ValueError) as err:  # device or dtype without a fused kernel
            log.debug("fused Adam unavailable (%s); using the default implementation", err)
    return torch.optim.Adam(params, **options)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.StepLR:
    """Step decay of the learning rate, stepped once per epoch."""
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.optim.step_epochs, gamma=config.optim.gamma
    )


def acquisition_sizes(config: TrainConfig) -> list[int | tuple[int, int]]:
    """The acquisition sizes the data draw from: ``data.n_choices`` (square), or every
    ``(n_y, n_x)`` pair of them with ``data.n_axes = "independent"``."""
    choices = [int(n) for n in config.data.n_choices]
    if config.data.n_axes == "independent":
        return [(n_y, n_x) for n_y in choices for n_x in choices]
    return list(choices)


def initial_generator(config: TrainConfig) -> nn.Module:
    """The generator a run starts from: random (seeded), or ``config.init_model``'s weights.

    Raises:
        UserError: the file is not a model file of the configured variant and architecture.
    """
    generator = build_generator_for(config)
    if not config.init_model:
        return generator
    from mrsisr.checkpoint import load_model

    loaded, info = load_model(config.init_model)
    if info.variant != config.variant:
        raise UserError(
            f"init_model {config.init_model}: a {info.variant} model, the run trains "
            f"{config.variant}"
        )
    try:
        generator.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError:
        raise UserError(
            f"init_model {config.init_model}: its architecture is not the run's model "
            f"section (compare `mrsisr models` with {argument('config.model')})"
        ) from None
    return generator


def build_datasets(
    config: TrainConfig, cohort: Cohort, split: Split
) -> tuple[MRSIDataset, MRSIDataset]:
    """Training and validation :class:`~mrsisr.data.dataset.MRSIDataset` of one split.

    The training set draws ``n``, lambda and augmentations from ``(seed, epoch, index)`` and
    may be presented on the output grids of ``data.grids`` (its loader imposes one per
    batch); the validation set is deterministic, unaugmented, at lambda = 0, on each
    patient's native grid, with one fixed ``n`` per map drawn from ``n_choices`` (or every
    ``n`` with ``data.val_all_n``). ``n_choices`` are given for ``model.grid``; a patient of
    another native grid (a merged cohort) is acquired at ``n`` scaled to its grid.
    """
    from mrsisr.data.dataset import MRSIDataset

    metabolites = list(config.data.metabolites) or None
    n_choices = acquisition_sizes(config)
    try:
        train = MRSIDataset(
            cohort,
            list(split.train),
            metabolites,
            lam_range=config.lam_range,
            lam_zero_prob=config.data.lam_zero_prob if config.uses_critic else 1.0,
            augment=config.data.augment,
            max_shift=config.data.max_shift,
            presence_probs=config.data.presence_probs,
            window_probs=config.data.window_probs,
            target=config.data.target,
            n_choices=n_choices,
            grids=[(g[0], g[1]) for g in config.data.grids] or None,
            model_grid=config.model.grid,
            seed=config.seed,
        )
        val = MRSIDataset(
            cohort,
            list(split.val),
            list(train.metabolites),
            lam_range=(0.0, 0.0),
            lam_zero_prob=1.0,
            augment=False,
            expand_n=config.data.val_all_n,
            deterministic=True,
            n_choices=n_choices,
            model_grid=config.model.grid,
            seed=config.seed,
        )
    except ValueError as err:
        raise UserError(f"{argument('data')}: cannot build the training data ({err})") from None
    if len(train) == 0 or len(val) == 0:
        raise UserError(
            f"{argument('data')}: the split leaves no training or no validation samples"
        )
    return train, val


def validation_loader(
    dataset: MRSIDataset, batch_size: int, rank: int, world_size: int
) -> DataLoader:
    """This rank's share of the validation set (every ``world_size``-th sample, no padding),
    in batches of one native grid each."""
    from mrsisr.data.sampler import one_grid_batches

    share = range(rank, len(dataset), world_size)
    batches = one_grid_batches(dataset, share, batch_size)
    return DataLoader(dataset, batch_sampler=batches, num_workers=0)
