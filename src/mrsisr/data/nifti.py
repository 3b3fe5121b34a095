"""Reading and writing single NIfTI-1 volumes with nibabel.

A NIfTI file is untrusted input: nibabel reads its header first and its data only on demand,
so the shape the header declares is checked (:data:`MAX_SIDE`, :data:`MAX_VOXELS`) before a
single voxel is read.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.errors import UserError

__all__ = ["MAX_SIDE", "MAX_VOXELS", "load_volume", "read_shape", "save_volume"]

MAX_SIDE = 2048
"""Largest accepted size of any axis (a 0.1 mm whole-head image has about 2000)."""
MAX_VOXELS = 2**28
"""Largest accepted number of voxels (1 GiB as float32; a 7 T 0.5 mm T1 has 6e7)."""

_GZIP_LEVEL = 1  # nibabel's default: fast, and maps compress well anyway


def _checked(path: str | Path, img: nib.spatialimages.SpatialImage) -> tuple[int, ...]:
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
    return _checked(path, nib.load(str(path)))


def load_volume(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load a NIfTI volume as float32 with its voxel-to-world affine.

    Trailing singleton axes beyond the third are dropped (``(X, Y, Z, 1)`` becomes
    ``(X, Y, Z)``); the shape is otherwise returned as stored.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.

    Returns:
        ``(data, affine)``: the voxel values (float32, any scaling applied) and the 4x4
        float64 affine (sform if set, else qform).

    Raises:
        UserError: the header declares a larger image than :func:`read_shape` accepts;
        OSError or nibabel's ImageFileError if the file cannot be read.
    """
    img = nib.load(str(path))
    _checked(path, img)
    data = np.asarray(img.dataobj, dtype=np.float32)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    return data, np.asarray(img.affine, dtype=np.float64)


def save_volume(
    path: str | Path, data: np.ndarray, affine: np.ndarray, dtype: type = np.float32
) -> Path:
    """Write a volume as NIfTI-1 with the affine in both the sform and the qform.

    ``.nii.gz`` files are written reproducibly (no time stamp in the gzip header).

    Args:
        path: destination, ``.nii.gz`` for compressed output.
        data: volume ``(X, Y, Z)``.
        affine: its 4x4 voxel-to-world affine.
        dtype: on-disk data type (float32 for maps and images, uint8 for masks).
    """
    path = Path(path)
    img = nib.Nifti1Image(np.asarray(data).astype(dtype), np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        # gzip without a time stamp, so that the same volume always gives the same bytes.
        path.write_bytes(gzip.compress(img.to_bytes(), compresslevel=_GZIP_LEVEL, mtime=0))
    else:
        nib.save(img, str(path))
    return path
