"""Uncertainty of a super-resolved map: test-time augmentation and propagated fitting noise.

Both methods run the generator on several variants of one input and report, per voxel, the
mean and the standard deviation (SD) of the data-consistent outputs, in the map's units.
What each SD measures, and what it does not (docs/uncertainty.md):

* **Test-time augmentation** (:func:`tta`, uncertainty ``tta``): the variants are the
  in-plane symmetries of the grid (:mod:`mrsisr.symmetry`: eight on a square grid, four
  flips otherwise) applied to every input channel, the output transformed back,
  ``T^-1(G(T(input)))``. Each symmetry commutes exactly with the acquisition, so every
  variant is a valid estimate of the same map and all of them hold the measured frequencies
  exactly: their spread lives only in the frequencies the network added. The SD measures
  how much those added details depend on the orientation of the input, a symptom of
  details the data do not pin down. It does not measure noise in the measurement, errors the
  network makes the same way in every orientation, or errors of the anatomy, mask or
  registration. SD over the set of transforms (``ddof = 0``).
* **Propagation of the fitting uncertainty** (:func:`propagate_fit`, uncertainty ``fit``):
  given a map of the SD of the low-resolution fit (e.g. FSL-MRS ``uncertainties/<Met>_sd``,
  or a Cramér–Rao bound times the concentration), ``draws`` inputs ``lr + sd · ε`` with
  ``ε ~ N(0, 1)`` independent per voxel are super-resolved. The SD measures how the fitting
  noise, as the SD map states it, propagates through the network and data consistency
  (measured frequencies included). It assumes independent Gaussian noise per voxel (real
  fitting errors are correlated between neighbouring voxels through the point-spread
  function and between metabolites) and an SD map that is right; it knows nothing about the
  network's own error or bias. Sample SD over draws (``ddof = 1``); its relative precision
  is about ``1 / sqrt(2 (draws - 1))`` (18 % with 16 draws).

The mean is returned made data-consistent with the measured map itself, so
``degrade(mean, n) == lr`` as for a plain prediction (for TTA it already is).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from mrsisr import kspace
from mrsisr.bands import blend
from mrsisr.inference import DEFAULT_SHARPNESS, Anatomy, Predictor
from mrsisr.metabolites import Metabolite, index_of
from mrsisr.options import StrEnum, parse_enum
from mrsisr.symmetry import symmetries_of

__all__ = [
    "DEFAULT_DRAWS",
    "Estimate",
    "Uncertainty",
    "propagate_fit",
    "super_resolve_with_uncertainty",
    "tta",
]

log = logging.getLogger(__name__)

DEFAULT_DRAWS = 16
"""Monte Carlo draws of :func:`propagate_fit` (SD to about 18 %)."""


class Uncertainty(StrEnum):
    """How ``mrsisr predict`` estimates the SD of a super-resolved map."""

    tta = "tta"
    """Spread over the in-plane symmetries (:func:`tta`)."""
    fit = "fit"
    """Fitting noise propagated by Monte Carlo draws (:func:`propagate_fit`); needs an SD map."""


class Estimate(NamedTuple):
    """A super-resolved volume and its per-voxel standard deviation, in the map's units."""

    mean: np.ndarray
    """``(L, N_y, N_x, S)`` float32, one volume per λ, data-consistent with the input."""
    sd: np.ndarray
    """``(L, N_y, N_x, S)`` float32, ``>= 0``."""


def _check(
    predictor: Predictor, lr: np.ndarray, anatomy: Anatomy, sharpness: Sequence[float]
) -> np.ndarray:
    lr = np.asarray(lr, dtype=np.float64)
    predictor.check_volume(lr, anatomy, sharpness)
    return lr


def tta(
    predictor: Predictor,
    lr: np.ndarray,
    metabolite: Metabolite | str,
    anatomy: Anatomy,
    sharpness: Sequence[float] = DEFAULT_SHARPNESS,
    detail_weights: Sequence[float] | None = None,
) -> Estimate:
    """Mean and SD over the grid's in-plane symmetries of ``T^-1(G(T(input)))``.

    Args:
        predictor: the model.
        lr: ``(n_y, n_x, S)`` measured map at its acquisition grid.
        metabolite: which metabolite it is.
        anatomy: inputs on the output grid (:meth:`Predictor.prepare_anatomy`).
        sharpness: the λ values.
        detail_weights: weights of the network's detail per ring, applied to every variant
            (:func:`mrsisr.bands.blend`); ``None``: the raw network.

    Returns:
        :class:`Estimate` with ``(L, N_y, N_x, S)`` mean and SD (``ddof = 0``).
    """
    lr = _check(predictor, lr, anatomy, sharpness)
    lams = [float(v) for v in sharpness]
    measured = np.moveaxis(lr, 2, 0)  # (S, n_y, n_x)
    prepared = predictor.network_inputs(measured, anatomy)  # the scale is symmetry-invariant
    met = index_of(metabolite)
    variants = [
        predictor.infer(prepared, measured, met, lams, anatomy.present, symmetry=sym)
        for sym in symmetries_of(anatomy.grid)
    ]
    consistent = np.stack(variants, axis=1)  # (L, V, S, N_y, N_x)
    return _summary(_weighted(consistent, measured, detail_weights), measured, ddof=0)


def propagate_fit(
    predictor: Predictor,
    lr: np.ndarray,
    sd: np.ndarray,
    metabolite: Metabolite | str,
    anatomy: Anatomy,
    sharpness: Sequence[float] = DEFAULT_SHARPNESS,
    draws: int = DEFAULT_DRAWS,
    rng: np.random.Generator | None = None,
    detail_weights: Sequence[float] | None = None,
) -> Estimate:
    """Mean and SD of the outputs for ``draws`` inputs ``lr + sd · ε``, ``ε ~ N(0, 1)`` per voxel.

    Each draw is normalised, super-resolved and made data-consistent with itself, exactly as
    a measured map would be; the draws of one volume run in shared batches.

    Args:
        predictor: the model.
        lr: ``(n_y, n_x, S)`` measured map at its acquisition grid.
        sd: ``(n_y, n_x, S)`` SD of the fit, same units, ``>= 0`` and finite.
        metabolite: which metabolite it is.
        anatomy: inputs on the output grid.
        sharpness: the λ values.
        draws: number of Monte Carlo draws, ``>= 2``.
        rng: the generator of the draws (default: seeded with 0, so runs repeat).
        detail_weights: weights of the network's detail per ring, applied to every draw
            (:func:`mrsisr.bands.blend`); ``None``: the raw network.

    Returns:
        :class:`Estimate` with ``(L, N_y, N_x, S)`` mean and SD (``ddof = 1``).
    """
    lr = _check(predictor, lr, anatomy, sharpness)
    sd = np.asarray(sd, dtype=np.float64)
    if sd.shape != lr.shape:
        raise ValueError(f"sd must have the map's shape {lr.shape}, got {sd.shape}")
    if not np.all(np.isfinite(sd)) or sd.min() < 0:
        raise ValueError("sd must be finite and >= 0 everywhere")
    if draws < 2:
        raise ValueError(f"draws must be >= 2, got {draws}")
    rng = rng if rng is not None else np.random.default_rng(0)
    lams = [float(v) for v in sharpness]
    measured = np.moveaxis(lr, 2, 0)  # (S, n_y, n_x)
    spread = np.moveaxis(sd, 2, 0)
    slices, n = measured.shape[0], measured.shape[-2:]
    samples = measured + spread * rng.standard_normal((draws, *measured.shape))  # (K, S, ...)
    flat = samples.reshape(-1, *n)  # each draw made consistent with itself
    prepared = predictor.network_inputs(flat, _repeat(anatomy, draws))
    est = predictor.infer(prepared, flat, index_of(metabolite), lams, anatomy.present)
    consistent = est.reshape(len(lams), draws, slices, *est.shape[-2:])
    return _summary(_weighted(consistent, samples, detail_weights), measured, ddof=1)


def _weighted(
    variants: np.ndarray, measured: np.ndarray, weights: Sequence[float] | None
) -> np.ndarray:
    """Each variant ``(L, V, S, N_y, N_x)`` with its detail over the zero-filled ``measured``
    (``(S, n_y, n_x)``, or one per variant ``(V, S, n_y, n_x)``) weighted per ring."""
    if weights is None:
        return variants
    zero_filled = kspace.zero_fill(measured, variants.shape[-2:])
    return blend(zero_filled, variants, measured.shape[-2:], weights)


def _repeat(anatomy: Anatomy, times: int) -> Anatomy:
    """The anatomy of ``times`` copies of a volume stacked along the slice axis."""

    def tile(image: np.ndarray | None) -> np.ndarray | None:
        return None if image is None else np.tile(image, (1, 1, times))

    return Anatomy(
        t1=tile(anatomy.t1),
        flair=tile(anatomy.flair),
        mask=np.tile(anatomy.mask, (1, 1, times)),
        mask_source=anatomy.mask_source,
    )


def _summary(variants: np.ndarray, measured: np.ndarray, ddof: int) -> Estimate:
    """``(L, V, S, N_y, N_x)`` variants -> :class:`Estimate` ``(L, N_y, N_x, S)``."""
    mean = kspace.data_consistency(variants.mean(axis=1), measured)  # (L, S, N_y, N_x)
    sd = variants.std(axis=1, ddof=ddof)
    return Estimate(
        mean=np.moveaxis(mean, 1, 3).astype(np.float32),
        sd=np.moveaxis(sd, 1, 3).astype(np.float32),
    )


def super_resolve_with_uncertainty(
    predictor: Predictor,
    method: Uncertainty | str,
    lr: np.ndarray,
    metabolite: Metabolite | str,
    anatomy: Anatomy,
    sharpness: Sequence[float] = DEFAULT_SHARPNESS,
    sd: np.ndarray | None = None,
    draws: int = DEFAULT_DRAWS,
    rng: np.random.Generator | None = None,
    detail_weights: Sequence[float] | None = None,
) -> Estimate:
    """:func:`tta` or :func:`propagate_fit` by name (``sd`` is required for ``fit``)."""

    method = parse_enum(Uncertainty, method, "uncertainty method")
    if method is Uncertainty.tta:
        return tta(predictor, lr, metabolite, anatomy, sharpness, detail_weights)
    if sd is None:
        raise ValueError("uncertainty 'fit' needs the SD map of the low-resolution fit")
    return propagate_fit(
        predictor, lr, sd, metabolite, anatomy, sharpness, draws, rng, detail_weights
    )
