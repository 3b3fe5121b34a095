"""Reading and writing single NIfTI-1 volumes with nibabel."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = ["load_volume", "save_volume"]

_GZIP_LEVEL = 1  # nibabel's default: fast, and maps compress well anyway


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
        OSError or nibabel's ImageFileError if the file cannot be read.
    """
    img = nib.load(str(path))
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
