"""The randomised simulator: determinism, ranges, lesion kinds, the shifted preset, the format."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mrsisr.data.check import check_cohort
from mrsisr.data.manifest import read_manifest
from mrsisr.metabolites import METABOLITES
from mrsisr.sim.anatomy import load_atlas
from mrsisr.sim.cohort import PARAMS_FILE, Simulator, make_phantom_cohort
from mrsisr.sim.contrast import ImageContrast, Misregistration
from mrsisr.sim.lesions import LESION_PATTERNS, Lesion, Shell
from mrsisr.sim.mrsi import PhantomGeometry
from mrsisr.sim.presets import (
    PRESETS,
    SHIFTED,
    SHIFTED_FIELDS,
    TRAINING,
    LesionKind,
    Preset,
    Range,
    Tissue,
)
from mrsisr.sim.randomised import (
    LITERATURE_MM,
    RandomWarp,
    _healthy_mm,
    metabolite_truth,
    shown_lesions,
    simulate_randomised_patient,
)

SEEDS = range(8)
TINY = PhantomGeometry(grid=16, slices=3)


def _tiny_patient(seed: int, settings=TRAINING):
    return simulate_randomised_patient("R01", np.random.default_rng(seed), TINY, settings)


def test_same_seed_same_patient_other_seed_other_patient() -> None:
    (a, rec_a), (b, rec_b) = _tiny_patient(3), _tiny_patient(3)
    (c, rec_c) = _tiny_patient(4)
    for name in ("t1", "flair", "mask"):
        np.testing.assert_array_equal(getattr(a.patient, name), getattr(b.patient, name))
        assert not np.array_equal(getattr(a.patient, name), getattr(c.patient, name)) or (
            name == "mask"
        )
    for met in METABOLITES:
        np.testing.assert_array_equal(a.patient.maps[met], b.patient.maps[met])
        assert not np.array_equal(a.patient.maps[met], c.patient.maps[met])
    assert json.dumps(rec_a) == json.dumps(rec_b) != json.dumps(rec_c)


def test_warp_draws_vary_and_stay_in_range() -> None:
    a = TRAINING.anatomy
    warps = [RandomWarp.random(np.random.default_rng(s), TRAINING, np.zeros(3)) for s in SEEDS]
    scales = np.array([np.linalg.norm(w.linear, axis=0) for w in warps])  # columns: R diag(s)
    assert np.all((scales >= a.scale.low - 1e-9) & (scales <= a.scale.high + 1e-9))
    for values, bounds in (
        ([w.amplitude_mm for w in warps], a.warp_mm),
        ([w.ventricles for w in warps], a.ventricles),
        (np.abs([w.shift_mm[:2] for w in warps]).ravel(), a.shift_mm),
    ):
        assert all(bounds.contains(v) for v in values)
        assert np.ptp(values) > 0.1 * (bounds.high - bounds.low)


def test_contrast_draws_vary_and_stay_in_range() -> None:
    c = TRAINING.contrast
    draws = [ImageContrast.random(np.random.default_rng(s), c.t1, c, Range(0.6, 1)) for s in SEEDS]
    for i, tissue in enumerate(Tissue):
        values = [d.tissue[i] for d in draws]
        assert all(c.t1[tissue].contains(v) for v in values) and np.ptp(values) > 0
    assert all(c.bias_sd.contains(d.bias_sd) for d in draws)
    assert all(c.log_gamma.contains(abs(np.log(d.gamma))) for d in draws)
    assert all(c.noise_sd.contains(d.noise_sd) for d in draws)
    for d in draws:  # one thick axis, two thin ones
        res = sorted(d.resolution_mm)
        assert c.thick_mm.contains(res[2]) and all(c.inplane_mm.contains(r) for r in res[:2])
    assert len({d.gamma for d in draws}) == len(draws)
    assert len({int(np.argmax(d.resolution_mm)) for d in draws}) > 1  # thick axis varies
    motions = [Misregistration.random(np.random.default_rng(s), c) for s in SEEDS]
    shifts = np.abs([m.shift_mm for m in motions])
    angles = np.abs([m.rotation_deg for m in motions])
    assert shifts.max() <= c.shift_mm.high and angles.max() <= c.rotation_deg.high
    assert np.ptp(shifts) > 0.5 and np.ptp(angles) > 0.5


def test_misregistration_moves_the_image_by_its_shift() -> None:
    volume = np.zeros((40, 40, 5), dtype=np.float32)
    volume[20, 20, 2] = 1.0
    affine = np.diag([1.0, 1.0, 3.0, 1.0])
    motion = Misregistration(np.array([3.0, 0.0, 0.0]), np.zeros(3))
    moved = motion.apply(volume, affine)
    # What was at x = 20 shows at x = 17: the image content moved by -3 mm.
    assert np.unravel_index(np.argmax(moved), moved.shape) == (17, 20, 2)


def test_healthy_concentrations_around_the_literature() -> None:
    spread = np.exp(TRAINING.metabolism.tissue_log_spread.high)
    draws = [_healthy_mm(np.random.default_rng(s), TRAINING) for s in SEEDS]
    for met in METABOLITES:
        for tissue in (1, 2):  # GM, WM
            lit = [table[met][tissue - 1] for table in LITERATURE_MM]
            values = [d[met][tissue] for d in draws]
            assert min(lit) / spread - 1e-9 <= min(values)
            assert max(values) <= max(lit) * spread + 1e-9
            assert np.ptp(values) > 0
        csf = [d[met][0] / d[met][2] for d in draws]
        assert all(TRAINING.metabolism.csf_fraction.contains(v) for v in csf)


@pytest.mark.parametrize("kind", list(LesionKind))
def test_lesions_draw_within_their_pattern(kind: LesionKind) -> None:
    atlas = load_atlas(3.4)
    pattern = LESION_PATTERNS[kind]
    lesions = [
        Lesion.random(np.random.default_rng(s), kind, atlas, lambda p: p[2], (-20.0, 60.0))
        for s in range(4)
    ]
    radii = [x.geometry.radius_mm for x in lesions]
    assert all(pattern.radius_mm.contains(r) for r in radii) and np.ptp(radii) > 0
    for lesion in lesions:
        assert -20.0 <= lesion.geometry.centre_mm[2] <= 61.0
        for i, shell in enumerate(Shell):
            for levels, table in ((lesion.t1, pattern.t1), (lesion.flair, pattern.flair)):
                assert (levels[i] is None) == (shell not in table)
                assert levels[i] is None or table[shell].contains(levels[i])
            for met in METABOLITES:
                factor = lesion.factors[met][i]
                bounds = pattern.metabolism.get(shell, {}).get(met)
                assert factor == 1.0 if bounds is None else bounds.contains(factor)


def test_flair_only_and_metabolic_only_lesions() -> None:
    atlas = load_atlas(3.4)
    rng = np.random.default_rng(0)
    flair_only = Lesion.random(rng, LesionKind.flair_only, atlas, lambda p: p[2], (-20.0, 60.0))
    metabolic = Lesion.random(rng, LesionKind.metabolic_only, atlas, lambda p: p[2], (-20.0, 60.0))
    assert flair_only.visible and not flair_only.metabolic
    assert metabolic.metabolic and not metabolic.visible
    points = np.repeat(metabolic.geometry.centre_mm[:, None], 5, axis=1)
    points[0] += np.linspace(0, 40, 5)
    shells = [metabolic.shells(points)]
    parenchyma = np.ones(5, dtype=np.float32)
    # Invisible: it adds nothing to either image; metabolic: it changes every map at its centre.
    assert shown_lesions([metabolic], shells, parenchyma, 0) == []
    assert shown_lesions([metabolic], shells, parenchyma, 1) == []
    tissue = (np.zeros(5), np.full(5, 0.5), np.full(5, 0.5))
    for met in METABOLITES:
        healthy = metabolite_truth(met, (0.0, 2.0, 1.0), tissue, [], [])
        with_lesion = metabolite_truth(met, (0.0, 2.0, 1.0), tissue, [metabolic], shells)
        factor = metabolic.factors[met][1]  # the centre is in the solid part
        assert with_lesion[0] == pytest.approx(healthy[0] * factor, rel=0.05)
    # FLAIR-only: visible on FLAIR, maps unchanged.
    shells = [flair_only.shells(points)]
    assert shown_lesions([flair_only], shells, parenchyma, 1)
    for met in METABOLITES:
        np.testing.assert_array_equal(
            metabolite_truth(met, (0.0, 2.0, 1.0), tissue, [flair_only], shells),
            metabolite_truth(met, (0.0, 2.0, 1.0), tissue, [], []),
        )


def test_shifted_preset_is_disjoint_from_training() -> None:
    train, shifted = TRAINING.ranges(), SHIFTED.ranges()
    assert set(train) == set(shifted)
    for name in SHIFTED_FIELDS:
        assert not train[name].overlaps(shifted[name]), name
    assert not set(TRAINING.anatomy.lesion_kinds) & set(SHIFTED.anatomy.lesion_kinds)

    # Contrast-enhanced T1: shifted lesions are brighter on T1 than any training lesion.
    def t1_levels(kinds):
        return [r for k in kinds for r in LESION_PATTERNS[k].t1.values()]

    brightest = max(r.high for r in t1_levels(TRAINING.anatomy.lesion_kinds))
    assert min(r.low for r in t1_levels(SHIFTED.anatomy.lesion_kinds) if r.low > 1) > brightest
    assert PRESETS[Preset.training] is TRAINING and PRESETS[Preset.shifted] is SHIFTED


def test_shifted_patients_draw_outside_training() -> None:
    _, record = _tiny_patient(1, SHIFTED)
    t1, flair = record["contrast"]["t1"], record["contrast"]["flair"]
    c = TRAINING.contrast
    assert t1["tissue_csf_gm_wm"][0] > c.t1.csf.high
    assert flair["tissue_csf_gm_wm"][0] > c.flair.csf.high
    for image in (t1, flair):
        assert image["bias_sd"] > c.bias_sd.high
        assert abs(np.log(image["gamma"])) > c.log_gamma.high
        assert max(image["resolution_mm"]) > c.thick_mm.high
    assert record["metabolism"]["field_length_mm"] < TRAINING.metabolism.field_length_mm.low
    assert {x["kind"] for x in record["lesions"]} <= {"cyst", "demyelinating"}
    assert len(record["lesions"]) >= 1


@pytest.mark.slow
def test_lesion_count_covers_its_range() -> None:
    one = dataclasses.replace(
        TRAINING, anatomy=dataclasses.replace(TRAINING.anatomy, lesion_kinds=(LesionKind.glioma,))
    )
    counts = {len(_tiny_patient(s, one)[1]["lesions"]) for s in range(10)}
    assert counts == {0, 1, 2, 3}


@pytest.mark.slow
def test_randomised_cohorts_are_valid_and_reproducible(tmp_path: Path) -> None:
    a = make_phantom_cohort(tmp_path / "a", 2, seed=5, grid=16, slices=3, simulator="randomised")
    b = make_phantom_cohort(tmp_path / "b", 2, seed=5, grid=16, slices=3, simulator="randomised")
    s = make_phantom_cohort(tmp_path / "s", 1, seed=5, grid=16, slices=3, simulator="shifted")
    assert check_cohort(a) == [] and check_cohort(s) == []
    assert read_manifest(a).patients == ("R01", "R02") and read_manifest(s).patients == ("S01",)
    assert "simulator randomised" in read_manifest(a).provenance
    for path in sorted(a.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (b / path.relative_to(a)).read_bytes(), path
    record = json.loads((s / "S01" / PARAMS_FILE).read_text())
    assert record["preset"] == "shifted" and record["seed"] == [5, 0, Simulator.shifted.code]


def test_command_lists_every_simulator() -> None:
    with pytest.raises(ValueError, match="simulator must be one of"):
        make_phantom_cohort("unused", 1, simulator="synthseg")
