"""The training Dataset: one sample per (patient, slice, metabolite), degraded on the fly.

A sample is a 2-D axial slice of one metabolite map with its anatomical images and mask. The
low-resolution input is simulated each time the sample is read: the (augmented) map is
truncated to ``n x n`` centred k-space components (:func:`mrsisr.kspace.degrade`) and
zero-filled back to the grid (:func:`mrsisr.kspace.zero_fill`), applied as the equivalent
projection matrices (:func:`simulate_input`), with ``n`` and the sharpness weight λ drawn per
sample. Randomness comes from a generator seeded by ``(seed, epoch,
index)``, so a sample does not depend on the order it is read in or on the number of loader
workers. With ``presence_probs`` a sample may lose its T1 and/or FLAIR (modality dropout):
the absent image is zeros and :attr:`Sample.present` says so; this draw has its own stream,
so the other draws are the same with or without it. With ``window_probs`` the input may be
acquired through a k-space window (Hamming filter and/or elliptical sampling,
:func:`acquisition_window`; its own stream too) while the target is unchanged; the sample's
``window`` code tells the network's data consistency which frequencies were measured
unfiltered. With ``grids`` a sample may lie on another output grid of the same voxel size
(the batch sampler imposes one per batch through :class:`SampleKey`): the augmented slice is
centre-cropped and/or zero-padded to it (:func:`~mrsisr.data.augment.fit_to_grid`) before the
acquisition is simulated, and ``n`` is clipped to it per axis. Patients may lie on different
native grids of one field of view (merged cohorts, e.g. 64 x 64 and 128 x 128): ``n_choices``
are given for the model's grid ``G`` and a patient of native grid ``N`` is acquired at
``n x N / G`` per axis (:func:`scale_n`), the same resolution factor, on its own grid; a batch
holds one grid (the samplers of :mod:`mrsisr.data.sampler`). With ``target="noiseless"``
(simulated cohorts) the target is the noiseless map with the acquired k-space of the measured one
(:func:`noiseless_target`), so the network is not trained to predict noise. See
``docs/data-pipeline.md``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np
import torch
from torch.utils.data import Dataset

from mrsisr.data.augment import apply_augmentation, draw_augmentation, fit_to_grid
from mrsisr.data.inputs import network_inputs
from mrsisr.data.slices import SliceRule, SliceStack, load_slices
from mrsisr.kspace import acquisition_window, apply_kspace_window, projection_matrix
from mrsisr.metabolites import METABOLITES, Metabolite, parse_metabolite
from mrsisr.options import AcquisitionWindow, Target

if TYPE_CHECKING:
    from mrsisr.data.slices import PatientSource

__all__ = [
    "DEFAULT_N_CHOICES",
    "IMAGE_SETS",
    "WINDOWS",
    "Case",
    "MRSIDataset",
    "Sample",
    "SampleKey",
    "SliceRule",
    "acquire",
    "clip_n",
    "noiseless_target",
    "scale_n",
    "simulate_input",
]

logger = logging.getLogger(__name__)

DEFAULT_N_CHOICES: tuple[int, ...] = tuple(range(16, 33, 2))
"""The paper's acquisition sizes: the even n from 16 to 32 (square acquisitions)."""


IMAGE_SETS: tuple[tuple[bool, bool], ...] = (
    (True, True),
    (True, False),
    (False, True),
    (False, False),
)
"""The (T1, FLAIR) presence of each entry of ``presence_probs``: both, T1 only, FLAIR only, none."""

_PRESENCE_STREAM = 1
"""Extra seed word of the modality-dropout draws (independent of n, λ and augmentation)."""
_WINDOW_STREAM = 2
"""Extra seed word of the acquisition-window draws (independent of every other draw)."""

WINDOWS: tuple[AcquisitionWindow, ...] = tuple(AcquisitionWindow)
"""The acquisition window of each entry of ``window_probs``: none, Hamming, elliptical,
elliptical with Hamming."""


class Sample(NamedTuple):
    """One training example; torch's default collate stacks a list of them into a batch.

    Shapes are for one sample; a batch adds a leading ``B`` (``(B, 1, N_y, N_x)``, ``(B, 2)``,
    ``(B,)``). Images are float32.
    """

    lr: torch.Tensor
    """``(1, N_y, N_x)`` zero-filled low-resolution map divided by ``scale``."""
    t1: torch.Tensor
    """``(1, N_y, N_x)`` T1 image, normalised per patient (:func:`normalise_anatomy`)."""
    flair: torch.Tensor
    """``(1, N_y, N_x)`` FLAIR image, normalised per patient."""
    mask: torch.Tensor
    """``(1, N_y, N_x)`` quality mask, float {0, 1}."""
    hr: torch.Tensor
    """``(1, N_y, N_x)`` high-resolution target divided by ``scale`` (the measured map, or
    :func:`noiseless_target`)."""
    n: torch.Tensor
    """``(2,)`` int64 acquisition size ``(n_y, n_x)``."""
    met: torch.Tensor
    """``()`` int64 metabolite index into :data:`~mrsisr.metabolites.METABOLITES`."""
    lam: torch.Tensor
    """``()`` float32 sharpness weight λ."""
    scale: torch.Tensor
    """``()`` float32: multiply ``lr``, ``hr`` or an output by it to get cohort units."""
    patient: torch.Tensor
    """``()`` int64 index of the patient in :attr:`MRSIDataset.patient_ids`."""
    slice: torch.Tensor
    """``()`` int64 slice index ``z`` in the patient's volume."""
    present: torch.Tensor | None = None
    """``(2,)`` bool: whether ``t1`` and ``flair`` are the images or zeros standing for an
    absent one (modality dropout); ``None`` (hand-made batches): both present."""
    window: torch.Tensor | None = None
    """``()`` int64 code of the :class:`~mrsisr.options.AcquisitionWindow` the input was
    acquired through (0: none, the whole ``n x n`` box); ``None`` (hand-made batches): 0."""

    def to(self, device: torch.device | str) -> Sample:
        """The same sample (or batch) with every tensor on ``device``."""
        return Sample._make(None if t is None else t.to(device) for t in self)


class Case(NamedTuple):
    """One drawn sample before normalisation: the slice as ``mrsisr predict`` would hold it
    (a zero-filled map, its images or ``None``, a mask), its target and its conditions.

    :meth:`sample` normalises it with :func:`mrsisr.data.inputs.network_inputs`, the builder
    of predict's inputs, so a map gives the network the same bytes on both paths.
    """

    zero_filled: np.ndarray
    """``(N_y, N_x)`` float64 zero-filled input (:func:`acquire`), in cohort units."""
    target: np.ndarray
    """``(N_y, N_x)`` float64 target in cohort units (the measured map, or
    :func:`noiseless_target`)."""
    t1: np.ndarray | None
    """``(N_y, N_x)`` float32 T1, normalised per patient; ``None``: absent (dropout)."""
    flair: np.ndarray | None
    """``(N_y, N_x)`` float32 FLAIR, normalised per patient; ``None``: absent."""
    mask: np.ndarray
    """``(N_y, N_x)`` bool quality mask."""
    n: tuple[int, int]
    """Acquisition size ``(n_y, n_x)``."""
    met: int
    """Metabolite index into :data:`~mrsisr.metabolites.METABOLITES`."""
    lam: float
    """Sharpness weight λ."""
    window: AcquisitionWindow
    """The acquisition window of the input."""
    patient: int
    """Index of the patient in :attr:`MRSIDataset.patient_ids`."""
    slice: int
    """Slice index ``z`` in the patient's volume."""

    def sample(self) -> Sample:
        """The normalised :class:`Sample` (the target divided by the input's scale)."""
        # The float64 scale divides the map and the target, as predict always has (its
        # outputs are pinned); Sample.scale carries it rounded to float32. Training used to
        # divide by that rounded value, one float32 bit away from predict's inputs.
        inputs, scale = network_inputs(self.zero_filled, self.t1, self.flair, self.mask)
        lr, t1, flair, mask = torch.from_numpy(inputs).split(1)
        return Sample(
            lr=lr,
            t1=t1,
            flair=flair,
            mask=mask,
            hr=torch.from_numpy((self.target / scale).astype(np.float32)[None]),
            n=torch.tensor(self.n, dtype=torch.int64),
            met=torch.tensor(self.met, dtype=torch.int64),
            lam=torch.tensor(self.lam, dtype=torch.float32),
            scale=torch.tensor(float(scale), dtype=torch.float32),
            patient=torch.tensor(self.patient, dtype=torch.int64),
            slice=torch.tensor(self.slice, dtype=torch.int64),
            present=torch.tensor((self.t1 is not None, self.flair is not None)),
            window=torch.tensor(self.window.code, dtype=torch.int64),
        )


class SampleKey(NamedTuple):
    """A dataset index with conditions imposed by a sampler (e.g. one ``n`` per batch)."""

    item: int
    """The dataset index (``item``: a tuple's ``index`` is its method)."""
    n: int | tuple[int, int] | None = None
    """Acquisition size to use instead of drawing one; ``None`` draws as usual."""
    lam: float | None = None
    """Sharpness weight to use instead of drawing one; ``None`` draws as usual."""
    grid: tuple[int, int] | None = None
    """Output grid ``(N_y, N_x)`` of the sample (:func:`~mrsisr.data.augment.fit_to_grid`);
    ``None``: the native grid of the sample's patient."""


@functools.lru_cache(maxsize=128)
def _projection(N: int, n: int) -> np.ndarray:
    """The 1-D matrix of ``zero_fill(degrade(., n), N)`` (float64, read-only)."""
    matrix = projection_matrix(N, n).numpy()
    matrix.flags.writeable = False
    return matrix


def simulate_input(hr: np.ndarray, n: tuple[int, int]) -> np.ndarray:
    """The zero-filled LR input of an ``n``-point acquisition of a map, ``zero_fill(degrade)``.

    Uses the separable projection matrices of :func:`mrsisr.kspace.projection_matrix`
    (``P_y @ hr @ P_x.T``, cached per size): the same operator as the FFT path, several
    times faster for one 64 x 64 map.

    Args:
        hr: real map ``(N_y, N_x)``.
        n: acquisition size ``(n_y, n_x)``.

    Returns:
        Real float64 map ``(N_y, N_x)``.
    """
    return _projection(hr.shape[-2], n[0]) @ hr @ _projection(hr.shape[-1], n[1]).T


@functools.lru_cache(maxsize=512)
def _window(grid: tuple[int, int], n: tuple[int, int], window: AcquisitionWindow) -> np.ndarray:
    weights = acquisition_window(grid, n, hamming=window.hamming_filter, elliptical=window.ellipse)
    weights.flags.writeable = False
    return weights


def acquire(hr: np.ndarray, n: tuple[int, int], window: AcquisitionWindow) -> np.ndarray:
    """The zero-filled LR input of an ``n``-point acquisition through a k-space window.

    ``none`` is :func:`simulate_input` itself (the same bytes); the others multiply its
    k-space by :func:`mrsisr.kspace.acquisition_window` (Hamming filter, elliptical sampling).

    Args:
        hr: real map ``(N_y, N_x)``.
        n: acquisition size ``(n_y, n_x)``.
        window: the acquisition window.

    Returns:
        Real float64 map ``(N_y, N_x)``.
    """
    lr = simulate_input(hr, n)
    if window is AcquisitionWindow.none:
        return lr
    grid = (int(hr.shape[-2]), int(hr.shape[-1]))
    return apply_kspace_window(lr, _window(grid, (int(n[0]), int(n[1])), window))


def noiseless_target(measured: np.ndarray, noiseless: np.ndarray, n: tuple[int, int]) -> np.ndarray:
    """The best a network with exact data consistency can output: the noiseless map with its
    acquired k-space replaced by the measured map's, ``c + P_n (m - c)``.

    The acquired components are kept from the input (:func:`mrsisr.kspace.data_consistency`),
    so only the unacquired ones are learned; the noise in the measured map's unacquired part
    is independent of the input, and predicting it is impossible. Training against this target
    removes that noise from the loss and from the critic's real maps.

    Args:
        measured: real map ``(N_y, N_x)`` with noise.
        noiseless: the same map before noise.
        n: acquisition size ``(n_y, n_x)``.

    Returns:
        Real float64 map ``(N_y, N_x)``.
    """
    clean = np.asarray(noiseless, dtype=np.float64)
    return clean + simulate_input(np.asarray(measured, dtype=np.float64) - clean, n)


def _probabilities(values: Sequence[float], name: str, labels: Sequence[str]) -> tuple[float, ...]:
    """One probability per label, summing to 1 (renormalised), or a ``ValueError``."""
    probs = np.asarray(values, dtype=np.float64)
    if probs.shape != (len(labels),) or (probs < 0).any() or abs(probs.sum() - 1) > 1e-6:
        raise ValueError(
            f"{name} must be {len(labels)} probabilities ({', '.join(labels)}) summing to 1, "
            f"got {list(values)!r}"
        )
    return tuple(float(p) for p in probs / probs.sum())


def _as_grid(value: Sequence[int], name: str) -> tuple[int, int]:
    """An output grid ``(N_y, N_x)`` of two positive sizes, or a ``ValueError`` naming ``name``."""
    pair = tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name}: grid {value!r} is not an (N_y, N_x) pair of sizes >= 1")
    return pair[0], pair[1]


def clip_n(n: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int]:
    """An acquisition size clipped to an output grid per axis: ``min(n, N)`` (at most every
    k-space line of the grid is acquired)."""
    return min(n[0], grid[0]), min(n[1], grid[1])


def scale_n(n: tuple[int, int], native: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int]:
    """An acquisition size given for the model's ``grid``, scaled to a ``native`` grid of the
    same field of view: ``n x N / G`` per axis, rounded half up, at least 1 (the same
    resolution factor ``N / n``; e.g. 16 on a 64 grid is 32 on a 128 grid). Unchanged when
    ``native == grid``; clip it to the output grid with :func:`clip_n`."""
    return (
        max(1, (2 * n[0] * native[0] + grid[0]) // (2 * grid[0])),
        max(1, (2 * n[1] * native[1] + grid[1]) // (2 * grid[1])),
    )


def _as_n(value: int | Sequence[int], grid: tuple[int, int], name: str) -> tuple[int, int]:
    sizes = (value, value) if np.ndim(value) == 0 else value
    pair = tuple(int(v) for v in cast(Sequence[int], sizes))
    if len(pair) != 2 or not (1 <= pair[0] <= grid[0] and 1 <= pair[1] <= grid[1]):
        raise ValueError(
            f"{name}: acquisition size {value!r} is not an int or (n_y, n_x) pair within "
            f"1..{grid} (the grid of the maps)"
        )
    return pair[0], pair[1]


class MRSIDataset(Dataset[Sample]):
    """Samples of (patient, slice, metabolite) with on-the-fly degradation and augmentation.

    The selected patients are loaded once; their slices covered by the mask (``slice_rule``)
    are kept in memory as float32 arrays. Index layout: ``((pair * M) + met) * E + n_index``
    over the ``(patient, slice)`` pairs, the ``M`` metabolites and, with ``expand_n``, the
    ``E`` acquisition sizes (otherwise ``E = 1`` and ``n`` is drawn).

    Args:
        source: a cohort (:class:`~mrsisr.data.cohort.Cohort`), the path of one, or
            in-memory patients (a sequence, or a mapping from id to patient).
        patient_ids: the patients to use (e.g. ``split.train``); ``None`` uses all.
        metabolites: the metabolites to use; ``None`` uses those every selected patient has.
        n_choices: acquisition sizes on ``model_grid``, each an int (square) or an
            ``(n_y, n_x)`` pair; drawn uniformly per sample, and scaled to the native grid of
            a patient on another grid (:func:`scale_n`).
        lam_range: λ is drawn uniformly from ``[low, high]`` ...
        lam_zero_prob: ... except with this probability, where it is exactly 0.
        augment: random flips, quarter turns and circular shifts (:mod:`mrsisr.data.augment`).
        max_shift: largest augmentation shift in voxels.
        slice_rule: which slices of a patient are used (:class:`SliceRule`).
        expand_n: give every (patient, slice, metabolite) once per entry of ``n_choices``
            (evaluation over all acquisition sizes) instead of drawing ``n``.
        presence_probs: probabilities of the image sets of :data:`IMAGE_SETS` (both, T1
            only, FLAIR only, none), summing to 1; an absent image is zeros.
        window_probs: probabilities of the acquisition windows of :data:`WINDOWS` (none,
            Hamming, elliptical, elliptical with Hamming), summing to 1; the target is the
            same whatever the window.
        target: a :class:`~mrsisr.options.Target`: the measured map, or (every patient
            must have noiseless maps) :func:`noiseless_target`.
        grids: the output grids a batch sampler may impose (:attr:`SampleKey.grid`) on the
            samples of patients whose native grid is ``model_grid``, each an ``(N_y, N_x)``
            pair; ``None``: ``model_grid`` only. A sample on grid ``G`` is the augmented slice
            centre-cropped and/or zero-padded to ``G``
            (:func:`~mrsisr.data.augment.fit_to_grid`), acquired at ``n`` clipped to ``G``
            per axis (:func:`clip_n`). Patients of another native grid stay on it.
        model_grid: the grid ``(N_y, N_x)`` ``n_choices`` are given for (the model's); ``None``:
            the patients' native grid, or the smallest of several (fewest voxels).
        seed: non-negative seed of every random draw.
        deterministic: ignore :meth:`set_epoch`, so each index always gives the same sample
            (validation and test sets; combine with ``augment=False``).
    """

    def __init__(
        self,
        source: PatientSource,
        patient_ids: Sequence[str] | None = None,
        metabolites: Sequence[str | Metabolite] | None = None,
        *,
        n_choices: Sequence[int | tuple[int, int]] = DEFAULT_N_CHOICES,
        lam_range: tuple[float, float] = (0.0, 0.1),
        lam_zero_prob: float = 0.1,
        augment: bool = False,
        max_shift: int = 3,
        slice_rule: SliceRule | None = None,
        expand_n: bool = False,
        presence_probs: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
        window_probs: Sequence[float] = (1.0, 0.0, 0.0, 0.0),
        target: Target | str = Target.measured,
        grids: Sequence[Sequence[int]] | None = None,
        model_grid: Sequence[int] | None = None,
        seed: int = 0,
        deterministic: bool = False,
    ) -> None:
        low, high = (float(v) for v in lam_range)
        if not 0 <= low <= high:
            raise ValueError(f"lam_range must satisfy 0 <= low <= high, got {lam_range!r}")
        if not 0 <= lam_zero_prob <= 1:
            raise ValueError(f"lam_zero_prob must be in [0, 1], got {lam_zero_prob}")
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed}")
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        if len(n_choices) == 0:
            raise ValueError("n_choices must hold at least one acquisition size")
        if target not in Target.choices():
            raise ValueError(f"target must be one of {', '.join(Target.choices())}, got {target!r}")
        self.presence_probs = _probabilities(
            presence_probs, "presence_probs", ("both", "T1 only", "FLAIR only", "none")
        )
        self.window_probs = _probabilities(
            window_probs, "window_probs", AcquisitionWindow.choices()
        )
        self.lam_range = (low, high)
        self.lam_zero_prob = float(lam_zero_prob)
        self.augment = bool(augment)
        self.max_shift = int(max_shift)
        self.slice_rule = slice_rule if slice_rule is not None else SliceRule()
        self.expand_n = bool(expand_n)
        self.seed = int(seed)
        self.deterministic = bool(deterministic)
        self.epoch = 0

        wanted = None if metabolites is None else [parse_metabolite(m) for m in metabolites]
        if wanted is not None and len(set(wanted)) != len(wanted):
            raise ValueError(f"metabolites must be unique, got {[str(m) for m in wanted]}")
        stack = load_slices(
            source, patient_ids, wanted, self.slice_rule, noiseless=target == Target.noiseless
        )
        self._stack: SliceStack = stack
        self.patient_ids: tuple[str, ...] = stack.patient_ids
        """Every patient of the source, in order; :attr:`Sample.patient` indexes it."""
        self.metabolites: tuple[Metabolite, ...] = stack.metabolites
        self.slices: dict[str, tuple[int, ...]] = stack.slices
        """The slices used, per selected patient."""
        self.native_grids: tuple[tuple[int, int], ...] = stack.grids
        """The patients' native in-plane grids, ascending (several in a merged cohort)."""
        self.grid: tuple[int, int] = (
            min(self.native_grids, key=lambda g: (g[0] * g[1], g))
            if model_grid is None
            else _as_grid(model_grid, "model_grid")
        )
        """The grid ``n_choices`` are given for (the model's); :attr:`grids` are its
        alternatives for the patients on it."""
        self._pair_native = np.array(
            [self.native_grids.index(stack.pair_grid(p)) for p in range(stack.num_pairs)]
        )
        self.n_choices: tuple[tuple[int, int], ...] = tuple(
            _as_n(n, self.grid, "n_choices") for n in n_choices
        )
        self.grids: tuple[tuple[int, int], ...] = (
            (self.grid,) if grids is None else tuple(_as_grid(g, "grids") for g in grids)
        )
        """The output grids a batch sampler may impose on the samples of native grid
        :attr:`grid`; ``(grid,)``: none other."""
        if not self.grids:
            raise ValueError("grids must hold at least one (N_y, N_x) pair, or be None")
        self._met_index = np.array([METABOLITES.index(m) for m in self.metabolites])
        self._repeat = len(self.n_choices) if self.expand_n else 1
        logger.info(
            "dataset: %d patients, %d slices, %d metabolites, %d samples%s%s",
            len(self.slices),
            stack.num_pairs,
            len(self.metabolites),
            len(self),
            " (every n)" if self.expand_n else "",
            "; native grids "
            + ", ".join(
                f"{g[0]}x{g[1]} ({count} samples)"
                for g, count in zip(self.native_grids, self.native_samples)
            )
            if self.mixed_grids
            else "",
        )

    @property
    def other_grids(self) -> bool:
        """Whether :attr:`grids` holds another grid than :attr:`grid` (then a batch sampler
        must impose one grid per batch)."""
        return self.grids != (self.grid,)

    @property
    def mixed_grids(self) -> bool:
        """Whether the patients lie on several native grids (then a batch sampler must draw
        each batch from one of them)."""
        return len(self.native_grids) > 1

    @property
    def native_samples(self) -> tuple[int, ...]:
        """The number of samples of each native grid (of :attr:`native_grids`)."""
        pairs = np.bincount(self._pair_native, minlength=len(self.native_grids))
        return tuple(int(p) * len(self.metabolites) * self._repeat for p in pairs)

    def native_grid_of(self, index: int) -> tuple[int, int]:
        """The native grid of the patient of sample ``index``."""
        return self._native_of_pair(self._locate(int(index))[0])

    def _native_of_pair(self, pair: int) -> tuple[int, int]:
        return self.native_grids[int(self._pair_native[pair])]

    @property
    def target(self) -> Target:
        """What ``Sample.hr`` is (the slices hold noiseless maps only for that target)."""
        return Target.noiseless if self._stack.noiseless else Target.measured

    def __len__(self) -> int:
        return self._stack.num_pairs * len(self.metabolites) * self._repeat

    @property
    def num_slices(self) -> int:
        """Number of (patient, slice) pairs used."""
        return self._stack.num_pairs

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentation and conditions for a new epoch (ignored when deterministic)."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch}")
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index`` in the current epoch."""
        epoch = 0 if self.deterministic else self.epoch
        return np.random.default_rng([self.seed, epoch, int(index)])

    def _locate(self, index: int) -> tuple[int, int, int | None]:
        """(pair, metabolite position, fixed n position or None) of a sample index."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        index %= len(self)
        pair, rest = divmod(index, len(self.metabolites) * self._repeat)
        met, n_pos = divmod(rest, self._repeat)
        return pair, met, (n_pos if self.expand_n else None)

    def group_of(self, index: int) -> tuple[int, tuple[int, int] | None]:
        """``(metabolite index, fixed n or None)`` of a sample, for batch grouping."""
        _, met, n_pos = self._locate(int(index))
        return int(self._met_index[met]), None if n_pos is None else self.n_choices[n_pos]

    def draw_presence(self, index: int) -> tuple[bool, bool]:
        """(T1, FLAIR) presence of sample ``index`` in this epoch, from its own stream."""
        if self.presence_probs[0] == 1.0:
            return IMAGE_SETS[0]
        epoch = 0 if self.deterministic else self.epoch
        rng = np.random.default_rng([self.seed, epoch, int(index), _PRESENCE_STREAM])
        return IMAGE_SETS[int(rng.choice(len(IMAGE_SETS), p=self.presence_probs))]

    def draw_window(self, index: int) -> AcquisitionWindow:
        """The acquisition window of sample ``index`` in this epoch, from its own stream."""
        if self.window_probs[0] == 1.0:
            return AcquisitionWindow.none
        epoch = 0 if self.deterministic else self.epoch
        rng = np.random.default_rng([self.seed, epoch, int(index), _WINDOW_STREAM])
        return WINDOWS[int(rng.choice(len(WINDOWS), p=self.window_probs))]

    def draw_lam(self, rng: np.random.Generator) -> float:
        """λ: exactly 0 with probability ``lam_zero_prob``, else uniform on ``lam_range``."""
        is_zero = rng.random() < self.lam_zero_prob
        value = rng.uniform(*self.lam_range)
        return 0.0 if is_zero else float(value)

    def __getitem__(self, key: int | SampleKey | tuple) -> Sample:
        """The sample at an index, or at a :class:`SampleKey` that imposes ``n``, λ and/or
        the output grid."""
        return self.case(key).sample()

    def case(self, key: int | SampleKey | tuple) -> Case:
        """The :class:`Case` of :meth:`__getitem__`'s sample: the same draws, not normalised."""
        key = SampleKey(*key) if isinstance(key, tuple) else SampleKey(int(key))
        pair, met, n_pos = self._locate(key.item)
        rng = self.rng(key.item % len(self))
        # Always draw n and λ first, so the stream does not depend on which are imposed.
        drawn_n = self.n_choices[int(rng.integers(len(self.n_choices)))]
        drawn_lam = self.draw_lam(rng)
        if n_pos is not None:
            n = self.n_choices[n_pos]
        elif key.n is not None:
            n = _as_n(key.n, self.grid, "SampleKey.n")
        else:
            n = drawn_n
        lam = drawn_lam if key.lam is None else float(key.lam)
        native = self._native_of_pair(pair)
        grid = native if key.grid is None else _as_grid(key.grid, "SampleKey.grid")
        n = clip_n(scale_n(n, native, self.grid), grid)

        images = self._stack.images(pair, met)  # map, t1, flair, mask [, noiseless map]
        if self.augment:
            images = apply_augmentation(images, draw_augmentation(rng, native, self.max_shift))
        if grid != native:
            images = fit_to_grid(images, grid)
        measured = images[0].astype(np.float64)
        window = self.draw_window(key.item % len(self))
        present = self.draw_presence(key.item % len(self))
        volume, z = self._stack.pair_info(pair)
        return Case(
            zero_filled=acquire(measured, n, window),
            target=noiseless_target(measured, images[4], n) if self._stack.noiseless else measured,
            t1=images[1] if present[0] else None,
            flair=images[2] if present[1] else None,
            mask=images[3] > 0.5,
            n=n,
            met=int(self._met_index[met]),
            lam=lam,
            window=window,
            patient=volume,
            slice=z,
        )
