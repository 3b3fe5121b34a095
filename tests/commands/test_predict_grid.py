"""``mrsisr predict --grid / --voxel-size`` and the default output grid, end to end."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from test_predict import expect_user_error, one_map, patient, predict

from mrsisr import kspace
from tiny_model import save

__all__ = ["patient"]

N_MAP = (32, 42)  # a real 3T 3-D MRSI: 5 mm voxels, 160 x 210 mm
SLICES = 3


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> dict:
    """A 32 x 42 map of 5 mm voxels and T1/FLAIR of 2.5 mm over the same field of view."""
    folder = tmp_path_factory.mktemp("scan")
    rng = np.random.default_rng(0)
    affine = np.diag([5.0, 5.0, 8.0, 1.0])
    affine[:3, 3] = [-77.5, -102.5, 0.0]
    fine = kspace.lowres_affine(affine, N_MAP, (64, 84))
    yy, xx = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 84), indexing="ij")
    head = np.repeat(((yy / 0.8) ** 2 + (xx / 0.85) ** 2 <= 1)[:, :, None], SLICES, axis=2)
    t1 = head * (1.0 + 0.1 * rng.random(head.shape))
    hr = np.where(head, rng.uniform(1, 3, head.shape), 0.0)
    lr = np.moveaxis(kspace.degrade(np.moveaxis(hr, 2, 0), N_MAP), 0, 2)
    return {
        "affine": affine,
        "Gln": save(folder / "lr_Gln.nii.gz", lr, affine),
        "t1": save(folder / "t1.nii.gz", t1, fine),
        "flair": save(folder / "flair.nii.gz", 0.7 * t1, fine),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "grid"),
    [((), (64, 84)), (("--voxel-size", "3"), (53, 70)), (("--grid", "33", "45"), (33, 45))],
)
def test_the_output_grid_default_voxel_size_and_grid(model_file, scan, tmp_path, extra, grid):
    out = tmp_path / "sr_Gln.nii.gz"
    args = one_map(scan, out, "--calibration", "none", *extra)
    assert predict(model_file, *args) == 0
    img = nib.load(str(out))
    assert img.shape == (*grid, SLICES)
    np.testing.assert_allclose(
        img.affine, kspace.lowres_affine(scan["affine"], N_MAP, grid), atol=1e-4
    )
    # the same field of view: 160 x 210 mm
    np.testing.assert_allclose(np.linalg.norm(img.affine[:3, :2], axis=0) * grid, (160, 210))
    lr = np.moveaxis(nib.load(str(scan["Gln"])).get_fdata(), 2, 0)
    back = kspace.degrade(np.moveaxis(img.get_fdata(), 2, 0), N_MAP)
    np.testing.assert_allclose(back, lr, atol=2e-6 * np.abs(lr).max())  # exact DC, on the file
    assert nib.load(str(tmp_path / "sr_Gln_mask.nii.gz")).shape == (*grid, SLICES)
    sidecar = json.loads((tmp_path / "sr_Gln.json").read_text(encoding="utf-8"))
    assert sidecar["N"] == list(grid) and sidecar["n"] == list(N_MAP)
    rule = sidecar["output_grid"]["rule"]
    assert rule == ("default" if not extra else extra[0][2:].replace("-", "_"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--grid", "0", "64"), "--grid 0 64: give two sizes N_y N_x >= 1"),
        (("--voxel-size", "-1"), "--voxel-size -1: give a voxel size in mm > 0"),
        (("--voxel-size", "nan"), "--voxel-size nan: give a voxel size in mm > 0"),
        (("--grid", "10", "10"), "map grid 16x12 is larger than the output grid (--grid) 10x10"),
        (("--grid", "16", "12"), "--grid 16 12: grid 16x12 is the map's own grid 16x12: nothing"),
        (("--voxel-size", "20"), "--voxel-size 20: voxel size 20 mm gives 5x3 over 96x60 mm"),
        (("--grid", "300", "64"), "--grid 300 64: grid 300x64 exceeds 256 voxels per axis"),
    ],
)
def test_impossible_grids_are_refused_in_one_line(
    model_file, patient, tmp_path, capsys, extra, message
) -> None:
    args = one_map(patient, tmp_path / "out" / "sr.nii.gz", *extra)
    line = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out")
    assert message in line


def test_grid_and_voxel_size_exclude_each_other(model_file, patient, tmp_path, capsys) -> None:
    args = one_map(patient, tmp_path / "sr.nii.gz", "--grid", "64", "64", "--voxel-size", "2")
    with pytest.raises(SystemExit) as exit_:
        predict(model_file, *args)
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
