"""k-space physics of an MRSI acquisition: truncation, zero-filling and data consistency.

Conventions (used by every part of the project, including the affines it writes):

* FFTs are centred and orthonormal (``norm="ortho"``) on the last two axes: frequency 0 sits
  at index ``N // 2`` of an axis of length ``N`` (``fftshift`` convention).
* An ``n``-point acquisition of an ``N``-point high-resolution axis keeps the frequencies
  ``k = -(n // 2), ..., (n - 1) // 2``, i.e. the k-space indices
  ``N // 2 - n // 2 ... N // 2 - n // 2 + n - 1`` of the high-resolution grid, which are the
  indices ``0 ... n - 1`` of the low-resolution grid. For odd ``n`` this window is symmetric;
  for even ``n`` it holds the unpaired Nyquist frequency ``-n / 2``.
* Metabolite maps are real, and the functions that take maps refuse complex input. The
  low-resolution map is the real part of the truncated inverse transform, taken axis by axis
  (the operator is separable): for odd ``n`` the imaginary part is exactly zero, for even
  ``n`` it is the part of the unpaired Nyquist line that no real ``n``-point map can hold, and
  it is discarded. Zero-filling
  therefore writes that Nyquist line at both ``-n / 2`` and ``+n / 2`` of the high-resolution
  grid, which keeps the upsampled map real and makes ``degrade(zero_fill(lr)) == lr``.
* Amplitudes are scaled by ``sqrt(n / N)`` per axis so that maps keep their units: a constant
  5 mM map degrades to a constant 5 mM map, and zero-filling keeps it at 5 mM.
* Geometry: voxel ``N // 2`` of the high-resolution grid and voxel ``n // 2`` of the
  low-resolution grid are the same point in space (per axis); both grids span the same field
  of view, so the low-resolution voxel is ``N / n`` times larger (:func:`lowres_affine`).

Data consistency, :func:`data_consistency`, replaces the acquired part of an estimate's
k-space by the measurement: ``x + zero_fill(y - degrade(x))``. Because the operators are real
linear maps with ``degrade(zero_fill(y)) == y``, degrading the result returns ``y`` exactly.
All functions accept NumPy arrays or torch tensors of any leading shape ``(..., N_y, N_x)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = [
    "Extent",
    "acquisition_window",
    "apply_kspace_window",
    "data_consistency",
    "degrade",
    "degrade_split_nyquist",
    "effective_extent",
    "fft2c",
    "ifft2c",
    "kept_indices",
    "lowres_affine",
    "projection_matrix",
    "unfiltered_frequencies",
    "zero_fill",
]


def _as_pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    """Normalise an int or a (y, x) pair of ints and check it is positive."""
    if isinstance(size, (int, np.integer)):
        pair = (int(size), int(size))
    else:
        values = tuple(int(v) for v in size)
        if len(values) != 2:
            raise ValueError(f"{name} must be an int or a (n_y, n_x) pair, got {size!r}")
        pair = (values[0], values[1])
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return pair


def _check_image(x: Array, name: str = "x", real: bool = False) -> None:
    if x.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (..., N_y, N_x), got {x.ndim}")
    if real and (x.is_complex() if isinstance(x, torch.Tensor) else np.iscomplexobj(x)):
        raise ValueError(
            f"{name} must be real: metabolite maps are real-valued; pass the real part "
            "(or the magnitude) of a complex map"
        )


def fft2c(x: Array) -> Array:
    """Centred orthonormal 2-D FFT over the last two axes.

    Args:
        x: image of shape ``(..., N_y, N_x)``, real or complex.

    Returns:
        Complex k-space of the same shape with frequency 0 at index ``(N_y // 2, N_x // 2)``.
    """
    _check_image(x)
    if isinstance(x, torch.Tensor):
        dims = (-2, -1)
        k = torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), norm="ortho")
        return torch.fft.fftshift(k, dim=dims)
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), norm="ortho"), axes=axes)


def ifft2c(k: Array) -> Array:
    """Centred orthonormal 2-D inverse FFT over the last two axes (inverse of :func:`fft2c`).

    Args:
        k: k-space of shape ``(..., N_y, N_x)`` with frequency 0 at ``(N_y // 2, N_x // 2)``.

    Returns:
        Complex image of the same shape.
    """
    _check_image(k, "k")
    if isinstance(k, torch.Tensor):
        dims = (-2, -1)
        x = torch.fft.ifft2(torch.fft.ifftshift(k, dim=dims), norm="ortho")
        return torch.fft.fftshift(x, dim=dims)
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), norm="ortho"), axes=axes)


def kept_indices(N: int, n: int) -> slice:
    """Indices of an ``N``-point centred k-space axis that an ``n``-point acquisition keeps.

    Frequencies ``-(n // 2) ... (n - 1) // 2``, i.e. indices ``N//2 - n//2`` to
    ``N//2 - n//2 + n - 1`` inclusive.
    """
    if not 1 <= n <= N:
        raise ValueError(f"n must be in [1, N={N}], got {n}")
    start = N // 2 - n // 2
    return slice(start, start + n)


def _real(x: Array) -> Array:
    return x.real if isinstance(x, torch.Tensor) or np.iscomplexobj(x) else x


def _fft1c(x: Array, axis: int, inverse: bool = False) -> Array:
    """Centred orthonormal 1-D (inverse) FFT along ``axis``."""
    if isinstance(x, torch.Tensor):
        f = torch.fft.ifft if inverse else torch.fft.fft
        k = f(torch.fft.ifftshift(x, dim=axis), dim=axis, norm="ortho")
        return torch.fft.fftshift(k, dim=axis)
    f = np.fft.ifft if inverse else np.fft.fft
    return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axis), axis=axis, norm="ortho"), axes=axis)


def _index(axis: int, sel: slice | int) -> tuple:
    """An index tuple that applies ``sel`` to ``axis`` (-1 or -2) of an array."""
    return (Ellipsis, sel) if axis == -1 else (Ellipsis, sel, slice(None))


def _degrade_axis(x: Array, n: int, axis: int, fold: bool = False) -> Array:
    N = x.shape[axis]
    k = _fft1c(x, axis)
    if fold and n % 2 == 0 and n < N:  # the split Nyquist line: its half at +n/2 added back
        nyquist, mirror = _index(axis, N // 2 - n // 2), _index(axis, N // 2 + n // 2)
        k = k.clone() if isinstance(k, torch.Tensor) else k.copy()
        k[nyquist] = k[nyquist] + k[mirror]
    k = k[_index(axis, kept_indices(N, n))]
    return _real(_fft1c(k, axis, inverse=True)) * float(np.sqrt(n / N))


def _zero_fill_axis(x: Array, N: int, axis: int) -> Array:
    n = x.shape[axis]
    klr = _fft1c(x, axis)
    shape = list(x.shape)
    shape[axis] = N
    if isinstance(x, torch.Tensor):
        k = torch.zeros(shape, dtype=klr.dtype, device=x.device)
    else:
        k = np.zeros(shape, dtype=klr.dtype)
    kept = kept_indices(N, n)
    k[_index(axis, kept)] = klr
    if n % 2 == 0 and n < N:  # mirror the unpaired Nyquist frequency -n/2 to +n/2
        k[_index(axis, N // 2 + n // 2)] = k[_index(axis, kept.start)]
    return _real(_fft1c(k, axis, inverse=True)) * float(np.sqrt(N / n))


def degrade(hr: Array, n: int | Sequence[int]) -> Array:
    """The low-resolution map an ``n``-point acquisition of ``hr`` measures, at its native grid.

    Keeps the centre ``n_y x n_x`` of the centred k-space of ``hr`` (:func:`kept_indices`) and
    transforms it back on the ``n_y x n_x`` grid, one axis at a time (x, then y), keeping the
    real part after each axis (for odd ``n`` nothing is discarded; for even ``n`` the imaginary
    part of the unpaired Nyquist line). The operator is separable, which lets a batch that
    mixes acquisition sizes apply it as two small matrix products. Amplitudes keep their units
    (a constant map stays the same constant).

    Args:
        hr: real high-resolution map ``(..., N_y, N_x)``.
        n: acquisition size, an int for square or ``(n_y, n_x)``; ``1 <= n <= N`` per axis.

    Returns:
        Real low-resolution map ``(..., n_y, n_x)``.
    """
    _check_image(hr, "hr", real=True)
    ny, nx = _as_pair(n, "n")
    return _degrade_axis(_degrade_axis(hr, nx, -1), ny, -2)


def degrade_split_nyquist(
    hr: Array, n: int | Sequence[int], split: tuple[bool, bool] = (True, True)
) -> Array:
    """:func:`degrade` of a map zero-filled with the Nyquist line of an even ``n`` split in
    halves at ``-n / 2`` and ``+n / 2``, per axis where ``split`` says so.

    A pipeline that zero-fills by centred zero-padding and keeps the real part of the image
    writes half the Nyquist line at each of ``±n / 2``, so its k-space holds ``n + 1``
    lines (:func:`effective_extent` finds ``n + 1``); adding the ``+n / 2`` half back onto
    ``-n / 2`` before the window is cut gives the acquired map back exactly. On an odd
    ``n``, or where ``split`` is False, this is :func:`degrade`.

    Args:
        hr: real zero-filled map ``(..., N_y, N_x)``.
        n: acquisition size, an int for square or ``(n_y, n_x)``.
        split: per axis ``(y, x)``, whether its Nyquist line was split.

    Returns:
        Real low-resolution map ``(..., n_y, n_x)``.
    """
    _check_image(hr, "hr", real=True)
    ny, nx = _as_pair(n, "n")
    return _degrade_axis(_degrade_axis(hr, nx, -1, split[1]), ny, -2, split[0])


def zero_fill(lr: Array, N: int | Sequence[int]) -> Array:
    """Zero-filled (sinc-interpolated) upsampling of a real low-resolution map to ``N``.

    Places the k-space of ``lr`` at :func:`kept_indices` of the ``N``-point axis and, for even
    ``n < N``, copies the Nyquist frequency ``-n / 2`` to ``+n / 2`` so that the result is real;
    one axis at a time, like :func:`degrade`. ``degrade(zero_fill(lr, N), n) == lr`` for every
    real ``lr``.

    Args:
        lr: real low-resolution map ``(..., n_y, n_x)``.
        N: target grid, an int for square or ``(N_y, N_x)``; ``N >= n`` per axis.

    Returns:
        Real map ``(..., N_y, N_x)`` in the same units as ``lr``.
    """
    _check_image(lr, "lr", real=True)
    Ny, Nx = _as_pair(N, "N")
    ny, nx = lr.shape[-2], lr.shape[-1]
    if ny > Ny or nx > Nx:
        raise ValueError(f"lr of size {(ny, nx)} is larger than the target grid N={(Ny, Nx)}")
    return _zero_fill_axis(_zero_fill_axis(lr, Nx, -1), Ny, -2)


def data_consistency(x: Array, measured: Array) -> Array:
    """Replace the acquired k-space of the estimate ``x`` by the measured map, exactly.

    Returns ``x + zero_fill(measured - degrade(x, n), N)``. The result's low-frequency
    k-space equals the measurement's, so ``degrade(result, n) == measured`` to float
    precision; the frequencies outside the acquisition window are those of ``x``.

    Args:
        x: real estimate ``(..., N_y, N_x)``.
        measured: real measured map at its native grid ``(..., n_y, n_x)``.

    Returns:
        Real map ``(..., N_y, N_x)``.
    """
    _check_image(x, real=True)
    _check_image(measured, "measured", real=True)
    n = measured.shape[-2:]
    return x + zero_fill(measured - degrade(x, n), x.shape[-2:])


def projection_matrix(N: int, n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The real ``N x N`` matrix of ``zero_fill(degrade(., n), N)`` along one axis.

    Zero-filling after degrading is a separable real projection, so on a 2-D map it is
    ``P_y @ x @ P_x.T``. Batched matrix products with these matrices give data consistency for
    a batch that mixes acquisition sizes (see :class:`mrsisr.nn.dc.DataConsistency`).
    """
    kept_indices(N, n)  # validates n
    eye = torch.eye(N, dtype=torch.float64)
    # Apply the 1-D operator to every basis vector: treat each as a (N, 1) "image".
    cols = zero_fill(degrade(eye.T.unsqueeze(-1), (n, 1)), (N, 1)).squeeze(-1)
    return cols.T.contiguous().to(dtype)


def lowres_affine(hr_affine: np.ndarray, N: Sequence[int], n: Sequence[int]) -> np.ndarray:
    """Affine of the low-resolution grid that covers the same field of view as ``hr_affine``.

    The first two voxel axes are the in-plane MRSI axes (``N`` and ``n`` give their sizes);
    further axes are unchanged. Voxel ``n // 2`` of the low-resolution axis maps to the same
    point as voxel ``N // 2`` of the high-resolution axis, and the voxel is ``N / n`` larger.
    The same function maps the other way: ``lowres_affine(lr_affine, n, N)``.

    Args:
        hr_affine: ``4 x 4`` voxel-to-world affine of the grid with sizes ``N``.
        N: sizes of the first two axes of that grid.
        n: sizes of the first two axes of the new grid.
    """
    hr_affine = np.asarray(hr_affine, dtype=np.float64)
    if hr_affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {hr_affine.shape}")
    voxel_map = np.eye(4)
    for axis, (big, small) in enumerate(zip(N, n)):
        zoom = big / small
        voxel_map[axis, axis] = zoom
        voxel_map[axis, 3] = big // 2 - zoom * (small // 2)
    return hr_affine @ voxel_map


def _frequencies(N: int) -> np.ndarray:
    """Frequency of each index of a centred ``N``-point axis: ``-(N // 2) ... (N - 1) // 2``."""
    return np.arange(N) - N // 2


def acquisition_window(
    N: int | Sequence[int],
    n: int | Sequence[int],
    *,
    hamming: bool = False,
    elliptical: bool = False,
) -> np.ndarray:
    """Weights of an ``n``-point acquisition on the centred k-space of the ``N`` grid.

    The acquired box ``|k_y| <= n_y / 2, |k_x| <= n_x / 2`` (for even ``n`` the Nyquist lines
    at ``±n / 2`` that :func:`zero_fill` writes) is 1, everything else 0; ``hamming``
    multiplies it by the separable Hamming filter ``0.54 + 0.46 cos(2 pi k / n)`` per axis
    (1 at ``k = 0``, 0.08 at ``±n / 2``), ``elliptical`` keeps only the inscribed ellipse
    ``(2 k_y / n_y)^2 + (2 k_x / n_x)^2 <= 1`` (the corners of the box hold no data).
    The window is real and even (``W(k) = W(-k)`` wherever ``-k`` is on the grid), so it keeps
    real maps real.

    Args:
        N: grid ``(N_y, N_x)`` or an int for square.
        n: acquisition size ``(n_y, n_x)`` or an int, ``1 <= n <= N``.
        hamming: apply the Hamming filter.
        elliptical: sample the ellipse only.

    Returns:
        float64 ``(N_y, N_x)`` weights in ``[0, 1]``, frequency 0 at ``(N_y // 2, N_x // 2)``.
    """
    (Ny, Nx), (ny, nx) = _as_pair(N, "N"), _as_pair(n, "n")
    kept_indices(Ny, ny), kept_indices(Nx, nx)  # validates n
    axes = []
    for size, half in ((Ny, ny / 2), (Nx, nx / 2)):
        k = _frequencies(size)
        inside = np.abs(k) <= half
        weight = 0.54 + 0.46 * np.cos(np.pi * k / half) if hamming else np.ones(size)
        axes.append(np.where(inside, weight, 0.0))
    window = np.outer(axes[0], axes[1])
    if elliptical:
        ky, kx = _frequencies(Ny)[:, None] / (ny / 2), _frequencies(Nx)[None, :] / (nx / 2)
        window = np.where(ky**2 + kx**2 <= 1.0, window, 0.0)
    return window


def unfiltered_frequencies(
    N: int | Sequence[int],
    n: int | Sequence[int],
    *,
    hamming: bool = False,
    elliptical: bool = False,
) -> np.ndarray:
    """The frequencies an acquisition measured and kept unchanged: bool ``(N_y, N_x)``.

    Those of :func:`acquisition_window` with weight exactly 1, strictly inside
    ``|k| < n / 2`` (an even acquisition's Nyquist line is not measured on its own: it is
    written at both ``±n / 2``). With a Hamming filter only frequency 0 is unchanged.
    Data consistency with a windowed acquisition replaces exactly these frequencies.
    """
    window = acquisition_window(N, n, hamming=hamming, elliptical=elliptical)
    (Ny, Nx), (ny, nx) = _as_pair(N, "N"), _as_pair(n, "n")
    strict = (np.abs(_frequencies(Ny))[:, None] < ny / 2) & (
        np.abs(_frequencies(Nx))[None, :] < nx / 2
    )
    return strict & (window == 1.0)


def apply_kspace_window(x: Array, window: Array) -> Array:
    """Multiply the centred k-space of real maps by a real, even window: ``Re F^-1(W F x)``.

    Args:
        x: real maps ``(..., N_y, N_x)``.
        window: real weights ``(N_y, N_x)`` (:func:`acquisition_window`); torch or NumPy, as
            ``x``.

    Returns:
        Real maps ``(..., N_y, N_x)``, the dtype of ``x``.
    """
    _check_image(x, real=True)
    if tuple(window.shape) != tuple(x.shape[-2:]):
        raise ValueError(f"window of shape {tuple(window.shape)} does not match x {x.shape}")
    if isinstance(x, torch.Tensor):
        return ifft2c(fft2c(x) * window).real.to(x.dtype)
    return ifft2c(fft2c(x) * window).real.astype(x.dtype, copy=False)


ENERGY_INSIDE = 0.999
"""Fraction of a map's k-space energy that a window must hold to count as its extent."""

EDGE_CLIFF = 1e-3
"""Largest ratio of the k-space power per line outside a window to the power per line just
inside it for the window to count as an edge of the data (a zero-filled map's k-space is
numerically zero beyond its window; an acquired map's falls off gradually or meets noise)."""

# Lines ``+h`` and ``-h`` of a window whose difference holds less than this fraction of their
# energy are one Nyquist line written twice (:func:`zero_fill` of an even size).
_MIRROR_TOLERANCE = 1e-4


class Extent(NamedTuple):
    """Where the k-space of a map holds its energy, per in-plane axis (:func:`effective_extent`)."""

    size: tuple[int, int]
    """``(m_y, m_x)``: the acquisition size the data hold; the map's own grid if it is not
    zero-filled."""
    inside: float
    """Fraction of the k-space energy inside the ``size`` window (1 when ``size`` is the grid)."""

    def is_padded(self, shape: Sequence[int]) -> bool:
        """Whether ``size`` is smaller than the map's grid ``shape`` on some axis."""
        return self.size[0] < shape[-2] or self.size[1] < shape[-1]


def _axis_extent(k: np.ndarray, energy: float, cliff: float) -> tuple[int, float]:
    """Smallest window of a centred 1-D k-space axis that holds the data (see
    :func:`effective_extent`); ``k`` is ``(n, M)``, frequency along the first axis."""
    n = k.shape[0]
    c = n // 2
    power = np.sum(np.abs(k) ** 2, axis=1)  # (n,), frequency ``i - c`` at index i
    total = float(power.sum())
    if total == 0:
        return n, 1.0
    for h in range(n // 2):  # windows of 2h + 1 < n lines
        inside = float(power[c - h : c + h + 1].sum())
        outside = total - inside
        if outside > (1 - energy) * total:
            continue
        band = max(1, (h + 1) // 4)  # the outermost lines of the window, on both sides
        edge = np.concatenate([power[c - h : c - h + band], power[c + h - band + 1 : c + h + 1]])
        per_line_out = outside / (n - (2 * h + 1))
        if per_line_out > cliff * float(edge.mean()):
            continue
        mirrored = h > 0 and np.sum(np.abs(k[c + h] - k[c - h]) ** 2) <= _MIRROR_TOLERANCE * (
            power[c + h] + power[c - h]
        )
        return (2 * h if mirrored else 2 * h + 1), inside / total
    return n, 1.0


def effective_extent(
    maps: np.ndarray, energy: float = ENERGY_INSIDE, cliff: float = EDGE_CLIFF
) -> Extent:
    """The acquisition size a map's data actually hold: detects zero-filled (sinc-interpolated)
    maps.

    Along each in-plane axis, the k-space power of every map (summed over the other axis and
    the leading axes) is compared with centred windows ``|k| <= h``. The extent is the
    smallest window that (a) holds more than ``energy`` of the power and (b) ends in a cliff:
    the power per line outside it is below ``cliff`` times the power per line of its outermost
    lines. Zero-filling leaves nothing but rounding beyond its window; an acquired map, even a
    smooth one, falls off gradually and meets its noise floor, so (b) keeps smooth acquired
    maps from being mistaken for zero-filled ones. The window ``|k| <= h`` is reported as
    ``2h`` when its lines ``+h`` and ``-h`` are the same Nyquist line written twice (as
    :func:`zero_fill` of an even size writes it), otherwise as ``2h + 1``; in both cases
    ``degrade(maps, size)`` keeps every non-zero frequency, and it inverts :func:`zero_fill`
    exactly.

    Args:
        maps: real maps ``(..., n_y, n_x)`` (e.g. the slices of a volume, ``(S, n_y, n_x)``).
        energy: fraction of the power the window must hold, in ``(0, 1)``.
        cliff: largest power ratio outside / edge of the window, ``> 0``.

    Returns:
        The :class:`Extent`; ``size`` is ``(n_y, n_x)`` when no smaller window holds the data,
        and for an all-zero map.
    """
    _check_image(maps, "maps", real=True)
    if not 0 < energy < 1:
        raise ValueError(f"energy must be in (0, 1), got {energy}")
    if not cliff > 0:
        raise ValueError(f"cliff must be > 0, got {cliff}")
    x = np.asarray(maps, dtype=np.float64)
    sizes, inside = [], 1.0
    for axis in (-2, -1):
        k = np.moveaxis(_fft1c(x, axis), axis, 0)
        m, fraction = _axis_extent(k.reshape(k.shape[0], -1), energy, cliff)
        sizes.append(m)
        inside = min(inside, fraction)
    return Extent(size=(sizes[0], sizes[1]), inside=inside)
