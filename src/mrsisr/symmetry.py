"""The in-plane flips and quarter turns of a grid, taken about the k-space origin.

An in-plane symmetry used for test-time augmentation must commute with the acquisition:
``degrade(T(x), T(n)) == T(degrade(x, n))``, so that transforming a high-resolution map and
then measuring it gives the transformed measurement. In the centred-FFT convention of
:mod:`mrsisr.kspace`, voxel ``N // 2`` is the origin of space (and index ``N // 2`` of the
centred k-space is frequency 0), so a reflection must map voxel ``i`` to ``(2 (N // 2) - i)
mod N``: :func:`reflect`. For odd ``N`` that is ``np.flip``; for even ``N`` it is
``np.flip`` followed by a circular shift of one voxel. ``np.flip`` of an even axis reflects
about ``N / 2 - 1/2`` instead, half a high-resolution voxel away from the origin: the
reflected map is shifted by one voxel, which on the low-resolution grid is ``n / N`` of a
voxel, not a permutation of its voxels, so ``np.flip`` does not commute with truncation.

Why :func:`reflect` commutes exactly, also for even ``n`` (the unpaired Nyquist frequency
``-n / 2``): reflection maps frequency ``k`` to ``-k``. The kept window
``-(n // 2) ... (n - 1) // 2`` is symmetric for odd ``n``. For even ``n`` the reflected map's
Nyquist coefficient is the original's ``+n / 2`` coefficient, which the window does not keep,
while reflecting the low-resolution map keeps ``-n / 2`` in place. But
:func:`mrsisr.kspace.degrade` keeps the real part of the inverse transform, which replaces
the Nyquist coefficient ``c`` by ``Re(c)`` (on an even ``n``-point grid ``-n / 2`` and
``+n / 2`` are the same bin, so the real part of a signal has ``(c + conj(c)) / 2`` there).
A real map has ``c(+n/2) = conj(c(-n/2))``, whose real parts are equal: both sides hold the
same Nyquist value. Each axis of ``degrade`` is therefore a real matrix ``D`` with
``D R_N = R_n D`` (``R`` the reflection), and transposition swaps the two axes' matrices, so
all eight symmetries commute with ``degrade``, with :func:`mrsisr.kspace.zero_fill` and hence
with data consistency, for odd and even ``n`` and ``N`` (tests/test_symmetry.py checks every
case numerically, and that ``np.flip`` fails).

A symmetry that transposes changes a ``(N_y, N_x)`` grid into ``(N_x, N_y)``, so on a
non-square grid only the four flips keep the grid (:func:`symmetries_of`); the acquisition
size transforms with it (:meth:`Symmetry.size`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = ["DIHEDRAL", "Symmetry", "reflect", "symmetries_of"]


def reflect(x: Array, axis: int) -> Array:
    """Reflect ``x`` about voxel ``N // 2`` of ``axis``: ``out[i] = x[(2 (N // 2) - i) mod N]``.

    Args:
        x: array or tensor ``(..., N_y, N_x)``.
        axis: ``-2`` (y) or ``-1`` (x).

    Returns:
        A new array of the same shape; voxel ``N // 2`` stays in place.
    """
    if axis not in (-2, -1):
        raise ValueError(f"axis must be -2 or -1, got {axis}")
    size = x.shape[axis]
    shift = 1 if size % 2 == 0 else 0
    if isinstance(x, torch.Tensor):
        return torch.roll(torch.flip(x, dims=(axis,)), shifts=shift, dims=axis)
    return np.roll(np.flip(x, axis=axis), shift, axis=axis)


def _transpose(x: Array) -> Array:
    if isinstance(x, torch.Tensor):
        return x.transpose(-2, -1)
    return np.swapaxes(x, -2, -1)


def _fresh(x: Array) -> Array:
    """A new contiguous array with the values of ``x`` (never a view of the input)."""
    if isinstance(x, torch.Tensor):
        return x.contiguous().clone()
    return np.array(x, order="C")


class Symmetry(NamedTuple):
    """One of the eight in-plane symmetries: optionally transpose, then reflect y and/or x.

    Every element of the dihedral group of the square is one of these; quarter turns are a
    transposition followed by one reflection (``(True, True, False)`` is a quarter turn).
    """

    transpose: bool
    """Swap the y and x axes first."""
    flip_y: bool
    """Then reflect axis -2 about its voxel ``N_y // 2`` (:func:`reflect`)."""
    flip_x: bool
    """Then reflect axis -1 about its voxel ``N_x // 2``."""

    def apply(self, x: Array) -> Array:
        """``T(x)`` on the last two axes of ``(..., N_y, N_x)``; a new array."""
        out = _transpose(x) if self.transpose else x
        if self.flip_y:
            out = reflect(out, -2)
        if self.flip_x:
            out = reflect(out, -1)
        return _fresh(out)

    def invert(self, x: Array) -> Array:
        """``T^-1(x)``: undo :meth:`apply` (reflections first, then the transposition)."""
        out = reflect(x, -1) if self.flip_x else x
        if self.flip_y:
            out = reflect(out, -2)
        if self.transpose:
            out = _transpose(out)
        return _fresh(out)

    def size(self, n: Sequence[int]) -> tuple[int, int]:
        """The ``(n_y, n_x)`` of a transformed grid of size ``n``."""
        ny, nx = int(n[0]), int(n[1])
        return (nx, ny) if self.transpose else (ny, nx)


DIHEDRAL: tuple[Symmetry, ...] = tuple(
    Symmetry(transpose=t, flip_y=fy, flip_x=fx)
    for t in (False, True)
    for fy in (False, True)
    for fx in (False, True)
)
"""The eight symmetries of a square grid; the identity is first."""


def symmetries_of(grid: Sequence[int]) -> tuple[Symmetry, ...]:
    """The symmetries that keep a ``(N_y, N_x)`` grid: all eight if square, else the four flips."""
    if int(grid[0]) == int(grid[1]):
        return DIHEDRAL
    return tuple(s for s in DIHEDRAL if not s.transpose)
