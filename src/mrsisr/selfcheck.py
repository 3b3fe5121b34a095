"""What the network adds on this scan: a self-check on the user's own map, and calibrated output.

A map measured at ``n`` is the exact truth for its own degradation to ``n' < n``: the same
operator the network was trained to invert. :func:`self_check` degrades the measured map to
``n'``, super-resolves it, cuts the result back to ``n`` and compares it with the measured map
inside the brain mask. It measures what the network's detail is worth *on this scan* one
scale down, with no ground truth.

The network's detail is everything it adds to zero-filling: ``d = y - zero_fill(m)``, which
with exact data consistency lives only in the unacquired k-space band. The band is split into
:data:`DEFAULT_RINGS` rings, from the acquisition window outwards, at the same *relative*
positions on every scale (:func:`band_rings`). The self-check fits one weight per ring,
``min_w || zero_fill(m') + sum_r w_r d'_r - m ||^2`` inside the mask with every ``w_r`` in
``[0, 1]``; :func:`blend` applies those weights to the detail of the real prediction
(``n -> N``)::

    calibrated = zero_fill(m) + sum_r w_r P_r (y - zero_fill(m))

Weights of 1 give the raw network, weights of 0 zero-filling; the measured k-space is never
touched, so data consistency stays exact. On a scan where the network's detail does not
match the data (its tissue prior is wrong there, the map is mostly noise beyond the window)
the weights shrink it; on a scan like its training data they stay near 1.

What it cannot see: the self-check scores ``n' -> n``, an easier problem than ``n -> N``
(the band one scale down is closer to the window), so its gain in dB overstates the gain of
the real prediction. The fitted weights are therefore used only where the calibrated
self-check gain reaches :data:`MIN_GAIN_DB`; elsewhere the output is zero-filling. Where
``n'`` has to lie below the sizes the model was trained on (:func:`check_size`), the check
runs there, says so, and must clear the higher bar :data:`MIN_GAIN_BELOW_RANGE_DB`, the
conservative choice; where no ``n'`` is possible, the output is zero-filling. The measured
numbers are in docs/self-check.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mrsisr import kspace
from mrsisr.bands import DEFAULT_RINGS, fit_weights, split_band
from mrsisr.inference import Anatomy, Predictor
from mrsisr.metabolites import Metabolite
from mrsisr.metrics.pixel import psnr_in_mask
from mrsisr.options import StrEnum

__all__ = [
    "MIN_BAND",
    "MIN_CHECK_SIZE",
    "MIN_GAIN_BELOW_RANGE_DB",
    "MIN_GAIN_DB",
    "Calibration",
    "SelfCheck",
    "check_size",
    "self_check",
]

log = logging.getLogger(__name__)

MIN_BAND = 4
"""Fewest k-space lines per axis between ``n'`` and ``n`` (two on each side) for a self-check."""


class Calibration(StrEnum):
    """How ``mrsisr predict`` weighs the network's detail against zero-filling."""

    self_check = "self-check"
    """Per-ring weights fitted by :func:`self_check` on the map itself (the default)."""
    none = "none"
    """The raw network output (every weight 1)."""


MIN_GAIN_DB = 1.0
"""The calibrated self-check gain below which the network's detail is not used at all: the
self-check overstates the gain of the real prediction (it scores an easier problem, one scale
down), so a small gain there is no evidence of a gain at the real scale."""

MIN_GAIN_BELOW_RANGE_DB = 1.5
"""The same bar where ``n'`` lies below the sizes the model was trained on (the network is
then checked where it extrapolates): the conservative choice there."""

MIN_CHECK_SIZE = 4
"""Smallest ``n'`` per axis."""

VALIDATED_CHECK_SIZE = 16
"""The smallest ``n'`` at which the bars were validated (docs/self-check.md): a check below it
must clear :data:`MIN_GAIN_BELOW_RANGE_DB` even for a model trained there. A model trained
on smaller inputs is relatively stronger one scale down, so its self-check overstates the
real gain more: with the 1 dB bar at ``n' = n / 2``, a model trained from ``n = 8`` kept the
detail of maps it harmed (real-like development set, results/next_short_runs/n8)."""


@dataclass(frozen=True)
class SelfCheck:
    """What :func:`self_check` measured on one map (all slices pooled)."""

    n: tuple[int, int]
    """The map's acquisition size ``(n_y, n_x)``."""
    n_check: tuple[int, int] | None
    """``n'``, the size the map was degraded to; ``None``: no self-check was possible."""
    fitted: tuple[float, ...]
    """Least-squares weight of the network's detail per ring, inner to outer, in ``[0, 1]``."""
    gain_raw_db: float
    """PSNR of the raw network minus that of zero-filling, ``n' -> n`` (NaN without a check)."""
    gain_db: float
    """The same with the fitted weights (fitted on these voxels, so optimistic)."""
    min_gain_db: float
    """The bar ``gain_db`` must reach for the weights to be used (:data:`MIN_GAIN_DB`)."""
    note: str = ""
    """Why no self-check ran, or what limits it; empty when nothing needs saying."""

    @property
    def ran(self) -> bool:
        """Whether a self-check ran."""
        return self.n_check is not None

    @property
    def weights(self) -> tuple[float, ...]:
        """The weights applied: the fitted ones where the self-check gain reaches the bar,
        else zeros (zero-filling)."""
        if self.ran and self.gain_db >= self.min_gain_db:
            return self.fitted
        return tuple(0.0 for _ in self.fitted)

    def to_dict(self) -> dict:
        """JSON-ready record (NaN as ``None``) for the provenance sidecar."""
        record = asdict(self)
        for key in ("gain_raw_db", "gain_db"):
            value = record[key]
            record[key] = None if not math.isfinite(value) else round(value, 3)
        record["fitted"] = [round(w, 4) for w in self.fitted]
        record["weights"] = [round(w, 4) for w in self.weights]
        record["n"] = list(self.n)
        record["n_check"] = None if self.n_check is None else list(self.n_check)
        return record

    def summary(self) -> str:
        """One line for the log."""
        if not self.ran:
            return f"no self-check ({self.note}); output is zero-filling"
        ring = ", ".join(f"{w:.2f}" for w in self.fitted)
        text = (
            f"self-check {'x'.join(map(str, self.n_check or ()))} -> "
            f"{'x'.join(map(str, self.n))}: network {self.gain_raw_db:+.2f} dB over "
            f"zero-filling, calibrated {self.gain_db:+.2f} dB with detail weights {ring}"
        )
        if self.gain_db < self.min_gain_db:
            text += f"; below {self.min_gain_db:g} dB: output is zero-filling"
        return f"{text} ({self.note})" if self.note else text


def check_size(
    n: Sequence[int], trained_n: Sequence[int] = (), min_band: int = MIN_BAND
) -> tuple[tuple[int, int] | None, bool]:
    """The size ``n'`` of a map's self-check, and whether it lies in the trained and validated
    sizes.

    ``n'`` is half of ``n`` per axis (rounded up), raised to the smallest size the model was
    trained on and to :data:`VALIDATED_CHECK_SIZE` where that leaves at least ``min_band``
    lines of band below ``n`` on each axis; where it does not, half of ``n``, below those
    sizes (the self-check must then clear the higher bar :data:`MIN_GAIN_BELOW_RANGE_DB`).

    Args:
        n: the map's acquisition size ``(n_y, n_x)``.
        trained_n: the sizes the model was trained on (its header's ``n_choices``); empty
            when unknown (then every ``n'`` counts as trained).
        min_band: fewest lines between ``n'`` and ``n`` per axis.

    Returns:
        ``(n', inside the trained and validated sizes)``; ``(None, False)`` where ``n`` is too small
        (``n' < MIN_CHECK_SIZE`` or fewer than ``min_band`` lines of band).
    """
    sizes = [int(v) for v in n]
    half = [max(math.ceil(v / 2), MIN_CHECK_SIZE) for v in sizes]
    low = _lowest_check(trained_n)
    raised = [max(h, int(low)) for h in half]
    if all(v - r >= min_band for v, r in zip(sizes, raised)):
        return (raised[0], raised[1]), True
    if all(v - h >= min_band for v, h in zip(sizes, half)):
        return (half[0], half[1]), False
    return None, False


def _lowest_check(trained_n: Sequence[int]) -> int:
    """The smallest ``n'`` held to :data:`MIN_GAIN_DB`: the smallest trained size, at least
    :data:`VALIDATED_CHECK_SIZE`."""
    return max(min(trained_n, default=1), VALIDATED_CHECK_SIZE)


def self_check(
    predictor: Predictor,
    lr: np.ndarray,
    metabolite: Metabolite | str,
    anatomy: Anatomy,
    rings: int = DEFAULT_RINGS,
) -> SelfCheck:
    """Measure what the network adds on one map, one scale down, and fit its detail weights.

    Args:
        predictor: the model.
        lr: ``(n_y, n_x, S)`` measured map at its acquisition grid, in its units.
        metabolite: which metabolite it is.
        anatomy: the inputs on the output grid (:meth:`Predictor.prepare_anatomy`).
        rings: rings of the band, one weight each.

    Returns:
        The :class:`SelfCheck`; without a possible ``n'`` (:func:`check_size`), weights of 0
        and the reason.
    """
    measured = np.moveaxis(np.asarray(lr, dtype=np.float64), 2, 0)  # (S, n_y, n_x)
    n = (int(measured.shape[1]), int(measured.shape[2]))
    nan = float("nan")
    check, trained = check_size(n, predictor.trained_n)
    bar = MIN_GAIN_DB if trained else MIN_GAIN_BELOW_RANGE_DB
    if check is None:
        size = "x".join(map(str, n))
        why = f"n = {size} leaves no n' >= {MIN_CHECK_SIZE} with {MIN_BAND} lines of band"
        return SelfCheck(n, None, (0.0,) * rings, nan, nan, bar, why)
    note = ""
    if not trained:
        low = _lowest_check(predictor.trained_n)
        note = f"n' below the trained and validated sizes (>= {low}): the bar is {bar:g} dB"
    coarse = kspace.degrade(measured, check)  # (S, n'_y, n'_x)
    raw = predictor.super_resolve(np.moveaxis(coarse, 0, 2), metabolite, anatomy, (0.0,))[0]
    grid = anatomy.grid
    # Everything at the scale n, on the output grid; the measured map is the reference, and
    # the band is n' -> n (the network's output is cut back to n).
    reference = kspace.zero_fill(measured, grid)
    network = kspace.zero_fill(kspace.degrade(np.moveaxis(raw, 2, 0).astype(np.float64), n), grid)
    base = kspace.zero_fill(coarse, grid)
    mask = np.moveaxis(anatomy.mask, 2, 0)
    if not mask.any():
        return SelfCheck(n, None, (0.0,) * rings, nan, nan, bar, "the mask is empty")
    parts = split_band(network - base, check, rings, outer=n)
    weights = fit_weights(base, parts, reference, mask)
    calibrated = base + np.tensordot(np.asarray(weights), parts, axes=1)
    zero_psnr = psnr_in_mask(base, reference, mask)
    return SelfCheck(
        n=n,
        n_check=check,
        fitted=weights,
        gain_raw_db=psnr_in_mask(network, reference, mask) - zero_psnr,
        gain_db=psnr_in_mask(calibrated, reference, mask) - zero_psnr,
        min_gain_db=bar,
        note=note,
    )
