"""Issue 12, "Why" 1, 2, 4, 5 end to end: ``mrsisr predict`` on inputs shaped like real
pipeline outputs either does the right thing or refuses in one line."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from test_predict import predict

from mrsisr import kspace
from mrsisr.data.resample import upsampled_grid
from tiny_model import GRID

N_LR, SLICES, VOXEL_MM, FINE = 16, 3, 6.0, 6


def lr_affine(flipped: bool = False) -> np.ndarray:
    affine = np.diag([VOXEL_MM, VOXEL_MM, 8.0, 1.0])
    affine[:3, 3] = [-48.0 + 3.0, -48.0 + 3.0, 0.0]
    if flipped:  # the same voxels stored in reverse order along axis 0
        affine = affine @ np.array(
            [[-1, 0, 0, N_LR - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]
        )
    return affine


def tissues(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """White and grey matter at world points ``(3, ...)`` (mm): an elliptic brain with a
    cortex ring and a ventricle, edges 3 mm wide."""

    def inside(r):
        return 0.5 * (1 - np.tanh((r - 1) * 12))

    x, y = points[0], points[1]
    brain = inside(np.hypot(x / 36, y / 30))
    core = inside(np.hypot(x / 30, y / 24))
    ventricle = inside(np.hypot((x - 6) / 8, (y + 4) / 5))
    return core * (1 - ventricle), brain - core


def world(shape, affine) -> np.ndarray:
    index = np.indices(shape).reshape(3, -1)
    return (affine[:3, :3] @ index + affine[:3, 3:4]).reshape(3, *shape)


def save(path: Path, data: np.ndarray, affine: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
    return path


def make_case(folder: Path, *, flipped: bool = False, units: float = 1.0) -> dict[str, Path]:
    """A map acquired at 16 x 16 from tissue concentrations on a fine grid, and T1/FLAIR on
    a 1 mm grid covering the field of view exactly."""
    folder.mkdir(parents=True, exist_ok=True)
    affine = lr_affine(flipped)
    fine_shape, fine_affine = upsampled_grid((N_LR, N_LR, SLICES), affine, FINE)
    wm, gm = tissues(world(fine_shape, fine_affine))
    fine = np.moveaxis(8 * wm + 6 * gm, 2, 0)
    lr = np.moveaxis(kspace.degrade(fine, N_LR), 0, 2)
    lr = lr + 0.05 * np.random.default_rng(0).standard_normal(lr.shape)
    anatomy = np.diag([1.0, 1.0, 8.0, 1.0])
    anatomy[:3, 3] = [-47.5, -47.5, 0.0]
    awm, agm = tissues(world((96, 96, SLICES), anatomy))
    return {
        "map": save(folder / "lr_NAA.nii.gz", lr * units, affine),
        "t1": save(folder / "t1.nii.gz", 0.9 * awm + 0.5 * agm, anatomy),
        "flair": save(folder / "flair.nii.gz", 0.5 * awm + 0.8 * agm, anatomy),
    }


def run(model: Path, case: dict[str, Path], out: Path, *extra) -> int:
    args = ["--met", case["map"], "--metabolite", "NAA", "--t1", case["t1"]]
    return predict(model, *args, "--flair", case["flair"], "--out", out, *extra)


def moved(path: Path, shift_mm: tuple[float, float]) -> Path:
    img = nib.load(str(path))
    affine = img.affine.copy()
    affine[:2, 3] += shift_mm
    return save(path.with_name(f"moved_{path.name}"), np.asarray(img.dataobj), affine)


def load(path: Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj, dtype=np.float64)


def last_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert not any("Traceback" in line for line in err)
    return err[-1]


@pytest.mark.slow
def test_misregistration_is_reported_and_register_corrects_it(
    model_file,
    tmp_path,
    caplog,
) -> None:
    """ "Why" 1: T1 and FLAIR moved 4, -3 mm against the map. The outputs compared are the
    raw network's (``--calibration none``): the self-check may keep none of the detail."""
    case = make_case(tmp_path / "in")
    shifted = {
        **case,
        "t1": moved(case["t1"], (4.0, -3.0)),
        "flair": moved(case["flair"], (4.0, -3.0)),
    }
    raw = ("--calibration", "none")
    assert run(model_file, case, tmp_path / "aligned.nii.gz", *raw) == 0
    with caplog.at_level(logging.WARNING):
        assert run(model_file, shifted, tmp_path / "as_given.nii.gz", *raw) == 0
    assert "misregistered" in caplog.text and "--register" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert run(model_file, shifted, tmp_path / "registered.nii.gz", "--register", *raw) == 0
    assert "--register moves T1 and FLAIR by -4.0, 3.0 mm" in caplog.text
    aligned = load(tmp_path / "aligned.nii.gz")
    error_given = np.abs(load(tmp_path / "as_given.nii.gz") - aligned).mean()
    error_registered = np.abs(load(tmp_path / "registered.nii.gz") - aligned).mean()
    assert error_registered < 0.2 * error_given
    masks = [load(tmp_path / f"{name}_mask.nii.gz") > 0 for name in ("aligned", "registered")]
    assert np.count_nonzero(masks[0] != masks[1]) < 0.02 * masks[0].sum()


@pytest.mark.slow
@pytest.mark.parametrize("units", [1.0, 1e-3])  # millimolar and molar
def test_press_box_and_zero_slices_give_nothing_outside(
    model_file,
    tmp_path,
    units,
) -> None:
    """ "Why" 2: a map that is 0 outside a central box and in one slice."""
    case = make_case(tmp_path / "in", units=units)
    img = nib.load(str(case["map"]))
    lr = np.asarray(img.dataobj, dtype=np.float64)
    box = np.zeros(lr.shape, dtype=bool)
    box[4:12, 5:11] = True
    lr = np.where(box, lr, 0.0)
    lr[:, :, 1] = 0.0
    case["map"] = save(case["map"], lr, img.affine)
    out = tmp_path / "sr.nii.gz"
    assert run(model_file, case, out, "--grid", "32", "32") == 0  # twice the map per axis
    sr, mask = load(out), load(tmp_path / "sr_mask.nii.gz") > 0
    assert np.all(sr[:, :, 1] == 0) and not mask[:, :, 1].any()
    inside = np.zeros(mask.shape, dtype=bool)
    inside[8:23, 10:21] = True  # output voxel 2k is map voxel k
    assert mask.any() and not (mask & ~inside).any()
    back = kspace.degrade(np.moveaxis(sr, 2, 0), (N_LR, N_LR))
    np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=1e-5 * np.abs(lr).max())


@pytest.mark.slow
def test_molar_and_millimolar_maps_give_the_same_result(model_file, tmp_path) -> None:
    outs = []
    for units in (1.0, 1e-3):
        case = make_case(tmp_path / f"in{units}", units=units)
        lr = load(case["map"])
        lr[:, :, 2] = 0.0
        save(case["map"], lr, nib.load(str(case["map"])).affine)
        assert run(model_file, case, tmp_path / f"sr{units}.nii.gz") == 0
        outs.append(load(tmp_path / f"sr{units}.nii.gz") / units)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-3, atol=1e-4 * np.abs(outs[0]).max())


def test_an_all_zero_map_is_refused(model_file, tmp_path, capsys) -> None:
    case = make_case(tmp_path / "in")
    case["map"] = save(case["map"], np.zeros((N_LR, N_LR, SLICES)), lr_affine())
    assert run(model_file, case, tmp_path / "out" / "sr.nii.gz") == 2
    assert "every voxel is 0" in last_error(capsys)
    assert not (tmp_path / "out").exists()


def test_zero_filled_maps_are_refused_and_acquired_n_cuts_them_back(
    model_file,
    tmp_path,
    capsys,
) -> None:
    """ "Why" 4: a 12 x 12 acquisition zero-filled to 16 x 16 by the pipeline."""
    case = make_case(tmp_path / "in")
    acquired = kspace.degrade(np.moveaxis(load(case["map"]), 2, 0), 12)
    padded = np.moveaxis(kspace.zero_fill(acquired, N_LR), 0, 2)
    case["map"] = save(case["map"], padded, lr_affine())
    out = tmp_path / "sr.nii.gz"
    assert run(model_file, case, out) == 2
    message = last_error(capsys)
    assert str(case["map"]) in message and "--acquired-n 12 12" in message
    assert not out.exists()
    assert run(model_file, case, out, "--acquired-n", "12") == 0
    sr = nib.load(str(out))
    # 12 x 12 of 8 mm -> the default grid 64 x 64, over the same field of view
    assert sr.shape[:2] == (64, 64)
    np.testing.assert_allclose(sr.affine, kspace.lowres_affine(lr_affine(), (16, 16), (64, 64)))
    back = kspace.degrade(np.moveaxis(np.asarray(sr.dataobj, dtype=np.float64), 2, 0), 12)
    np.testing.assert_allclose(back, acquired, atol=1e-4 * np.abs(acquired).max())


def test_a_grid_equal_to_the_map_is_nothing_to_super_resolve(
    model_file,
    tmp_path,
    capsys,
) -> None:
    """A map on the model's own grid is super-resolved to the default grid (twice finer);
    asking for the map's own grid is refused in one line."""
    case = make_case(tmp_path / "in")
    full = np.random.default_rng(1).uniform(1, 2, (*GRID, SLICES))
    case["map"] = save(case["map"], full, kspace.lowres_affine(lr_affine(), (16, 16), GRID))
    assert run(model_file, case, tmp_path / "sr.nii.gz", "--grid", "32", "32") == 2
    message = last_error(capsys)
    assert "--grid 32 32: grid 32x32 is the map's own grid 32x32: nothing to super-resolve" in (
        message
    )
    assert not (tmp_path / "sr.nii.gz").exists()


def crop(path: Path, box: tuple[slice, slice]) -> Path:
    img = nib.load(str(path))
    affine = img.affine.copy()
    affine[:3, 3] = img.affine[:3, :3] @ [box[0].start, box[1].start, 0] + img.affine[:3, 3]
    data = np.asarray(img.dataobj)[box[0], box[1]]
    return save(path.with_name(f"cropped_{path.name}"), data, affine)


def test_anatomy_cropped_to_the_head_is_accepted_and_logged(
    model_file,
    tmp_path,
    caplog,
) -> None:
    """ "Why" 5: T1 and FLAIR cover the brain (with a margin) but not the field of view."""
    case = make_case(tmp_path / "in")
    head = (slice(6, 90), slice(12, 84))  # the brain spans 12..84 and 18..78 (1 mm voxels)
    case = {**case, "t1": crop(case["t1"], head), "flair": crop(case["flair"], head)}
    with caplog.at_level(logging.INFO):
        assert run(model_file, case, tmp_path / "sr.nii.gz") == 0
    assert "% of the output grid; the other" in caplog.text and "count as background" in caplog.text


def test_a_brain_mask_beyond_the_anatomy_is_refused(model_file, tmp_path, capsys) -> None:
    case = make_case(tmp_path / "in")
    half = (slice(0, 48), slice(0, 96))
    case = {**case, "t1": crop(case["t1"], half), "flair": crop(case["flair"], half)}
    mask = np.zeros((N_LR, N_LR, SLICES))
    mask[3:13, 3:13] = 1
    mask_file = save(tmp_path / "in" / "brain.nii.gz", mask, lr_affine())
    code = run(model_file, case, tmp_path / "out" / "sr.nii.gz", "--mask", mask_file)
    assert code == 2
    message = last_error(capsys)
    assert "does not cover" in message and str(mask_file) in message
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_flipped_map_and_an_image_exactly_covering_its_field_of_view(
    model_file,
    tmp_path,
) -> None:
    """ "Why" 5: storage order does not matter; T1/FLAIR tile the field of view exactly."""
    case = make_case(tmp_path / "in", flipped=True)
    assert run(model_file, case, tmp_path / "sr.nii.gz") == 0
