"""``check_cohort``: one test per kind of broken cohort; all problems at once; read-only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
from cohort_helpers import mrsi_affine

from mrsisr.data.check import check_cohort
from mrsisr.data.nifti import load_volume, save_volume


def messages(root: Path) -> list[str]:
    return [str(p) for p in check_cohort(root)]


def only_problem(root: Path, path: Path, fragment: str) -> None:
    problems = check_cohort(root)
    assert len(problems) == 1, problems
    assert problems[0].path == path and fragment in problems[0].message, problems


def test_a_valid_cohort_has_no_problems(synthetic_cohort: Path) -> None:
    assert check_cohort(synthetic_cohort) == []


def test_missing_file(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A01" / "met_NAA.nii.gz"
    path.unlink()
    only_problem(synthetic_cohort, path, "missing file")


def test_missing_patient_folder(synthetic_cohort: Path) -> None:
    manifest = json.loads((synthetic_cohort / "cohort.json").read_text())
    manifest["patients"].append("A03")
    (synthetic_cohort / "cohort.json").write_text(json.dumps(manifest))
    only_problem(synthetic_cohort, synthetic_cohort / "A03", "missing patient folder")


def test_shape_mismatch(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A02" / "met_tCho.nii.gz"
    save_volume(path, np.zeros((8, 7, 4)), mrsi_affine())
    only_problem(synthetic_cohort, path, "shape (8, 7, 4) differs from the MRSI grid (8, 7, 3)")


def test_affine_mismatch(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A02" / "mask.nii.gz"
    data, affine = load_volume(path)
    affine[0, 3] += 1.0
    save_volume(path, data, affine, dtype=np.uint8)
    only_problem(synthetic_cohort, path, "affine differs")


def test_non_finite_values(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A01" / "met_tCho.nii.gz"
    data, affine = load_volume(path)
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    save_volume(path, data, affine)
    only_problem(synthetic_cohort, path, "2 non-finite values")


def test_empty_mask(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A01" / "mask.nii.gz"
    save_volume(path, np.zeros((8, 7, 3)), mrsi_affine(), dtype=np.uint8)
    only_problem(synthetic_cohort, path, "empty mask")


def test_unknown_metabolite_file(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A01" / "met_Lac.nii.gz"
    save_volume(path, np.zeros((8, 7, 3)), mrsi_affine())
    only_problem(synthetic_cohort, path, "unknown metabolite 'Lac'")


def test_unknown_metabolite_in_manifest(synthetic_cohort: Path) -> None:
    manifest = json.loads((synthetic_cohort / "cohort.json").read_text())
    manifest["metabolites"].append("Lac")
    (synthetic_cohort / "cohort.json").write_text(json.dumps(manifest))
    only_problem(synthetic_cohort, synthetic_cohort / "cohort.json", "unknown metabolite 'Lac'")


def test_bad_manifest(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "cohort.json"
    path.write_text('{"patients": ["A01", "A02"], "metabolites": ["tCho", "NAA"],')
    only_problem(synthetic_cohort, path, "not valid JSON")


def test_anatomy_that_does_not_cover_the_mrsi_grid(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A01" / "t1.nii.gz"
    affine = mrsi_affine()
    affine[2, 3] += 50.0
    save_volume(path, np.ones((8, 7, 3)), affine)
    only_problem(synthetic_cohort, path, "does not cover the MRSI grid")


def test_unreadable_file(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A02" / "flair.nii.gz"
    path.write_bytes(b"not a nifti file")
    only_problem(synthetic_cohort, path, "cannot be read as NIfTI")


def test_every_problem_is_reported_at_once_even_with_a_broken_manifest(
    synthetic_cohort: Path,
) -> None:
    (synthetic_cohort / "A01" / "t1.nii.gz").unlink()
    save_volume(synthetic_cohort / "A02" / "mask.nii.gz", np.zeros((8, 7, 3)), mrsi_affine())
    manifest = json.loads((synthetic_cohort / "cohort.json").read_text())
    del manifest["units"]
    (synthetic_cohort / "cohort.json").write_text(json.dumps(manifest))
    found = messages(synthetic_cohort)
    assert len(found) == 3, found
    assert any("cohort.json: missing key 'units'" in m for m in found)
    assert any("A01/t1.nii.gz: missing file" in m for m in found)
    assert any("A02/mask.nii.gz: empty mask" in m for m in found)


def test_check_never_modifies_the_cohort(synthetic_cohort: Path) -> None:
    path = synthetic_cohort / "A01" / "met_NAA.nii.gz"
    data, affine = load_volume(path)
    data[2, 2, 2] = np.nan
    nib.save(nib.Nifti1Image(data, affine), str(path))

    def snapshot() -> dict[str, tuple[str, int]]:
        return {
            str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(synthetic_cohort.rglob("*"))
            if p.is_file()
        }

    before = snapshot()
    assert check_cohort(synthetic_cohort)
    assert snapshot() == before


def test_a_missing_folder_is_one_problem(tmp_path: Path) -> None:
    assert [p.message for p in check_cohort(tmp_path / "nowhere")] == [
        "not a directory; give the folder of a cohort"
    ]
