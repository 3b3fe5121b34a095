"""The package's one NIfTI reader and writer: dtypes, headers, reproducible bytes, checks."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.data.nifti import load_volume, read_volume, save_volume, split_suffix
from mrsisr.errors import UserError


def _affine() -> np.ndarray:
    affine = np.diag([3.0, 2.5, 4.0, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 2.0]
    return affine


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii"])
def test_save_then_load_round_trips_with_the_affine_in_sform_and_qform(
    tmp_path: Path, name: str
) -> None:
    data = np.random.default_rng(0).normal(size=(5, 4, 3))
    path = save_volume(tmp_path / "sub" / name, data, _affine(), description="a map")
    img = nib.load(str(path))
    assert img.get_data_dtype() == np.float32
    np.testing.assert_array_equal(img.get_sform(), _affine())
    np.testing.assert_allclose(img.get_qform(), _affine(), atol=1e-6)
    assert img.header["descrip"].item() == b"a map"
    loaded, affine = load_volume(path)
    np.testing.assert_array_equal(loaded, data.astype(np.float32))
    np.testing.assert_array_equal(affine, _affine())


def test_masks_are_uint8_stacks_are_4d_and_gzip_bytes_are_reproducible(tmp_path: Path) -> None:
    mask = save_volume(tmp_path / "m.nii.gz", np.ones((3, 3, 2), bool), _affine(), np.uint8)
    assert nib.load(str(mask)).get_data_dtype() == np.uint8
    stack = np.zeros((3, 3, 2, 4), np.float32)
    first = save_volume(tmp_path / "a.nii.gz", stack, _affine()).read_bytes()
    assert nib.load(str(tmp_path / "a.nii.gz")).shape == (3, 3, 2, 4)
    assert save_volume(tmp_path / "b.nii.gz", stack, _affine()).read_bytes() == first
    assert first[4:8] == b"\0\0\0\0"  # no time stamp in the gzip header


def test_read_volume_names_the_file_and_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"absent\.nii\.gz: file not found; expected a T1"):
        read_volume(tmp_path / "absent.nii.gz", "a T1")
    (tmp_path / "text.nii").write_text("not an image")
    with pytest.raises(UserError, match="not a readable NIfTI"):
        read_volume(tmp_path / "text.nii", "a map")
    flat = save_volume(tmp_path / "flat.nii", np.zeros((3, 3)), _affine())
    with pytest.raises(UserError, match="2-D image"):
        read_volume(flat, "a map")
    bad = np.zeros((3, 3, 2))
    bad[0, 0, 0] = np.inf
    with pytest.raises(UserError, match="1 NaN or infinite"):
        read_volume(save_volume(tmp_path / "inf.nii", bad, _affine()), "a map")


def test_split_suffix() -> None:
    assert split_suffix(Path("sr_Gln_lam0.03.nii.gz")) == ("sr_Gln_lam0.03", ".nii.gz")
    assert split_suffix(Path("a.nii")) == ("a", ".nii")
    assert split_suffix(Path(".nii.gz")) == (".nii.gz", "")
    assert split_suffix(Path("a.txt")) == ("a.txt", "")
