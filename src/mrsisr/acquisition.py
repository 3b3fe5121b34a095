"""What a measured map holds before it is super-resolved: its acquisition size and region.

Pipelines write maps in ways that a super-resolution network must not take at face value:

* **Zero-filled maps.** A map written on a finer grid than it was acquired on (a pipeline's
  "next power of two" option, 42 x 42 -> 64 x 64) holds no data outside its acquired k-space
  window. :func:`plan_acquisition` measures that window (:func:`mrsisr.kspace.
  effective_extent`) and refuses such a map unless the acquired size is given, in which case
  :func:`truncate` cuts the k-space back to it, exactly (``degrade`` inverts ``zero_fill``).
* **Nothing to super-resolve.** A map already on the model's grid (``n = N``) is refused.
* **Sizes the model was not trained on** are allowed, with a warning that names the range.
* **Regions that were not measured.** Voxels that are exactly zero (whole slices, voxels a
  pipeline did not fit, the outside of a PRESS box) and voxels outside the excitation
  region, when a pipeline says where it is, were not measured. :func:`measured_support`
  marks what was, and :func:`lowres_mask_on_grid` brings it to the output grid, where it
  restricts the mask used: the network's estimate is zero outside that mask, so there the
  output holds only what data consistency puts there (the measured map's own low
  frequencies), never values invented from the anatomy. An all-zero map is refused.

Arrays are volumes ``(n_y, n_x, S)`` as in docs/ARCHITECTURE.md; the checks raise
``ValueError`` with a message the caller prefixes with the file name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mrsisr import kspace
from mrsisr.data.resample import resample_to_grid
from mrsisr.errors import argument

__all__ = [
    "Acquisition",
    "lowres_mask_on_grid",
    "measured_on_grid",
    "measured_support",
    "plan_acquisition",
    "truncate",
]

log = logging.getLogger(__name__)


def _pair(values: int | Sequence[int] | None, name: str) -> tuple[int, int] | None:
    if values is None:
        return None
    if isinstance(values, (int, np.integer)):
        values = (int(values), int(values))
    pair = tuple(int(v) for v in values)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be one or two positive sizes (n_y n_x), got {values!r}")
    return pair[0], pair[1]


def _size(pair: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in pair)


@dataclass(frozen=True)
class Acquisition:
    """What :func:`plan_acquisition` found out about a map.

    Args:
        grid: the map's stored in-plane grid ``(n_y, n_x)``.
        detected: the acquisition size its k-space holds (:func:`mrsisr.kspace.
            effective_extent`); equals ``grid`` for a map that is not zero-filled.
        n: the size that is super-resolved: ``grid``, or the acquired size given.
        acquired: the acquired size the user gave, if any.
        trained: the range of sizes the model was trained on, if known.
        zero_voxels: voxels of the map that are exactly zero.
        zero_slices: indices of the slices that are zero everywhere.
        split_nyquist: per axis, whether the map holds the Nyquist line of an even ``n``
            split in halves at ``±n / 2`` (``detected = n + 1``; :func:`truncate` adds them).
    """

    grid: tuple[int, int]
    detected: tuple[int, int]
    n: tuple[int, int]
    acquired: tuple[int, int] | None
    trained: tuple[int, int] | None
    zero_voxels: int
    zero_slices: tuple[int, ...]
    split_nyquist: tuple[bool, bool] = (False, False)

    @property
    def extrapolated(self) -> bool:
        """Whether ``n`` lies outside the range of sizes the model was trained on."""
        if self.trained is None:
            return False
        return not self.trained[0] <= min(self.n) <= max(self.n) <= self.trained[1]

    @property
    def truncated(self) -> bool:
        """Whether the map's k-space is cut back to ``n`` before super-resolving it."""
        return self.n != self.grid

    def record(self) -> dict:
        """The findings as plain JSON-serialisable values (the provenance sidecar)."""
        return {
            "grid": list(self.grid),
            "detected_n": list(self.detected),
            "acquired_n": list(self.acquired) if self.acquired else None,
            "n": list(self.n),
            "trained_n": list(self.trained) if self.trained else None,
            "zero_voxels": self.zero_voxels,
            "zero_slices": list(self.zero_slices),
            "split_nyquist": list(self.split_nyquist),
        }


def plan_acquisition(
    lr: np.ndarray,
    grid: Sequence[int] | None = None,
    *,
    acquired_n: int | Sequence[int] | None = None,
    trained_n: Sequence[int] | None = None,
    warn: bool = True,
) -> Acquisition:
    """Check a measured map and decide the acquisition size ``n`` to super-resolve it at.

    Args:
        lr: the map ``(n_y, n_x, S)`` as stored.
        grid: the output grid ``(N_y, N_x)``, when it is fixed already (``None``: chosen
            later from ``n``, e.g. :func:`mrsisr.inference.output_grid`).
        acquired_n: the size it was acquired at, when the pipeline zero-filled it (one int
            or ``(n_y, n_x)``); its k-space is cut back to this window.
        trained_n: the sizes the model was trained on (e.g. ``16, 18, ..., 32``); ``n``
            outside ``[min, max]`` logs a warning (:attr:`Acquisition.extrapolated`).
        warn: log that warning here (False: the caller says it once for many maps).

    Returns:
        The :class:`Acquisition`.

    Raises:
        ValueError: an all-zero map; a zero-filled map without ``acquired_n``; an
            ``acquired_n`` larger than the map's grid or smaller than the data it holds;
            ``n`` equal to ``grid`` on both axes (nothing to super-resolve).
    """
    lr = np.asarray(lr)
    if lr.ndim != 3:
        raise ValueError(f"must be a volume (n_y, n_x, slices), got shape {lr.shape}")
    stored = (int(lr.shape[0]), int(lr.shape[1]))
    target = None if grid is None else _pair(grid, "grid")
    option = argument("acquired_n")
    acquired = _pair(acquired_n, option)
    split: tuple[bool, ...] = (False, False)
    nonzero = lr != 0
    if not nonzero.any():
        raise ValueError("every voxel is 0: nothing was measured")
    slices = np.moveaxis(lr.astype(np.float64), 2, 0)
    detected = kspace.effective_extent(slices).size
    if acquired is None:
        if detected != stored:
            odd = [d for d in detected if d % 2 and d < max(stored)]
            even = " ".join(str(d - 1 if d % 2 else d) for d in detected)
            hint = (
                f" (or {even} for an even acquisition whose Nyquist line the pipeline split "
                "in halves)"
                if odd
                else ""
            )
            raise ValueError(
                f"the map is {_size(stored)} but its k-space holds data only in a "
                f"{_size(detected)} window: it was zero-filled (or sinc-interpolated) by the "
                f"pipeline; give {option} {' '.join(map(str, detected))}{hint} (truncates "
                "it back to the acquired window, exactly) or the map at its acquisition grid"
            )
        n = stored
    else:
        if acquired[0] > stored[0] or acquired[1] > stored[1]:
            raise ValueError(
                f"{option} {_size(acquired)} is larger than the map's grid "
                f"{_size(stored)}; give a size <= the grid"
            )
        # an even n zero-filled by centred padding keeps half its Nyquist line at each of
        # ±n/2: n + 1 lines, which truncate() adds back together
        split = tuple(
            d == a + 1 and a % 2 == 0 and a < s for d, a, s in zip(detected, acquired, stored)
        )
        if any(d > a + int(f) for d, a, f in zip(detected, acquired, split)):
            raise ValueError(
                f"{option} {_size(acquired)} would discard measured data: the map's "
                f"k-space holds data in a {_size(detected)} window; give {option} "
                f"{' '.join(map(str, detected))} or larger"
            )
        n = acquired
    if n == target:
        raise ValueError(
            f"the map is {_size(n)}, the output grid: nothing to super-resolve; "
            f"give the map at its acquisition grid (or {option} if it was zero-filled)"
        )
    trained = (int(min(trained_n)), int(max(trained_n))) if trained_n else None
    if warn and trained and not (trained[0] <= min(n) and max(n) <= trained[1]):
        log.warning(
            "acquisition size %s is outside the sizes the model was trained on (%d to %d): "
            "the result is an extrapolation",
            _size(n),
            *trained,
        )
    empty = tuple(int(s) for s in np.flatnonzero(~nonzero.any(axis=(0, 1))))
    return Acquisition(
        grid=stored,
        detected=detected,
        n=n,
        acquired=acquired,
        trained=trained,
        zero_voxels=int(nonzero.size - np.count_nonzero(nonzero)),
        zero_slices=empty,
        split_nyquist=(bool(split[0]), bool(split[1])),
    )


def truncate(
    lr: np.ndarray, n: Sequence[int], split_nyquist: tuple[bool, bool] = (False, False)
) -> np.ndarray:
    """Cut a map's k-space back to ``n`` per slice (``kspace.degrade``), ``(n_y, n_x, S)``.

    For a map zero-filled from ``n`` (:func:`mrsisr.kspace.zero_fill`, or centred padding
    with the Nyquist line split in halves, per axis in ``split_nyquist``:
    :func:`mrsisr.kspace.degrade_split_nyquist`), this gives the acquired map back exactly.
    """
    slices = np.moveaxis(np.asarray(lr, dtype=np.float64), 2, 0)
    return np.moveaxis(kspace.degrade_split_nyquist(slices, tuple(n), split_nyquist), 0, 2)


def measured_support(lr: np.ndarray, excitation: np.ndarray | None = None) -> np.ndarray:
    """Where a map was measured: non-zero voxels, inside the excitation region when known.

    Args:
        lr: the map ``(n_y, n_x, S)`` as stored.
        excitation: bool ``(n_y, n_x, S)``, True inside the excited region (e.g. a PRESS
            box), or ``None`` when the pipeline does not say.

    Returns:
        Bool ``(n_y, n_x, S)``.
    """
    lr = np.asarray(lr)
    support = lr != 0
    if excitation is not None:
        excitation = np.asarray(excitation, dtype=bool)
        if excitation.shape != lr.shape:
            raise ValueError(
                f"excitation region has shape {excitation.shape}, the map {lr.shape}; "
                "they must be on one grid"
            )
        support &= excitation
    return support


def lowres_mask_on_grid(
    mask: np.ndarray, lr_affine: np.ndarray, shape: Sequence[int], affine: np.ndarray
) -> np.ndarray:
    """A mask on the map's grid brought onto the output grid: a voxel is in when most of it is.

    The 0/1 mask is interpolated linearly at the output voxel centres (no smoothing) and
    thresholded at more than one half, the rule of a mask the user gives. With an output grid
    twice as fine, the output voxel at an input voxel's centre takes its value, and the one
    between two input voxels is in only when both are.

    Args:
        mask: bool ``(n_y, n_x, S)`` on the map's grid.
        lr_affine: the map's 4x4 affine.
        shape: the output grid ``(N_y, N_x, S)``.
        affine: its 4x4 affine.

    Returns:
        Bool ``(N_y, N_x, S)``.
    """
    values = np.asarray(mask, dtype=np.float32)
    return resample_to_grid(values, lr_affine, shape, affine, order=1, antialias=False) > 0.5


def measured_on_grid(measured: np.ndarray, grid: Sequence[int]) -> np.ndarray:
    """Where slices were measured (non-zero), on the output grid of the k-space geometry.

    :func:`lowres_mask_on_grid` of ``measured != 0`` between the acquisition grid and the
    grid ``N`` over the same field of view (:func:`mrsisr.kspace.lowres_affine`), slice by
    slice; no affine is needed.

    Args:
        measured: measured slices ``(S, n_y, n_x)``.
        grid: the output grid ``(N_y, N_x)``.

    Returns:
        Bool ``(S, N_y, N_x)``.
    """
    n = measured.shape[-2:]
    N = (int(grid[0]), int(grid[1]))
    support = np.moveaxis(np.asarray(measured) != 0, 0, 2)
    out_affine = kspace.lowres_affine(np.eye(4), n, N)
    shape = (*N, support.shape[2])
    return np.moveaxis(lowres_mask_on_grid(support, np.eye(4), shape, out_affine), 2, 0)
