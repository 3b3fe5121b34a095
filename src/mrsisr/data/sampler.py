"""Batching: a sampler that groups one (n, metabolite) per batch, and the loader factory.

The default batch mixes acquisition sizes, metabolites and λ (the networks condition per
sample). The original authors instead put one metabolite and one ``n`` in each batch;
:class:`GroupedBatchSampler` reproduces that for comparisons: it yields batches of
:class:`~mrsisr.data.dataset.SampleKey` that impose the batch's ``n`` on the dataset.

A dataset with other output grids than the model's (``MRSIDataset.grids``) or with patients
of several native grids (a merged cohort, ``MRSIDataset.native_grids``) needs one grid per
batch, since a batch stacks its images: :class:`GridBatchSampler` (mixed batches, made by
:func:`make_loader`) draws each batch's native grid with :func:`batch_native_grid` and then
its samples among that grid's only; :class:`GroupedBatchSampler` groups by native grid too.
Both impose on a batch of the model's grid the grid :func:`batch_grid` draws. Each draw comes
from ``(seed, epoch, batch index)`` and a stream of its own. :func:`one_grid_batches` cuts a
fixed list of samples (validation) into batches of one native grid each.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Sized

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    Sampler,
    SequentialSampler,
)

from mrsisr.data.dataset import MRSIDataset, SampleKey

__all__ = [
    "EpochShuffleSampler",
    "GridBatchSampler",
    "GroupedBatchSampler",
    "batch_grid",
    "batch_native_grid",
    "make_loader",
    "one_grid_batches",
    "set_loader_epoch",
]

_GRID_STREAM = 3
"""Extra seed word of the per-batch grid draws (independent of the shuffles and ``n``)."""
_NATIVE_STREAM = 4
"""Extra seed word of the per-batch native-grid draws (independent of every other draw)."""

Grid = tuple[int, int]


def batch_grid(dataset: MRSIDataset, seed: int, epoch: int, batch: int) -> tuple[int, int] | None:
    """The output grid of one batch of the model's native grid, drawn uniformly from
    ``dataset.grids``.

    Args:
        dataset: the dataset the batch is drawn from.
        seed: the sampler's seed.
        epoch: the epoch.
        batch: the batch's index in the epoch (on this rank for :class:`GridBatchSampler`,
            before sharding for :class:`GroupedBatchSampler`).

    Returns:
        ``None`` (the native grid, nothing imposed) when ``dataset.grids`` is only the
        model's grid, else the drawn ``(N_y, N_x)``.
    """
    if not dataset.other_grids:
        return None
    rng = np.random.default_rng([seed, epoch, batch, _GRID_STREAM])
    return dataset.grids[int(rng.integers(len(dataset.grids)))]


def batch_native_grid(
    dataset: MRSIDataset,
    seed: int,
    epoch: int,
    batch: int,
    available: Collection[Grid] | None = None,
) -> Grid | None:
    """The native grid one batch draws its samples from, with probability proportional to
    that grid's number of samples in ``dataset``.

    Args:
        dataset: the dataset the batch is drawn from.
        seed: the sampler's seed.
        epoch: the epoch.
        batch: the batch's index in the epoch (on this rank).
        available: the native grids that may be drawn (those a rank holds samples of), their
            shares renormalised; ``None``: every native grid of ``dataset``.

    Returns:
        ``None`` when ``dataset`` has one native grid (nothing to draw), else the drawn
        ``(N_y, N_x)``: a function of ``(seed, epoch, batch)`` when every grid is available.
    """
    if not dataset.mixed_grids:
        return None
    return _draw_native(dataset, seed, epoch, batch, available)


def _draw_native(
    dataset: MRSIDataset, seed: int, epoch: int, batch: int, available: Collection[Grid] | None
) -> Grid:
    """:func:`batch_native_grid`'s draw, of one of several native grids."""
    pairs = zip(dataset.native_grids, dataset.native_samples)
    drawable = [(g, c) for g, c in pairs if available is None or g in available]
    cumulative = np.cumsum([c for _, c in drawable]) / sum(c for _, c in drawable)
    u = np.random.default_rng([seed, epoch, batch, _NATIVE_STREAM]).random()
    return drawable[min(int(np.searchsorted(cumulative, u, side="right")), len(drawable) - 1)][0]


def _imposed_grid(
    dataset: MRSIDataset, native: Grid | None, seed: int, epoch: int, batch: int
) -> Grid | None:
    """The grid imposed on a batch of one native grid (``None``: the dataset's only one):
    :func:`batch_grid`'s draw for the model's grid, nothing (their own) for the others."""
    return batch_grid(dataset, seed, epoch, batch) if native in (None, dataset.grid) else None


def one_grid_batches(
    dataset: MRSIDataset, indices: Iterable[int], batch_size: int
) -> list[list[int]]:
    """``indices`` cut into batches of at most ``batch_size``, each of one native grid: the
    indices of each native grid in their order, one grid after the other (for a dataset of
    one native grid, consecutive slices of ``indices``). A batch sampler of fixed samples,
    e.g. a rank's share of the validation set."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    groups: dict[Grid, list[int]] = {}
    for index in indices:
        groups.setdefault(dataset.native_grid_of(index), []).append(int(index))
    return [
        group[start : start + batch_size]
        for group in groups.values()
        for start in range(0, len(group), batch_size)
    ]


class GroupedBatchSampler(Sampler[list[SampleKey]]):
    """Batches whose samples share one metabolite, one acquisition size ``n`` and one grid.

    Each epoch, the indices of every metabolite (and, for an ``expand_n`` dataset, of every
    fixed ``n``; for a dataset of several native grids, of every native grid) are shuffled
    and cut into batches; each batch of a dataset that draws ``n`` gets one ``n`` drawn
    uniformly from ``dataset.n_choices``; the batch order is shuffled (so batch ``b`` is of
    a native grid with probability about that grid's share of the samples, and every sample
    is read once), then each batch of the model's grid gets its output grid from
    :func:`batch_grid` (only with ``dataset.grids`` other than the model's grid). With
    ``num_replicas > 1`` each rank takes every ``num_replicas``-th batch (torchrun).

    Args:
        dataset: the dataset to sample.
        batch_size: samples per batch.
        shuffle: shuffle within groups and the batch order (else a fixed order, and each
            batch still gets its ``n`` from a generator seeded by ``seed``).
        drop_last: drop the incomplete last batch of each group.
        seed: seed of the shuffles and ``n`` draws (combined with the epoch).
        num_replicas: number of distributed processes.
        rank: this process's rank, ``0 <= rank < num_replicas``.
    """

    def __init__(
        self,
        dataset: MRSIDataset,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        groups: dict[tuple, list[int]] = {}
        for index in range(len(dataset)):
            key = (*dataset.group_of(index), dataset.native_grid_of(index))
            groups.setdefault(key, []).append(index)
        self.groups = groups
        """Sample indices per ``(metabolite index, fixed n or None, native grid)``."""

    def set_epoch(self, epoch: int) -> None:
        """Use the shuffles and ``n`` draws of another epoch."""
        self.epoch = int(epoch)

    def _batches(self) -> list[list[SampleKey]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        choices = self.dataset.n_choices
        batches: list[tuple[Grid, list[SampleKey]]] = []
        for (_, fixed_n, native), indices in self.groups.items():
            order = rng.permutation(indices) if self.shuffle else np.asarray(indices)
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                if self.drop_last and len(chunk) < self.batch_size:
                    continue
                n = fixed_n if fixed_n is not None else choices[int(rng.integers(len(choices)))]
                batches.append((native, [SampleKey(int(i), n) for i in chunk]))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        grids = (
            _imposed_grid(self.dataset, native, self.seed, self.epoch, b)
            for b, (native, _) in enumerate(batches)
        )
        return [
            batch if grid is None else [key._replace(grid=grid) for key in batch]
            for (_, batch), grid in zip(batches, grids)
        ]

    def __iter__(self) -> Iterator[list[SampleKey]]:
        batches = self._batches()
        yield from batches[self.rank : len(self) * self.num_replicas : self.num_replicas]

    def __len__(self) -> int:
        total = sum(
            len(g) // self.batch_size if self.drop_last else math.ceil(len(g) / self.batch_size)
            for g in self.groups.values()
        )
        return total // self.num_replicas  # every rank yields the same number of batches


class GridBatchSampler(Sampler[list[SampleKey]]):
    """Batches of a sample sampler, each of one output grid.

    With one native grid, the batches are those of ``batches``, each imposing the output
    grid :func:`batch_grid` draws. With several (a merged cohort), batch ``b`` draws its
    native grid with :func:`batch_native_grid` and takes the next ``batch_size`` samples of
    that grid in the sample sampler's order (this rank's share under ``torchrun``); a grid
    drawn more often than its share starts its order again, so an epoch keeps
    ``len(batches)`` batches on every rank, each full; batches of the model's grid then get
    their output grid from :func:`batch_grid`, the others stay on their native grid.

    Args:
        dataset: the dataset whose grids are drawn.
        batches: batches of indices of ``dataset`` (a :class:`~torch.utils.data.BatchSampler`
            of the sample sampler); :meth:`set_epoch` is passed on to its sampler.
        seed: seed of the grid draws (combined with the epoch and the batch index).
    """

    def __init__(self, dataset: MRSIDataset, batches: BatchSampler, seed: int = 0) -> None:
        self.dataset = dataset
        self.batches = batches
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the grid draws, and the sample sampler's order, of another epoch."""
        self.epoch = int(epoch)
        set_epoch = getattr(self.batches.sampler, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)

    def __iter__(self) -> Iterator[list[SampleKey]]:
        if self.dataset.mixed_grids:
            yield from self._native_batches()
            return
        for index, batch in enumerate(self.batches):
            grid = batch_grid(self.dataset, self.seed, self.epoch, index)
            yield [SampleKey(int(i), grid=grid) for i in batch]

    def _native_batches(self) -> Iterator[list[SampleKey]]:
        """Batches of one native grid each, drawn per batch (see the class docstring)."""
        queues: dict[Grid, list[int]] = {}
        for index in self.batches.sampler:
            queues.setdefault(self.dataset.native_grid_of(index), []).append(int(index))
        taken = dict.fromkeys(queues, 0)
        for b in range(len(self.batches)):
            native = _draw_native(self.dataset, self.seed, self.epoch, b, queues.keys())
            queue, start = queues[native], taken[native]
            items = [queue[(start + k) % len(queue)] for k in range(min(self.size, len(queue)))]
            taken[native] = start + len(items)
            grid = _imposed_grid(self.dataset, native, self.seed, self.epoch, b)
            yield [SampleKey(i, grid=grid) for i in items]

    @property
    def size(self) -> int:
        """Samples per batch."""
        return int(self.batches.batch_size)

    def __len__(self) -> int:
        return len(self.batches)


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of the dataset per epoch, seeded by ``(seed, epoch)``.

    Unlike a sampler driven by one running generator, epoch ``e`` always gets the same
    order, so a resumed run replays the orders of an uninterrupted one.

    Args:
        data: the dataset (only its length is used).
        seed: seed of the permutations.
    """

    def __init__(self, data: Sized, seed: int = 0) -> None:
        self.data = data
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of another epoch."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.data))
        return iter(order.tolist())

    def __len__(self) -> int:
        return len(self.data)


def make_loader(
    dataset: MRSIDataset,
    batch_size: int,
    shuffle: bool = True,
    num_workers: int = 0,
    sampler: Sampler | None = None,
    distributed: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader of batched :class:`~mrsisr.data.dataset.Sample`.

    Producing a batch of 8 takes a few milliseconds in the main process (see
    ``docs/data-pipeline.md``), far below a training step, so ``num_workers=0`` is the right
    default on a small CPU machine. Call :func:`set_loader_epoch` before every epoch.

    Args:
        dataset: the dataset.
        batch_size: samples per batch (ignored when ``sampler`` is a batch sampler).
        shuffle: reshuffle the sample order every epoch.
        num_workers: loader worker processes (0 loads in the main process). Workers are not
            persistent, so they see the dataset's epoch set by :func:`set_loader_epoch`.
        sampler: a :class:`GroupedBatchSampler` (used as the batch sampler) or any sample
            sampler; ``None`` for the default. With ``dataset.grids`` other than the
            model's grid or patients of several native grids, the sample sampler's batches
            go through a :class:`GridBatchSampler` (one grid per batch, seeded by ``seed``).
        distributed: shard samples across the ranks of an initialised process group with
            :class:`~torch.utils.data.DistributedSampler` (``torchrun``); a
            :class:`GroupedBatchSampler` made with ``num_replicas=1`` is sharded instead.
        seed: seed of the shuffle order.
        drop_last: drop the last incomplete batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if isinstance(sampler, GroupedBatchSampler):
        if distributed and sampler.num_replicas == 1 and torch.distributed.is_initialized():
            sampler.num_replicas = torch.distributed.get_world_size()
            sampler.rank = torch.distributed.get_rank()
        return DataLoader(
            dataset, batch_sampler=sampler, num_workers=num_workers, persistent_workers=False
        )
    if sampler is None and distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    elif sampler is None and shuffle:
        sampler = EpochShuffleSampler(dataset, seed=seed)
    if dataset.other_grids or dataset.mixed_grids:
        batches = BatchSampler(sampler or SequentialSampler(dataset), batch_size, drop_last)
        return DataLoader(
            dataset,
            batch_sampler=GridBatchSampler(dataset, batches, seed=seed),
            num_workers=num_workers,
            persistent_workers=False,
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        persistent_workers=False,
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell a loader's dataset and sampler which epoch starts (call before iterating)."""
    for part in (loader.dataset, loader.sampler, loader.batch_sampler):
        set_epoch = getattr(part, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
