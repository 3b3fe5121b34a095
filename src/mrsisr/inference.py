"""Super-resolve low-resolution metabolite volumes with a trained generator.

The numerical core of ``mrsisr predict`` and ``mrsisr demo`` (volumes in memory); files,
jobs and user-facing checks live in :mod:`mrsisr.predict`.

Geometry. A low-resolution (LR) map is a volume ``(n_y, n_x, S)`` at its acquisition grid: the
first two voxel axes are the MRSI plane, slices run along the third. The output grid
``(N_y, N_x)`` covers the same field of view with the same ``S`` slices: by default
:func:`default_grid` (isotropic in-plane voxels, at least :data:`MIN_OUTPUT_SIDE` on the short
axis and at least twice the input per axis), or a grid or voxel size the caller chooses
(:func:`output_grid`). Its affine is ``kspace.lowres_affine(lr_affine, n, N)`` (voxel
``n // 2`` of the input and voxel ``N // 2`` of the output are the same point). The network
runs on the output grid whatever grid it was trained on (:class:`~mrsisr.nn.unet.
MultiEncoderUNet` is fully convolutional and encodes ``n`` relative to ``N``); the
:class:`Anatomy` given to :meth:`Predictor.super_resolve` carries that grid. T1 and FLAIR,
at any grid, are resampled onto the output grid through their affines. Either or both may be
absent for a model trained with presence flags (``GeneratorConfig.presence``): the absent
image is zeros and flagged absent, and the brain mask is derived from what there is (the
other image, else the maps themselves).

What the output holds. The generator returns a masked, data-consistent estimate per slice.
:meth:`Predictor.infer` (which :meth:`Predictor.super_resolve`, the uncertainty estimates
and the evaluation call) multiplies it back to the input's units and applies data
consistency once more, in float64, against the measured map itself. The result keeps the
network's high frequencies and the measurement's low frequencies exactly:
``kspace.degrade(output, n) == input`` slice by slice, to float32 precision. The network's mask
is the anatomy's mask (:attr:`Anatomy.mask`) where the map was measured: voxels (and whole
slices) where the map is exactly zero are left out (:func:`mrsisr.acquisition.
measured_on_grid`), so nothing is invented where nothing was measured, and a zero slice gives
a zero slice. Outside the mask the estimate carries only the part of the measurement that the
masked map does not explain (smooth, low-frequency); the mask used is written next to it by
``mrsisr predict``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from mrsisr import kspace
from mrsisr.acquisition import measured_on_grid
from mrsisr.bands import blend
from mrsisr.checkpoint import TrainedRange, load_model
from mrsisr.data.inputs import NetworkInputs, network_inputs
from mrsisr.data.nifti import Volume, in_plane_voxel_mm
from mrsisr.data.normalise import normalise_anatomy
from mrsisr.errors import UserError, argument
from mrsisr.metabolites import Metabolite, index_of
from mrsisr.nn.config import LIMITS
from mrsisr.options import StrEnum, parse_enum, resolve_device
from mrsisr.symmetry import Symmetry

__all__ = [
    "BF16_PSNR_TOLERANCE_DB",
    "DEFAULT_SHARPNESS",
    "MIN_FACTOR",
    "MIN_OUTPUT_SIDE",
    "Anatomy",
    "GridChoice",
    "Precision",
    "Predictor",
    "Volume",
    "brain_mask",
    "cpu_has_native_bf16",
    "default_grid",
    "describe_outside",
    "grid_for_voxel_size",
    "images_label",
    "in_plane_voxel_mm",
    "map_mask",
    "model_grid",
    "otsu_threshold",
    "output_geometry",
    "output_grid",
    "presence_flags",
    "resolve_device",
    "resolve_precision",
]

log = logging.getLogger(__name__)

DEFAULT_SHARPNESS: tuple[float, ...] = (0.0,)
"""Default λ: the paper recommends 0 to 0.03; 0 is the most faithful (highest PSNR/SSIM)."""


class Anatomy(NamedTuple):
    """Anatomical inputs on the output grid, normalised as in training."""

    t1: np.ndarray | None
    """``(N_y, N_x, S)`` float32, divided by its 99.5th percentile inside the mask; ``None``:
    no T1."""
    flair: np.ndarray | None
    """``(N_y, N_x, S)`` float32, normalised like ``t1``; ``None``: no FLAIR."""
    mask: np.ndarray
    """``(N_y, N_x, S)`` bool brain/quality mask."""
    mask_source: str
    """Where the mask came from (a file name, or ``"derived from T1 and FLAIR ..."``)."""

    @property
    def present(self) -> tuple[bool, bool]:
        """Whether there is a T1 and whether there is a FLAIR."""
        return self.t1 is not None, self.flair is not None

    @property
    def grid(self) -> tuple[int, int]:
        """The output grid ``(N_y, N_x)`` the anatomy is on (the mask's first two axes)."""
        return int(self.mask.shape[0]), int(self.mask.shape[1])


def images_label(present: Sequence[bool]) -> str:
    """``"T1 and FLAIR"``, ``"T1 only"``, ``"FLAIR only"`` or ``"no anatomical image"``."""
    t1, flair = (bool(v) for v in present)
    if t1 and flair:
        return "T1 and FLAIR"
    if t1 or flair:
        return "T1 only" if t1 else "FLAIR only"
    return "no anatomical image"


def model_grid(config: dict) -> tuple[int, int]:
    """The output grid ``(N_y, N_x)`` recorded in a model's configuration.

    Raises:
        ValueError: if the configuration has no valid ``grid``.
    """
    grid = config.get("grid")
    if isinstance(grid, int):
        return grid, grid
    if isinstance(grid, (list, tuple)) and len(grid) == 2 and all(int(g) > 0 for g in grid):
        return int(grid[0]), int(grid[1])
    raise ValueError(f"model configuration has no valid 'grid' (got {grid!r})")


MIN_OUTPUT_SIDE = 64
"""The default output grid has at least this many voxels on its short in-plane axis."""
MIN_FACTOR = 2
"""The default output grid has at least this many times the input's voxels per axis."""


def _size(grid: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in grid)


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _check_n(n: Sequence[int]) -> tuple[int, int]:
    pair = (int(n[0]), int(n[1]))
    if min(pair) < 1:
        raise ValueError(f"the map's grid must be positive, got {_size(pair)}")
    return pair


def default_grid(n: Sequence[int], voxel_mm: Sequence[float]) -> tuple[int, int]:
    """The default output grid of an ``(n_y, n_x)`` map of ``(d_y, d_x)`` mm voxels.

    The output covers the input's field of view ``F = n · d`` with isotropic in-plane voxels
    of ``v = min(min(d) / MIN_FACTOR, min(F) / MIN_OUTPUT_SIDE)`` mm: at least twice the
    input's voxels per axis and at least :data:`MIN_OUTPUT_SIDE` on the short axis, and no
    finer than that. ``N = F / v`` per axis, rounded to the nearest integer (halves up): the
    axis that sets ``v`` is exact, and rounding never breaks either bound (both are
    integers), so the other axis's voxel is ``v`` within half a voxel over the field of view.
    32 x 42 of 5 mm -> 64 x 84 of 2.5 mm; 64 x 64 -> 128 x 128; 16 x 16 to 32 x 32 of
    square voxels -> 64 x 64.

    Args:
        n: the input's in-plane grid ``(n_y, n_x)``.
        voxel_mm: its in-plane voxel sizes ``(d_y, d_x)`` (:func:`in_plane_voxel_mm`).

    Returns:
        ``(N_y, N_x)``.
    """
    n = _check_n(n)
    d = (float(voxel_mm[0]), float(voxel_mm[1]))
    if not all(math.isfinite(v) and v > 0 for v in d):
        raise ValueError(f"voxel sizes must be finite and > 0, got {d}")
    fov = (n[0] * d[0], n[1] * d[1])
    voxel = min(min(d) / MIN_FACTOR, min(fov) / MIN_OUTPUT_SIDE)
    return _round_half_up(fov[0] / voxel), _round_half_up(fov[1] / voxel)


def grid_for_voxel_size(
    n: Sequence[int], voxel_mm: Sequence[float], size_mm: float
) -> tuple[int, int]:
    """The grid of ``size_mm`` in-plane voxels over an ``(n_y, n_x)`` map's field of view.

    ``N = n · d / size_mm`` per axis, rounded to the nearest integer (halves up): the field
    of view is kept exactly, so the voxel is ``size_mm`` within half a voxel over it.

    Raises:
        ValueError: ``size_mm`` not finite and > 0.
    """
    n = _check_n(n)
    size = float(size_mm)
    if not (math.isfinite(size) and size > 0):
        raise ValueError(f"voxel size must be a finite number of mm > 0, got {size_mm!r}")
    return (
        max(1, _round_half_up(n[0] * float(voxel_mm[0]) / size)),
        max(1, _round_half_up(n[1] * float(voxel_mm[1]) / size)),
    )


def output_grid(
    lr_shape: Sequence[int],
    lr_affine: np.ndarray,
    grid: Sequence[int] | None = None,
    voxel_size: float | None = None,
) -> tuple[int, int]:
    """The output grid ``(N_y, N_x)`` of a map: ``grid``, the grid of ``voxel_size`` mm, or
    the default (:func:`default_grid`).

    Args:
        lr_shape: ``(n_y, n_x, ...)`` of the map at its acquisition grid.
        lr_affine: its ``4 x 4`` affine (for its voxel sizes).
        grid: a chosen ``(N_y, N_x)``, or ``None``.
        voxel_size: a chosen in-plane voxel size in mm, or ``None`` (not with ``grid``).

    Raises:
        ValueError: one line naming ``grid`` or ``voxel size``: both given; a size that is
            not positive; a grid smaller than the map on an axis, the map's own grid
            (nothing to super-resolve), or larger than ``LIMITS["grid"]`` per axis.
    """
    n = _check_n(lr_shape[:2])
    high = LIMITS["grid"]
    if grid is not None and voxel_size is not None:
        raise ValueError("give a grid or a voxel size, not both")
    if grid is not None:
        values = [int(v) for v in grid]
        if len(values) != 2 or min(values) < 1:
            raise ValueError(f"grid {' '.join(map(str, values))}: give two sizes N_y N_x >= 1")
        chosen, what = (values[0], values[1]), f"grid {_size(values)}"
    else:
        d = in_plane_voxel_mm(lr_affine)
        if voxel_size is None:
            chosen, what = default_grid(n, d), f"default grid {_size(default_grid(n, d))}"
        else:
            chosen = grid_for_voxel_size(n, d, voxel_size)
            fov = f"{n[0] * d[0]:g}x{n[1] * d[1]:g} mm"
            what = f"voxel size {float(voxel_size):g} mm gives {_size(chosen)} over {fov}, which"
    if chosen[0] < n[0] or chosen[1] < n[1]:
        raise ValueError(
            f"{what} is smaller than the map's grid {_size(n)} on an axis; the output must "
            f"have at least the map's voxels per axis"
        )
    if chosen == n:
        raise ValueError(
            f"{what} is the map's own grid {_size(n)}: nothing to super-resolve; give a finer one"
        )
    if max(chosen) > high:
        raise ValueError(f"{what} exceeds {high} voxels per axis, the largest grid accepted")
    return chosen


@dataclass(frozen=True)
class GridChoice:
    """How the output grid of a map is chosen: the default rule, a grid, or a voxel size.

    Args:
        grid: the output grid ``(N_y, N_x)`` of every map, or ``None``.
        voxel_size: the output's in-plane voxel size in mm, or ``None``; not with ``grid``.
            Neither: :func:`default_grid`.

    Raises:
        ValueError: both given, a grid that is not two sizes >= 1, a voxel size that is not
            finite and > 0.
    """

    grid: tuple[int, int] | None = None
    voxel_size: float | None = None

    def __post_init__(self) -> None:
        if self.grid is not None and self.voxel_size is not None:
            raise ValueError("give a grid or a voxel size, not both")
        if self.grid is not None:
            values = [int(v) for v in self.grid]
            if len(values) != 2 or min(values) < 1:
                raise ValueError(f"give two sizes N_y N_x >= 1, got {list(self.grid)}")
            object.__setattr__(self, "grid", (values[0], values[1]))
        if self.voxel_size is not None:
            size = float(self.voxel_size)
            if not (math.isfinite(size) and size > 0):
                raise ValueError(f"give a voxel size in mm > 0, got {self.voxel_size!r}")
            object.__setattr__(self, "voxel_size", size)

    def of(self, lr_shape: Sequence[int], lr_affine: np.ndarray) -> tuple[int, int]:
        """The output grid of a map of ``lr_shape`` and ``lr_affine`` (:func:`output_grid`)."""
        return output_grid(lr_shape, lr_affine, self.grid, self.voxel_size)

    def record(self) -> dict[str, object]:
        """How the grid was chosen, for provenance: ``{"rule": "default" | "grid" |
        "voxel_size", ...}``."""
        if self.grid is not None:
            return {"rule": "grid", "grid": list(self.grid)}
        if self.voxel_size is not None:
            return {"rule": "voxel_size", "voxel_size_mm": self.voxel_size}
        return {"rule": "default", "min_side": MIN_OUTPUT_SIDE, "min_factor": MIN_FACTOR}


def output_geometry(
    lr_shape: Sequence[int],
    lr_affine: np.ndarray,
    grid: Sequence[int] | None = None,
    voxel_size: float | None = None,
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the super-resolved volume for an LR volume of ``lr_shape``.

    Args:
        lr_shape: ``(n_y, n_x, S)``.
        lr_affine: ``4 x 4`` affine of the LR volume.
        grid: the output's ``(N_y, N_x)``, ``n <= N`` per axis; ``None``: the grid of
            ``voxel_size``, or the default (:func:`output_grid`).
        voxel_size: in-plane voxel size in mm of the output (without ``grid``).

    Returns:
        ``((N_y, N_x, S), affine)`` with ``affine = lowres_affine(lr_affine, n, N)``: the
        same field of view, voxel ``n // 2`` of the input at voxel ``N // 2`` of the output.

    Raises:
        ValueError: as :func:`output_grid` when the grid is chosen here; a ``grid`` smaller
            than the map on an axis.
    """
    n = (int(lr_shape[0]), int(lr_shape[1]))
    if grid is None:
        N = output_grid(lr_shape, lr_affine, voxel_size=voxel_size)
    else:
        N = (int(grid[0]), int(grid[1]))
    if n[0] > N[0] or n[1] > N[1]:
        raise ValueError(f"the map's grid {n} is larger than the output grid {N}")
    return (*N, int(lr_shape[2])), kspace.lowres_affine(lr_affine, n, N)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the value that maximises the between-class variance of a histogram.

    Args:
        values: any array; non-finite values are ignored.
        bins: number of histogram bins.

    Returns:
        The threshold (the centre of the best bin); values above it form the bright class.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or finite.min() == finite.max():
        raise ValueError("otsu_threshold needs at least two distinct finite values")
    counts, edges = np.histogram(finite, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sum_low / weight_low
        mean_high = (sum_low[-1] - sum_low) / weight_high
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.nanargmax(between[:-1]))])


def brain_mask(*images: np.ndarray) -> np.ndarray:
    """A brain mask from images on one grid (T1 and FLAIR, either, or maps): Otsu and cleaning.

    Each image is scaled by its 99.5th percentile, they are summed, thresholded with
    :func:`otsu_threshold`, the largest 3-D connected component is kept, and holes are filled
    in 3-D and then slice by slice (dark lesions and ventricles inside the brain stay in).

    Args:
        *images: one or more ``(X, Y, Z)`` images, e.g. ``brain_mask(t1, flair)``.

    Returns:
        ``(X, Y, Z)`` bool mask.

    Raises:
        ValueError: no image, images of different shapes, or constant images (no brain).
    """
    if not images:
        raise ValueError("brain_mask needs at least one image")
    shapes = {np.shape(img) for img in images}
    if len(shapes) != 1:
        raise ValueError(f"the images must have one shape, got {sorted(shapes)}")
    everywhere = np.ones(images[0].shape, dtype=bool)
    first, *rest = (normalise_anatomy(np.asarray(img), everywhere) for img in images)
    combined = sum(rest, start=first)
    mask = combined > otsu_threshold(combined)
    labels, count = ndimage.label(mask)
    if count > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, count + 1))
        mask = labels == 1 + int(np.argmax(sizes))
    mask = ndimage.binary_fill_holes(mask)
    for s in range(mask.shape[2]):
        mask[:, :, s] = ndimage.binary_fill_holes(mask[:, :, s])
    return mask


def map_mask(maps: Sequence[np.ndarray], grid: Sequence[int]) -> np.ndarray:
    """A brain mask from low-resolution metabolite maps alone, when there is no image.

    Each map is zero-filled to ``grid`` (:func:`mrsisr.kspace.zero_fill`) and the magnitudes
    go through :func:`brain_mask`. The edge follows the maps' blurred brain boundary, so it is
    coarser than a mask from a T1 or FLAIR; give a mask when there is one.

    Args:
        maps: one or more ``(n_y, n_x, S)`` maps of one patient (same slices).
        grid: the output grid ``(N_y, N_x)``.

    Returns:
        ``(N_y, N_x, S)`` bool mask.
    """
    if not maps:
        raise ValueError("map_mask needs at least one map")
    grid = (int(grid[0]), int(grid[1]))
    filled = [
        np.abs(
            np.moveaxis(kspace.zero_fill(np.moveaxis(np.asarray(m, np.float64), 2, 0), grid), 0, 2)
        )
        for m in maps
    ]
    return brain_mask(*filled)


def describe_outside(
    trained: TrainedRange | None, n: Sequence[int], grid: Sequence[int]
) -> str | None:
    """What of ``n`` and the output ``grid`` lies outside ``trained`` (:meth:`Predictor.
    outside_trained`), or ``None`` when both are inside or nothing is recorded."""
    if trained is None:
        return None
    parts = []
    for axis, name in enumerate(("y", "x")):
        value = int(n[axis])
        if value < trained.n_min[axis]:
            parts.append(f"n {value} < {trained.n_min[axis]} on {name}")
        elif value > trained.n_max[axis]:
            parts.append(f"n {value} > {trained.n_max[axis]} on {name}")
    size = (int(grid[0]), int(grid[1]))
    low, high = trained.grid_range
    if not all(lo <= value <= hi for lo, value, hi in zip(low, size, high)):
        parts.append(f"N {_size(size)}, trained {trained.grid_label()}")
    return "; ".join(parts) or None


class Precision(StrEnum):
    """Arithmetic of the generator's forward passes at inference."""

    fp32 = "fp32"
    """float32 everywhere."""
    bf16 = "bf16"
    """bfloat16 autocast (matrix products and convolutions in bfloat16, accumulation and
    data consistency in float32); the final data consistency is float64 either way."""
    auto = "auto"
    """bf16 where the CPU computes it natively (AVX-512 BF16 or AMX), else fp32."""


BF16_PSNR_TOLERANCE_DB = 0.05
"""``auto`` may choose bf16 only if it stays this close to float32 in PSNR on the test set.
Measured (docs/benchmarks.md, ``mrsisr calibrate``): a mean difference of -0.011 dB over the
1,092 held-out maps of fold 0, so ``auto`` chooses bf16 where the hardware has it."""


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX, from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: Precision | str, device: torch.device) -> Precision:
    """``fp32`` or ``bf16`` for ``precision`` on ``device``; ``auto`` picks bf16 where it is native.

    On CUDA, ``auto`` is bf16 when ``torch.cuda.is_bf16_supported()``; on CPU when
    :func:`cpu_has_native_bf16`. Elsewhere bf16 still runs (emulated, slower) if asked for.

    Raises:
        ValueError: for an unknown precision, listing the valid ones.
    """
    parsed = parse_enum(Precision, precision, "precision")
    if parsed is not Precision.auto:
        return parsed
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = cpu_has_native_bf16()
    chosen = Precision.bf16 if native else Precision.fp32
    log.info("precision auto: %s on %s", chosen.value, device)
    return chosen


@dataclass
class Predictor:
    """A generator ready to super-resolve volumes: model, its grid, device, batch size.

    The output grid is that of the :class:`Anatomy` given to :meth:`super_resolve` (made on
    :func:`output_geometry`); the network runs on it, whatever grid it was trained on.

    Args:
        model: a generator with the call ``model(lr, t1, flair, mask, n, met, lam)`` of
            docs/ARCHITECTURE.md, returning ``(B, 1, N_y, N_x)`` on any grid it is given
            (:class:`~mrsisr.nn.unet.MultiEncoderUNet` is fully convolutional).
        grid: the grid ``(N_y, N_x)`` it was trained on (its configuration's).
        device: where to run it.
        batch_size: slices per forward pass.
        precision: arithmetic of the forward passes (:class:`Precision`; ``auto`` is resolved
            by :func:`resolve_precision` before it gets here).
        source: the model file it was loaded from (recorded in provenance sidecars), if any.
        trained_n: the acquisition sizes the model was trained on (its metadata's
            ``n_choices``; empty when unknown).
        trained: the ranges of ``n`` and the grid ``N`` it was trained on (its header's
            ``trained``, else from ``trained_n`` on ``grid``; ``None`` when unknown).
    """

    model: nn.Module
    grid: tuple[int, int]
    device: torch.device = torch.device("cpu")  # noqa: RUF009 (immutable)
    batch_size: int = 64
    precision: Precision = Precision.fp32
    source: Path | None = None
    trained_n: tuple[int, ...] = ()
    trained: TrainedRange | None = None

    def outside_trained(self, n: Sequence[int], grid: Sequence[int]) -> str | None:
        """What of an acquisition size ``n`` and output grid ``N`` lies outside the model's
        trained ranges (e.g. ``"n 42 > 32 on x; N 64x84, trained 64x64"``), or ``None``.

        Without recorded ranges (:attr:`trained` ``None``) nothing is reported.
        """
        return describe_outside(self.trained, n, grid)

    @property
    def accepts_missing_images(self) -> bool:
        """Whether the model works without T1 and/or FLAIR (trained with presence flags)."""
        return bool(getattr(self.model, "accepts_missing_images", False))

    def check_images(self, present: Sequence[bool]) -> None:
        """Refuse an absent T1 or FLAIR for a model that needs both.

        Args:
            present: whether there is a T1 and whether there is a FLAIR.

        Raises:
            UserError: naming the model and what it needs.
        """
        if all(present) or self.accepts_missing_images:
            return
        raise UserError(
            f"{self.source or 'the model'}: this model needs both {argument('t1')} and "
            f"{argument('flair')} (it was trained without presence flags); got "
            f"{images_label(present)}. Give both images, "
            "or use a model trained with model.presence = true"
        )

    def __post_init__(self) -> None:
        self.precision = resolve_precision(self.precision, self.device)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        device: str = "auto",
        batch_size: int = 64,
        precision: Precision | str = Precision.fp32,
    ) -> Predictor:
        """Load a model file (:func:`mrsisr.checkpoint.load_model`) onto ``device``.

        ``precision`` may be ``auto`` (:func:`resolve_precision`).

        Raises:
            UserError: the file is missing, not an mrsisr model or corrupted.
        """
        dev = resolve_device(device)
        model, info = load_model(path, map_location=dev)
        try:
            grid = model_grid(info.config)
        except ValueError as err:
            raise UserError(f"{path}: {err}") from None
        log.info("model %s (%s), output grid %dx%d, on %s", path, info.variant, *grid, dev)
        choices = info.metadata.get("n_choices")
        trained = choices if isinstance(choices, list) else []
        sizes = tuple(int(v) for v in trained if isinstance(v, int))
        ranges = info.trained
        if ranges is None and sizes:
            ranges = TrainedRange.from_n_choices(sizes, grid)
        return cls(
            model=model.eval(),
            grid=grid,
            device=dev,
            batch_size=batch_size,
            precision=parse_enum(Precision, precision, "precision"),  # auto: __post_init__
            source=Path(path),
            trained_n=sizes,
            trained=ranges,
        )

    def prepare_anatomy(
        self,
        t1: Volume | None,
        flair: Volume | None,
        shape: Sequence[int],
        affine: np.ndarray,
        mask: Volume | None = None,
        mask_source: str = "",
        maps: Sequence[np.ndarray] = (),
        restrict: np.ndarray | None = None,
    ) -> Anatomy:
        """Resample T1, FLAIR (and the mask) onto the output grid and normalise them.

        Args:
            t1: T1-weighted volume at any grid, or ``None`` (no T1).
            flair: FLAIR volume at any grid, or ``None`` (no FLAIR).
            shape: output grid ``(N_y, N_x, S)``.
            affine: output affine (:func:`output_geometry`).
            mask: optional mask at any grid (nonzero = inside); an output voxel is inside
                when more than half of it is; if ``None`` it is derived with
                :func:`brain_mask` from the images there are, or with :func:`map_mask`
                from ``maps`` when there is neither.
            mask_source: a name for the given mask, used in the log.
            maps: the patient's ``(n_y, n_x, S)`` LR maps, needed only without images and mask.
            restrict: bool ``(N_y, N_x, S)``, voxels the mask may hold (e.g. where the maps
                were measured and passed quality control); the mask is ANDed with it before
                T1 and FLAIR are normalised inside it.

        Raises:
            UserError: an image is absent and the model needs both (:meth:`check_images`).
            ValueError: no image, no mask and no map; or constant images (no brain found).
        """
        from mrsisr.data.resample import resample_to_grid

        self.check_images((t1 is not None, flair is not None))
        shape = tuple(int(s) for s in shape)
        images = {
            name: resample_to_grid(vol.data, vol.affine, shape, affine, order=1)
            for name, vol in (("T1", t1), ("FLAIR", flair))
            if vol is not None
        }
        if mask is None and images:
            hr_mask = brain_mask(*images.values())
            mask_source = (
                f"derived from {' and '.join(images)} (Otsu, largest component, holes filled)"
            )
        elif mask is None:
            if not maps:
                raise ValueError("without T1, FLAIR or a mask, the mask needs the maps")
            hr_mask = map_mask(maps, shape[:2])
            mask_source = "derived from the maps (no image: Otsu on the zero-filled maps)"
        else:
            data = (np.asarray(mask.data) != 0).astype(np.float32)
            # Linear interpolation of the (anti-aliased) 0/1 mask, then > 0.5: a voxel is in
            # when most of it is.
            hr_mask = resample_to_grid(data, mask.affine, shape, affine, order=1) > 0.5
            mask_source = mask_source or "given"
        if restrict is not None:
            restrict = np.asarray(restrict, dtype=bool)
            if restrict.shape != shape:
                raise ValueError(f"restrict has shape {restrict.shape}, expected {shape}")
            hr_mask = hr_mask & restrict
        log.info("brain mask %s: %d voxels", mask_source, int(hr_mask.sum()))
        normalised = {k: normalise_anatomy(v, hr_mask) for k, v in images.items()}
        return Anatomy(
            t1=normalised.get("T1"),
            flair=normalised.get("FLAIR"),
            mask=hr_mask,
            mask_source=mask_source,
        )

    def super_resolve(
        self,
        lr: np.ndarray,
        metabolite: Metabolite | str,
        anatomy: Anatomy,
        sharpness: Sequence[float] = DEFAULT_SHARPNESS,
        detail_weights: Sequence[float] | None = None,
    ) -> np.ndarray:
        """Super-resolve one LR volume at one or more sharpness weights λ.

        Args:
            lr: ``(n_y, n_x, S)`` measured map at its acquisition grid, in its units.
            metabolite: which metabolite the map is.
            anatomy: inputs on the output grid (:meth:`prepare_anatomy`), ``(N_y, N_x, S)``,
                any grid with ``n <= N`` per axis; an absent image is given to the model as
                zeros, flagged absent.
            sharpness: the λ values, each ``>= 0``.
            detail_weights: weights of the network's detail per ring of the unacquired band
                (:func:`mrsisr.bands.blend`, e.g. from :func:`mrsisr.selfcheck.self_check`);
                ``None``: the raw network output.

        Returns:
            ``(L, N_y, N_x, S)`` float32 in the input's units, one volume per λ, each
            data-consistent with ``lr``: ``degrade(out[l][:, :, s], n) == lr[:, :, s]``.
        """
        lr = np.asarray(lr, dtype=np.float64)
        lams = [float(v) for v in sharpness]
        self.check_volume(lr, anatomy, lams)
        measured = np.moveaxis(lr, 2, 0)  # (S, n_y, n_x)
        prepared = self.network_inputs(measured, anatomy)
        consistent = self.infer(prepared, measured, index_of(metabolite), lams, anatomy.present)
        if detail_weights is not None:
            zero_filled = kspace.zero_fill(measured, anatomy.grid)
            consistent = blend(zero_filled, consistent, measured.shape[-2:], detail_weights)
        return np.moveaxis(consistent, 1, 3).astype(np.float32)

    def check_volume(self, lr: np.ndarray, anatomy: Anatomy, sharpness: Sequence[float]) -> None:
        """Check an LR volume ``(n_y, n_x, S)``, its anatomy and the λ values.

        Raises:
            ValueError: a bad shape or λ; UserError: an absent image the model needs.
        """
        lams = [float(v) for v in sharpness]
        if lr.ndim != 3:
            raise ValueError(f"lr must be a volume (n_y, n_x, S), got shape {lr.shape}")
        if not lams or min(lams) < 0:
            raise ValueError(f"sharpness must be one or more values >= 0, got {lams}")
        shape, _ = output_geometry(lr.shape, np.eye(4), anatomy.grid)  # checks n <= N
        if max(shape[:2]) > LIMITS["grid"]:
            raise ValueError(f"the output grid {shape[:2]} exceeds {LIMITS['grid']} per axis")
        if anatomy.mask.shape != shape:
            raise ValueError(f"anatomy is on grid {anatomy.mask.shape}, expected {shape}")
        self.check_images(anatomy.present)

    def network_inputs(self, measured: np.ndarray, anatomy: Anatomy) -> NetworkInputs:
        """The normalised network inputs of measured slices, and the scale of each slice.

        Args:
            measured: ``(S, n_y, n_x)`` measured slices at their acquisition grid.
            anatomy: inputs on the output grid, ``(N_y, N_x, S)``.

        Returns:
            :func:`mrsisr.data.inputs.network_inputs` of the zero-filled slices (the builder
            the training Dataset uses): ``inputs`` ``(S, 4, N_y, N_x)`` float32 and ``scale``
            ``(S,)``. The mask is the anatomy's where the slice was measured (non-zero,
            :func:`mrsisr.acquisition.measured_on_grid`).
        """
        zero_filled = kspace.zero_fill(measured, anatomy.grid)  # (S, N_y, N_x)
        mask = np.moveaxis(anatomy.mask, 2, 0) & measured_on_grid(measured, anatomy.grid)
        t1, flair = (
            None if img is None else np.moveaxis(img, 2, 0) for img in (anatomy.t1, anatomy.flair)
        )
        return network_inputs(zero_filled, t1, flair, mask)

    def infer(
        self,
        prepared: NetworkInputs,
        measured: np.ndarray,
        met: int | np.ndarray,
        lams: Sequence[float],
        present: Sequence[bool] = (True, True),
        cond_n: Sequence[int] | None = None,
        symmetry: Symmetry | None = None,
    ) -> np.ndarray:
        """Super-resolve prepared slices: the generator, its scale, then data consistency.

        The one way a generator runs on slices outside training: ``predict``, the demo, the
        uncertainty estimates, the self-check, adaptation's check and the evaluation. The
        network's normalised estimate (:meth:`estimate`) is multiplied by each slice's scale
        and made data-consistent with the measured slice in float64
        (:func:`mrsisr.kspace.data_consistency`), so ``degrade(out, n) == measured``.

        Args:
            prepared: ``(B, 4, N_y, N_x)`` inputs and ``(B,)`` scales
                (:meth:`network_inputs`, :func:`mrsisr.data.inputs.network_inputs`).
            measured: ``(B, n_y, n_x)`` float64 measured slices, in their units; their size
                is the ``n`` of every row.
            met: metabolite index, one for every row or ``(B,)``.
            lams: the λ values.
            present: whether the inputs hold a T1 and a FLAIR (:meth:`estimate`).
            cond_n: the ``(n_y, n_x)`` the conditioning sees instead of the measured size
                (Fig. 2a of the paper); data consistency keeps the measured ``n``.
            symmetry: run the network on ``symmetry.apply`` of the inputs and transform its
                estimate back (test-time augmentation, :func:`mrsisr.uncertainty.tta`).

        Returns:
            ``(L, B, N_y, N_x)`` float64 in the measured slices' units.
        """
        inputs, scale = prepared
        rows, n = len(measured), measured.shape[-2:]
        if symmetry is not None:
            inputs, n = symmetry.apply(inputs), symmetry.size(n)
            cond_n = None if cond_n is None else symmetry.size(cond_n)
        sizes = np.broadcast_to(np.array(n), (rows, 2))
        seen = None if cond_n is None else np.broadcast_to(np.array(cond_n), (rows, 2))
        estimate = self.estimate(inputs, sizes, met, lams, present, seen)
        if symmetry is not None:
            estimate = symmetry.invert(estimate)
        return kspace.data_consistency(estimate * scale[None, :, None, None], measured)

    def estimate(
        self,
        inputs: np.ndarray,
        n: np.ndarray,
        met: int | np.ndarray,
        lams: Sequence[float],
        present: Sequence[bool] = (True, True),
        cond_n: np.ndarray | None = None,
    ) -> np.ndarray:
        """Run the generator on every (λ, row) pair in batches of :attr:`batch_size`.

        Args:
            inputs: ``(B, 4, N_y, N_x)`` float32 from :meth:`network_inputs` (or a transform
                of them); the grid may be ``(N_x, N_y)`` after a transposition.
            n: ``(B, 2)`` acquisition size ``(n_y, n_x)`` of each row.
            met: metabolite index (:func:`mrsisr.metabolites.index_of`), one for every row
                or ``(B,)``.
            lams: the λ values.
            present: whether ``inputs`` hold a T1 and a FLAIR (:attr:`Anatomy.present`); the
                flags reach the model only when an image is absent, so a model without
                presence flags keeps its seven-argument call.
            cond_n: ``(B, 2)`` sizes the conditioning sees instead of ``n`` (the model's
                ``cond_n``), or ``None``.

        Returns:
            ``(L, B, N_y, N_x)`` float64 normalised estimates (masked, data-consistent with
            the row's input), in :attr:`precision`.
        """
        rows = inputs.shape[0]
        pairs = [(li, r) for li in range(len(lams)) for r in range(rows)]
        out = np.empty((len(lams), rows, *inputs.shape[-2:]), dtype=np.float64)
        source = torch.from_numpy(np.ascontiguousarray(inputs))
        sizes = torch.tensor(np.asarray(n), dtype=torch.int64)
        mets = torch.tensor(np.broadcast_to(met, (rows,)), dtype=torch.int64)
        seen = None if cond_n is None else torch.tensor(np.asarray(cond_n), dtype=torch.int64)
        bf16 = self.precision is Precision.bf16
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16),
        ):
            for start in range(0, len(pairs), self.batch_size):
                chunk = pairs[start : start + self.batch_size]
                index = torch.tensor([r for _, r in chunk])
                batch = source[index].to(self.device)
                cond_lam = torch.tensor(
                    [lams[li] for li, _ in chunk], dtype=torch.float32, device=self.device
                )
                options = {} if seen is None else {"cond_n": seen[index].to(self.device)}
                pred = self.model(
                    batch[:, 0:1],
                    batch[:, 1:2],
                    batch[:, 2:3],
                    batch[:, 3:4],
                    sizes[index].to(self.device),
                    mets[index].to(self.device),
                    cond_lam,
                    *presence_flags(present, len(chunk), self.device),
                    **options,
                )
                values = pred[:, 0].double().cpu().numpy()
                for (li, r), value in zip(chunk, values):
                    out[li, r] = value
        return out


def presence_flags(
    present: Sequence[bool], rows: int, device: torch.device
) -> tuple[torch.Tensor, ...]:
    """The generator's ``present`` argument for ``rows`` samples with the same images: ``()``
    when both are there (a model without presence flags keeps its seven-argument call), else
    ``((rows, 2) bool,)``."""
    if all(present):
        return ()
    return (torch.tensor([[bool(v) for v in present]] * rows, device=device),)
