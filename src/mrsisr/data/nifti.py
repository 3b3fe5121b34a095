"""Reading and writing NIfTI-1 volumes with nibabel: one reader, one writer for the package.

A NIfTI file is untrusted input: nibabel reads its header first and its data only on demand,
so the shape the header declares is checked (:data:`MAX_SIDE`, :data:`MAX_VOXELS`) before a
single voxel is read.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, cast

import nibabel as nib
import numpy as np
from nibabel.spatialimages import SpatialImage

from mrsisr.errors import UserError

__all__ = [
    "MAX_SIDE",
    "MAX_VOXELS",
    "NIFTI_SUFFIXES",
    "ShapeCheck",
    "Volume",
    "in_plane_voxel_mm",
    "load_volume",
    "read_header",
    "read_shape",
    "read_volume",
    "save_volume",
    "split_suffix",
]

MAX_SIDE = 2048
"""Largest accepted size of any axis (a 0.1 mm whole-head image has about 2000)."""
MAX_VOXELS = 2**28
"""Largest accepted number of voxels (1 GiB as float32; a 7 T 0.5 mm T1 has 6e7)."""
NIFTI_SUFFIXES = (".nii.gz", ".nii")
"""The file endings of NIfTI-1 volumes, compressed first."""

_GZIP_LEVEL = 1  # nibabel's default: fast, and maps compress well anyway


class Volume(NamedTuple):
    """A 3-D image and its voxel-to-world affine."""

    data: np.ndarray
    """``(X, Y, Z)`` values."""
    affine: np.ndarray
    """``4 x 4`` voxel-to-world (RAS+, as in NIfTI)."""


def split_suffix(path: Path) -> tuple[str, str]:
    """``("sr_Gln", ".nii.gz")`` for ``sr_Gln.nii.gz``; the suffix is "" if not NIfTI."""
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)], suffix
    return path.name, ""


def _load(path: str | Path) -> SpatialImage:
    """nibabel's image of ``path`` (header read, voxels on demand)."""
    return cast(SpatialImage, nib.load(str(path)))


def _checked(path: str | Path, img: SpatialImage) -> tuple[int, ...]:
    shape = tuple(int(s) for s in img.shape)
    if any(s > MAX_SIDE for s in shape) or math.prod(shape) > MAX_VOXELS:
        raise UserError(
            f"{path}: its header declares a {'x'.join(map(str, shape))} image; at most "
            f"{MAX_SIDE} voxels per axis and {MAX_VOXELS} in all are read"
        )
    return shape


def read_shape(path: str | Path) -> tuple[int, ...]:
    """The shape a NIfTI file's header declares, checked, without reading the voxels.

    Raises:
        UserError: more than :data:`MAX_SIDE` voxels on an axis or :data:`MAX_VOXELS` in all;
        OSError or nibabel's ImageFileError if the file cannot be read.
    """
    return read_header(path)[0]


def read_header(path: str | Path) -> tuple[tuple[int, ...], np.ndarray]:
    """The shape (checked as :func:`read_shape` checks it) and the 4x4 float64 voxel-to-world
    affine a NIfTI file's header declares, without reading the voxels.

    Raises:
        UserError: the header declares a larger image than :func:`read_shape` accepts;
        OSError or nibabel's ImageFileError if the file cannot be read.
    """
    img = _load(path)
    return _checked(path, img), np.asarray(img.affine, dtype=np.float64)


def in_plane_voxel_mm(affine: np.ndarray) -> tuple[float, float]:
    """The in-plane voxel sizes ``(d_y, d_x)`` in mm of an affine: its first two columns' lengths.

    Raises:
        ValueError: not a ``4 x 4`` affine, or a voxel size that is not finite and > 0.
    """
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got shape {affine.shape}")
    sizes = np.linalg.norm(affine[:3, :2], axis=0)
    if not (np.isfinite(sizes).all() and (sizes > 0).all()):
        raise ValueError(f"the affine's in-plane voxel sizes must be finite and > 0, got {sizes}")
    return float(sizes[0]), float(sizes[1])


ShapeCheck = Callable[[tuple[int, ...]], None]
"""A check of the shape a header declares, run before a voxel is read (raises to refuse)."""


def load_volume(
    path: str | Path, check_shape: ShapeCheck | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load a NIfTI volume as float32 with its voxel-to-world affine.

    Trailing singleton axes beyond the third are dropped (``(X, Y, Z, 1)`` becomes
    ``(X, Y, Z)``); the shape is otherwise returned as stored.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        check_shape: called with the shape the header declares (as :func:`read_shape`
            returns it) before a voxel is read; what it raises propagates.

    Returns:
        ``(data, affine)``: the voxel values (float32, any scaling applied) and the 4x4
        float64 affine (sform if set, else qform).

    Raises:
        UserError: the header declares a larger image than :func:`read_shape` accepts;
        OSError or nibabel's ImageFileError if the file cannot be read.
    """
    img = _load(path)
    shape = _checked(path, img)
    if check_shape is not None:
        check_shape(shape)
    data = np.asarray(img.dataobj, dtype=np.float32)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    return data, np.asarray(img.affine, dtype=np.float64)


def read_volume(path: Path, what: str, check_shape: ShapeCheck | None = None) -> Volume:
    """Load a 3-D NIfTI volume a user gave and check it, naming the file in every error.

    Args:
        path: the file.
        what: what it should be, for the message (e.g. ``"a low-resolution map"``).
        check_shape: as for :func:`load_volume`; its :class:`UserError` propagates.

    Returns:
        The volume, as :func:`load_volume` reads it.

    Raises:
        UserError: missing, not NIfTI, not 3-D, or holding NaN/inf values.
    """
    if not path.is_file():
        raise UserError(f"{path}: file not found; expected {what} (NIfTI)")
    try:
        data, affine = load_volume(path, check_shape)
    except UserError:  # an image larger than accepted, or refused by check_shape
        raise
    except Exception as err:  # nibabel raises several types for unreadable files
        raise UserError(
            f"{path}: not a readable NIfTI file ({type(err).__name__}); "
            f"expected {what} as .nii or .nii.gz"
        ) from None
    if data.ndim != 3:
        raise UserError(
            f"{path}: {data.ndim}-D image of shape {data.shape}; expected {what} as a 3-D volume"
        )
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise UserError(f"{path}: {bad} NaN or infinite values; every voxel must be finite")
    return Volume(data, affine)


def save_volume(
    path: str | Path,
    data: np.ndarray,
    affine: np.ndarray,
    dtype: type = np.float32,
    description: str = "",
) -> Path:
    """Write a volume as NIfTI-1 with the affine in both the sform and the qform (mm).

    One rule for every file the package writes: maps and images are float32, masks and
    labels uint8 (``dtype``); a name ending in ``.gz`` is compressed reproducibly (gzip level
    1, no time stamp, so the same volume always gives the same bytes).

    Args:
        path: destination, ``.nii.gz`` for compressed output; its folder is created.
        data: volume ``(X, Y, Z)``, or ``(X, Y, Z, L)`` for a stack of volumes.
        affine: its 4x4 voxel-to-world affine.
        dtype: on-disk data type (float32 for maps and images, uint8 for masks).
        description: the header's ``descrip`` field (cut to its 79 characters).

    Returns:
        ``path``.
    """
    path = Path(path)
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm")
    if description:
        img.header["descrip"] = description[:79].encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        # GzipFile with mtime=0 writes the bytes nibabel's own (deterministic) writer does.
        with (
            open(path, "wb") as raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0
            ) as fh,
        ):
            fh.write(img.to_bytes())
    else:
        nib.save(img, str(path))
    return path
