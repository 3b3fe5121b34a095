"""The network's inputs, built one way for training, evaluation and ``mrsisr predict``.

Every path to the generator starts here: the training Dataset
(:class:`mrsisr.data.dataset.MRSIDataset`), and through
:meth:`mrsisr.inference.Predictor.network_inputs` predict, the demo, the uncertainty
estimates, the self-check, adaptation and the evaluation. A slice's inputs are its
zero-filled map divided by its scale (:func:`mrsisr.data.normalise.map_scale`, from the
zero-filled map inside the mask: what exists at inference), its normalised T1 and FLAIR (zeros
for an absent one) and its mask, stacked as the four channels the generator's call takes
apart (``lr, t1, flair, mask``, docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mrsisr.data.normalise import map_scale

__all__ = ["NetworkInputs", "network_inputs"]


class NetworkInputs(NamedTuple):
    """The generator's image inputs and the scale that normalised the map."""

    inputs: np.ndarray
    """``(..., 4, N_y, N_x)`` float32: zero-filled map / ``scale``, T1, FLAIR, mask (the
    order of the generator's arguments); an absent image is zeros."""
    scale: np.ndarray
    """``(...)`` float64, one per slice: multiply the network's output by it for the map's
    units."""


def network_inputs(
    zero_filled: np.ndarray,
    t1: np.ndarray | None,
    flair: np.ndarray | None,
    mask: np.ndarray,
) -> NetworkInputs:
    """The normalised network inputs of zero-filled slices, and the scale of each slice.

    The map is divided by its float64 scale and rounded to float32 once, at the end: the
    arithmetic ``mrsisr predict`` has always used (its outputs are pinned by the tests), which
    the training Dataset follows so that both give the network the same bytes.

    Args:
        zero_filled: ``(..., N_y, N_x)`` zero-filled maps in their units
            (:func:`mrsisr.kspace.zero_fill` of the measured map; float64 is kept).
        t1: ``(..., N_y, N_x)`` normalised T1 (:func:`mrsisr.data.normalise.
            normalise_anatomy`), or ``None``: absent, given as zeros.
        flair: like ``t1``, the FLAIR.
        mask: ``(..., N_y, N_x)`` bool or {0, 1} mask, the network's (it sets the scale too).

    Returns:
        :class:`NetworkInputs`: ``(..., 4, N_y, N_x)`` float32 inputs and ``(...)`` float64
        scales.

    Raises:
        ValueError: an image or the mask does not have the map's shape.
    """
    zero_filled = np.asarray(zero_filled, dtype=np.float64)
    if zero_filled.ndim < 2:
        raise ValueError(f"zero_filled must be (..., N_y, N_x), got shape {zero_filled.shape}")
    mask = np.asarray(mask)
    for name, image in (("t1", t1), ("flair", flair), ("mask", mask)):
        if image is not None and np.shape(image) != zero_filled.shape:
            raise ValueError(
                f"{name} has shape {np.shape(image)}, the zero-filled map {zero_filled.shape}"
            )
    scale = map_scale(zero_filled, mask)
    absent = np.zeros(zero_filled.shape, dtype=np.float32)
    channels = [zero_filled / scale[..., None, None]]
    channels += [absent if image is None else image for image in (t1, flair)]
    inputs = np.stack([*channels, mask], axis=-3).astype(np.float32)
    return NetworkInputs(inputs, scale)
