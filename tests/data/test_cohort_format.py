"""The cohort format: write -> open -> load round trips, anatomy on other grids, manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cohort_helpers import METS, SHAPE, mrsi_affine, synthetic_patient, write_synthetic_cohort

from mrsisr.data.cohort import Cohort, Manifest, Patient, write_manifest, write_patient
from mrsisr.data.manifest import MANIFEST_FILE, parse_manifest, read_manifest
from mrsisr.data.resample import upsampled_grid
from mrsisr.errors import UserError
from mrsisr.metabolites import Metabolite

SLOPE = np.array([0.02, -0.03, 0.05])


def ramp(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """A linear function of world position, sampled at the voxel centres of a grid."""
    index = np.indices(shape, dtype=np.float64)
    points = np.einsum("ij,j...->...i", affine[:3, :3], index) + affine[:3, 3]
    return (points @ SLOPE + 3.0).astype(np.float32)


def anatomy_grid() -> tuple[tuple[int, int, int], np.ndarray]:
    """A 1 mm grid, rotated differently from the MRSI grid, that covers it with a margin."""
    a = np.deg2rad(-25.0)
    affine = np.eye(4)
    affine[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    affine[:3, 3] = [-40.0, -25.0, 5.0]
    return (80, 80, 30), affine


def test_write_open_load_round_trip(tmp_path: Path) -> None:
    root = write_synthetic_cohort(tmp_path / "c")
    cohort = Cohort.open(root)
    assert cohort.manifest.patients == ("A01", "A02")
    assert cohort.manifest.metabolites == METS
    for i, pid in enumerate(cohort.patients):
        original, loaded = synthetic_patient(pid, i), cohort.load(pid)
        assert loaded.id == pid and loaded.shape == SHAPE
        for met in METS:
            assert loaded.maps[met].dtype == np.float32
            np.testing.assert_array_equal(loaded.maps[met], original.maps[met])
        np.testing.assert_array_equal(loaded.mask, original.mask)
        assert loaded.mask.dtype == bool
        np.testing.assert_array_equal(loaded.t1, original.t1)
        np.testing.assert_array_equal(loaded.flair, original.flair)
        np.testing.assert_allclose(loaded.affine, mrsi_affine(), atol=1e-5)


def test_anatomy_on_its_own_grid_is_resampled_onto_the_mrsi_grid(tmp_path: Path) -> None:
    shape, affine = anatomy_grid()
    patient = synthetic_patient("B01", 3)
    patient.t1, patient.flair = ramp(shape, affine), 2 * ramp(shape, affine)
    write_patient(tmp_path, patient, anatomy_affine=affine)
    write_manifest(tmp_path, Manifest(("B01",), METS, "mM", None, "test"))
    loaded = Cohort.open(tmp_path).load("B01")
    expected = ramp(SHAPE, mrsi_affine())
    assert loaded.t1.shape == SHAPE
    np.testing.assert_allclose(loaded.t1, expected, atol=1e-4)
    np.testing.assert_allclose(loaded.flair, 2 * expected, atol=2e-4)


@pytest.mark.parametrize("factor", [2, 3])
def test_anatomy_upsample_gives_the_finer_grid(tmp_path: Path, factor: int) -> None:
    shape, affine = anatomy_grid()
    patient = synthetic_patient("B01", 3)
    patient.t1 = patient.flair = ramp(shape, affine)
    write_patient(tmp_path, patient, anatomy_affine=affine)
    write_manifest(tmp_path, Manifest(("B01",), METS, "mM", 3, "test", anatomy_upsample=factor))
    loaded = Cohort.open(tmp_path).load("B01")
    fine_shape, fine_affine = upsampled_grid(SHAPE, mrsi_affine(), factor)
    assert loaded.t1.shape == fine_shape and loaded.anatomy_upsample == factor
    np.testing.assert_allclose(loaded.anatomy_affine(), fine_affine)
    np.testing.assert_allclose(loaded.t1, ramp(fine_shape, fine_affine), atol=1e-4)
    assert Cohort.open(tmp_path).load("B01", anatomy_upsample=1).t1.shape == SHAPE


def test_write_patient_needs_the_affine_of_anatomy_on_another_grid(tmp_path: Path) -> None:
    patient = synthetic_patient("C01", 0)
    patient.t1 = patient.flair = np.zeros((5, 5, 5), np.float32)
    with pytest.raises(ValueError, match="anatomy_affine"):
        write_patient(tmp_path, patient)


def test_manifest_json_round_trip(tmp_path: Path) -> None:
    manifest = Manifest(
        ["P1", "P2"], ["Cho", "NAA"], "institutional units", 7, "scanner X", anatomy_upsample=2
    )
    assert manifest.metabolites == (Metabolite.tCho, Metabolite.NAA)  # aliases accepted
    assert manifest.field_strength_t == 7.0 and manifest.patients == ("P1", "P2")
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"patients": []}, "'patients' is empty"),
        ({"patients": ["a/b"]}, "invalid ids"),
        ({"patients": ["x", "x"]}, "twice"),
        ({"metabolites": ["Lac"]}, "unknown metabolite 'Lac'"),
        ({"units": ""}, "'units'"),
        ({"field_strength_t": -3}, "field_strength_t"),
        ({"anatomy_upsample": 0}, "anatomy_upsample"),
        ({"format_version": 99}, "not supported"),
        ({"colour": "blue"}, "unknown key 'colour'"),
    ],
)
def test_parse_manifest_names_each_problem(change: dict, message: str) -> None:
    data = Manifest(("P1",), METS, "mM", 7.0, "x").to_json() | change
    manifest, problems = parse_manifest(data)
    assert manifest is None
    assert any(message in p for p in problems), problems


def test_parse_manifest_collects_several_problems() -> None:
    _, problems = parse_manifest({"patients": [], "metabolites": ["Foo"], "units": "mM"})
    assert len(problems) >= 3  # missing provenance, empty patients, unknown metabolite


def test_open_refuses_a_broken_manifest_with_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="missing"):
        Cohort.open(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        Cohort.open(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"patients": ["a"]}))
    with pytest.raises(UserError, match="missing key 'metabolites'"):
        Cohort.open(tmp_path)


def test_load_refuses_unknown_patients_and_broken_files(synthetic_cohort: Path) -> None:
    cohort = Cohort.open(synthetic_cohort)
    with pytest.raises(UserError, match="no patient 'Z9'"):
        cohort.load("Z9")
    (synthetic_cohort / "A02" / "mask.nii.gz").unlink()
    with pytest.raises(UserError, match=r"A02/mask\.nii\.gz: missing file"):
        cohort.load("A02")
    assert isinstance(cohort.load("A01"), Patient)


def test_manifest_rejects_bad_values_in_python() -> None:
    with pytest.raises(ValueError, match="anatomy_upsample"):
        Manifest(("P1",), METS, "mM", None, "x", anatomy_upsample=1.5)
