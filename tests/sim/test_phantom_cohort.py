"""The in-silico cohort: valid format, determinism, and the intended tissue contrasts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrsisr.cli import main
from mrsisr.data.check import check_cohort
from mrsisr.data.cohort import Cohort, Patient
from mrsisr.data.nifti import load_volume
from mrsisr.errors import UserError
from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.sim.cohort import LABELS_FILE, make_phantom_cohort, patient_ids
from mrsisr.sim.mrsi import LABELS, PhantomGeometry

M = Metabolite
CSF, GM, WM, OEDEMA, ENHANCING, NECROSIS = (
    LABELS.index(n) for n in ("csf", "gm", "wm", "oedema", "enhancing", "necrosis")
)


def patients_with_labels(root: Path) -> list[tuple[Patient, np.ndarray]]:
    cohort = Cohort.open(root)
    return [
        (cohort.load(pid), load_volume(root / pid / LABELS_FILE)[0].astype(int))
        for pid in cohort.patients
    ]


def region_mean(pairs, label: int, values=lambda p: p.maps[M.NAA], in_mask: bool = True):
    """Mean over all patients of a volume inside the voxels of one label (and the mask)."""
    chosen = [values(p)[(labels == label) & (p.mask if in_mask else True)] for p, labels in pairs]
    merged = np.concatenate(chosen)
    assert merged.size >= 5, f"too few voxels of label {LABELS[label]}"
    return float(merged.mean())


def test_the_phantom_is_a_valid_cohort(phantom_cohort: Path) -> None:
    assert check_cohort(phantom_cohort) == []
    cohort = Cohort.open(phantom_cohort)
    assert cohort.manifest.metabolites == METABOLITES
    assert cohort.manifest.units == "mM" and cohort.manifest.field_strength_t == 7.0
    assert (
        "in-silico phantom" in cohort.manifest.provenance and "seed 0" in cohort.manifest.provenance
    )
    patient = cohort.load("P01")
    assert patient.shape == (64, 64, 8) and patient.t1.shape == (64, 64, 8)
    np.testing.assert_allclose(np.diag(patient.affine)[:3], [3.4, 3.4, 3.4], atol=1e-5)
    assert load_volume(phantom_cohort / "P01" / "t1.nii.gz")[0].shape == (192, 192, 8)


def test_maps_are_zero_outside_the_mask_and_non_negative(phantom_cohort: Path) -> None:
    for patient, _ in patients_with_labels(phantom_cohort):
        assert 0.2 < patient.mask.mean() < 0.8
        for volume in patient.maps.values():
            assert np.all(volume[~patient.mask] == 0) and np.all(volume >= 0)


def test_tumour_metabolite_contrasts(phantom_cohort: Path) -> None:
    pairs = patients_with_labels(phantom_cohort)

    def mean(met: Metabolite, label: int) -> float:
        return region_mean(pairs, label, lambda p: p.maps[met])

    assert mean(M.tCho, ENHANCING) > 1.4 * mean(M.tCho, WM)
    # Glycine: ~3 mM in tumour against 1.1 (GM) and 0.3 mM (WM) in the literature.
    assert mean(M.Gly, ENHANCING) > 2.0 * mean(M.Gly, GM)
    assert mean(M.Gly, ENHANCING) > 4.0 * mean(M.Gly, WM)
    assert mean(M.NAA, ENHANCING) < 0.6 * mean(M.NAA, WM)
    assert mean(M.tCr, ENHANCING) < mean(M.tCr, WM)
    assert mean(M.Ins, ENHANCING) > mean(M.Ins, WM)


def test_healthy_tissue_contrasts(phantom_cohort: Path) -> None:
    pairs = patients_with_labels(phantom_cohort)

    def mean(met: Metabolite, label: int) -> float:
        return region_mean(pairs, label, lambda p: p.maps[met])

    assert mean(M.NAA, WM) > mean(M.NAA, GM)  # tNAA: WM > GM in the literature table
    assert mean(M.Glu, GM) > mean(M.Glu, WM)
    assert mean(M.Gly, GM) > mean(M.Gly, WM)
    for met in (M.NAA, M.tCr, M.Glu):  # CSF holds no metabolites: partial volume only
        assert mean(met, CSF) < 0.5 * mean(met, WM)


def test_anatomical_contrasts(phantom_cohort: Path) -> None:
    pairs = patients_with_labels(phantom_cohort)

    def image(name: str, label: int) -> float:
        return region_mean(pairs, label, lambda p: getattr(p, name), in_mask=False)

    assert image("t1", WM) > image("t1", GM) > image("t1", CSF)
    assert image("flair", OEDEMA) > 1.5 * image("flair", WM)
    assert image("flair", GM) > image("flair", WM) > image("flair", CSF)
    assert image("t1", OEDEMA) < image("t1", WM)


@pytest.mark.slow
def test_same_seed_gives_identical_files_and_patients_do_not_depend_on_cohort_size(
    tiny_phantom_cohort: Path, tmp_path: Path
) -> None:
    again = make_phantom_cohort(tmp_path / "again", patients=2, seed=0, grid=32, slices=4)
    for path in sorted((tiny_phantom_cohort / "P01").iterdir()):
        assert path.read_bytes() == (again / "P01" / path.name).read_bytes(), path.name


def test_a_cohort_from_patient_k_holds_the_same_patients_under_their_own_ids(
    tiny_phantom_cohort: Path, tmp_path: Path
) -> None:
    # Patient 2 of the seed-0 cohort, alone, and the first two patients together.
    later = make_phantom_cohort(tmp_path / "later", patients=1, seed=0, grid=32, slices=4, first=2)
    both = make_phantom_cohort(tmp_path / "both", patients=2, seed=0, grid=32, slices=4)
    assert Cohort.open(later).patients == ("P02",)
    for path in sorted((both / "P02").iterdir()):
        assert path.read_bytes() == (later / "P02" / path.name).read_bytes(), path.name
    first = Cohort.open(tiny_phantom_cohort).load("P01")
    assert not np.array_equal(first.t1, Cohort.open(later).load("P02").t1)


def test_patient_ids_from_k_are_wide_enough_for_the_last() -> None:
    assert patient_ids(2, "R", first=99) == ("R099", "R100")
    assert patient_ids(40, "R", first=101)[::39] == ("R101", "R140")


def test_the_command_refuses_a_first_patient_below_one(tmp_path: Path) -> None:
    out = tmp_path / "c"
    assert main(["phantom", "--out", str(out), "--first-patient", "0", "--grid", "32"]) == 2
    assert not out.exists()


def test_another_seed_gives_another_cohort(tiny_phantom_cohort: Path, tmp_path: Path) -> None:
    other = make_phantom_cohort(tmp_path / "other", patients=1, seed=1, grid=32, slices=4)
    first, second = Cohort.open(tiny_phantom_cohort).load("P01"), Cohort.open(other).load("P01")
    assert not np.array_equal(first.t1, second.t1)
    assert not np.array_equal(first.maps[M.NAA], second.maps[M.NAA])


def test_an_existing_folder_is_left_alone(tiny_phantom_cohort: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in tiny_phantom_cohort.rglob("*"))
    with pytest.raises(UserError, match=r"exists and is not empty; .*overwrite replaces a cohort"):
        make_phantom_cohort(tiny_phantom_cohort, patients=1, grid=32, slices=2)
    assert sorted(p.name for p in tiny_phantom_cohort.rglob("*")) == before
    assert not [p for p in tiny_phantom_cohort.parent.iterdir() if p.name.startswith(".")]


def test_overwrite_replaces_a_cohort(tmp_path: Path) -> None:
    root = make_phantom_cohort(tmp_path / "c", patients=1, grid=32, slices=2)
    make_phantom_cohort(root, patients=2, grid=32, slices=2, overwrite=True)
    assert Cohort.open(root).patients == ("P01", "P02")


def test_patient_ids_sort_in_order() -> None:
    assert patient_ids(3) == ("P01", "P02", "P03")
    ids = patient_ids(120)
    assert ids[0] == "P001" and list(ids) == sorted(ids)


@pytest.mark.parametrize("kwargs", [{"grid": 4}, {"slices": 0}, {"fine": 0}, {"grid": 32.0}])
def test_geometry_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PhantomGeometry(**kwargs)


def test_geometry_centres_the_grid() -> None:
    geometry = PhantomGeometry(grid=64, slices=36)
    centre = geometry.affine() @ np.array([32, 32, 18, 1.0])
    np.testing.assert_allclose(centre[:3], geometry.centre_mm)
