"""The realistic preset: each effect present when drawn, absent at 0, its draws spanning
none to strong, determinism, and the older presets unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mrsisr.data.check import check_cohort
from mrsisr.data.manifest import read_manifest
from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.sim.cohort import PARAMS_FILE, Simulator, cohort_digest, make_phantom_cohort
from mrsisr.sim.mrsi import PhantomGeometry
from mrsisr.sim.presets import (
    PRESETS,
    REALISTIC,
    SHIFTED,
    TRAINING,
    Preset,
    Range,
    RealismRanges,
)
from mrsisr.sim.randomised import simulate_randomised_patient
from mrsisr.sim.realistic import RealismDraw, apply_effects, brain_distances

SHAPE = (23, 21, 6)  # odd sizes catch swapped axes
AFFINE = np.diag([3.4, 3.4, 3.4, 1.0])
MET = Metabolite.NAA
OFF = RealismRanges().without()


def _brain() -> np.ndarray:
    y, x, z = np.meshgrid(*(np.linspace(-1, 1, s) for s in SHAPE), indexing="ij")
    return y**2 / 0.7 + x**2 / 0.6 + z**2 / 1.6 < 1


def _draw(seed: int = 0, **ranges: object) -> RealismDraw:
    """A draw with every effect off but the ones given (as ranges of one value)."""
    given = {k: Range(v, v) if isinstance(v, float) else v for k, v in ranges.items()}
    return RealismDraw.random(np.random.default_rng(seed), dataclasses.replace(OFF, **given))


def _apply(draw: RealismDraw, seed: int = 1):
    """Effects on a constant 10 mM map in the brain with unit Gaussian noise everywhere."""
    brain = _brain()
    clean = {MET: np.where(brain, 10.0, 0.0).astype(np.float32)}
    noise = {MET: np.random.default_rng(seed).normal(0.0, 1.0, SHAPE)}
    maps, noises = apply_effects(
        np.random.default_rng(2), draw, clean, noise, brain, (SHAPE, AFFINE)
    )
    return brain, clean[MET], noise[MET], maps[MET], noises[MET]


def test_old_presets_draw_nothing_new_and_realistic_extends_training() -> None:
    assert TRAINING.realism is None and SHIFTED.realism is None
    assert PRESETS[Preset.realistic] is REALISTIC and REALISTIC.name == "realistic"
    for part in ("contrast", "anatomy", "metabolism"):
        assert getattr(REALISTIC, part) == getattr(TRAINING, part)
    assert set(REALISTIC.ranges()) == set(TRAINING.ranges()) | {
        f"realism.{name}"
        for name in dataclasses.asdict(RealismRanges())
        if name not in ("plain_prob", "blobs", "outside_prob")
    }
    assert Simulator.realistic.prefix == "W" and list(Simulator)[-1] is Simulator.realistic


def test_every_magnitude_starts_at_none() -> None:
    ranges = RealismRanges()
    for name in RealismRanges.MAGNITUDES:
        assert getattr(ranges, name).low == 0.0, name
    assert ranges.blobs[0] == 0 and 0 < ranges.plain_prob < 1
    with pytest.raises(ValueError, match="unknown effects"):
        ranges.without("rims")
    with pytest.raises(ValueError, match="finite variance"):
        RealismRanges(tail=Range(0.0, 0.5))


def test_draws_span_none_to_strong_and_some_patients_are_plain() -> None:
    ranges = RealismRanges()
    draws = [RealismDraw.random(np.random.default_rng(s), ranges) for s in range(300)]
    active = [d for d in draws if not d.plain]
    assert 0.08 < 1 - len(active) / len(draws) < 0.22  # plain_prob 0.15
    for name in ("contrast_loss", "noise_excess", "tail", "outliers"):
        values = [d.per_metabolite[m][name] for d in active for m in METABOLITES]
        high = getattr(ranges, name).high
        assert min(values) < 0.05 * high and max(values) > 0.95 * high, name
    loss = np.array([[d.per_metabolite[m]["contrast_loss"] for m in METABOLITES] for d in active])
    assert np.ptp(loss, axis=1).mean() > 0.3  # per metabolite, not only per patient
    rims = [d.rim for d in active]
    assert min(rims) < 0.05 and max(rims) > 1.4
    assert 0.3 < np.mean([d.keep_outside for d in active]) < 0.7
    assert {len(d.blob_mm) for d in active} == {0, 1, 2, 3, 4}
    for d in draws:
        if d.plain:
            assert not d.keep_outside and d.rim == 0 and not d.blob_mm
            assert all(
                v["tail"] == 0 and v["contrast_loss"] == 0 for v in d.per_metabolite.values()
            )


def test_tissue_contrast_shrinks_to_none() -> None:
    healthy = (0.2, 8.0, 12.0)
    assert _draw(contrast_loss=0.0).healthy(MET, healthy) is healthy
    csf, gm, wm = _draw(contrast_loss=1.0).healthy(MET, healthy)
    assert gm == wm == 10.0 and csf == 0.2
    csf, gm, wm = _draw(contrast_loss=0.5, csf_fill=1.0).healthy(MET, healthy)
    assert (gm, wm) == (9.0, 11.0) and csf == 10.0


def test_all_effects_at_zero_return_the_same_arrays() -> None:
    brain = _brain()
    clean, noise = np.ones(SHAPE, np.float32), np.zeros(SHAPE)
    maps, noises = apply_effects(
        np.random.default_rng(0), _draw(), {MET: clean}, {MET: noise}, brain, (SHAPE, AFFINE)
    )
    assert maps[MET] is clean and noises[MET] is noise


def test_the_rim_lies_along_the_inside_of_the_brain_edge() -> None:
    draw = _draw(rim=1.0, rim_share=Range(1.0, 1.0), rim_mm=Range(4.0, 4.0))
    brain, clean, noise, maps, noises = _apply(draw)
    depth, _ = brain_distances(brain, AFFINE)
    added = maps - clean
    edge = brain & (depth <= 1.8)  # the outermost brain voxels: half a voxel deep
    np.testing.assert_allclose(added[edge], 10.0 * np.exp(-depth[edge] / 4.0), rtol=1e-5)
    assert added[edge].min() > 6.0  # a bright ring: > 60 % of the mean at the edge
    assert np.all(added[brain & (depth > 25)] < 0.01)  # nothing deep in the brain
    assert not added[~brain].any() and noises is noise  # nothing outside, noise untouched


def test_the_lipid_signal_outside_the_brain_decays_with_distance() -> None:
    draw = _draw(outside=2.0, rim_share=Range(1.0, 1.0), outside_mm=Range(5.0, 5.0))
    brain, clean, _, maps, _ = _apply(draw)
    _, beyond = brain_distances(brain, AFFINE)
    added = maps - clean
    assert not added[brain].any()
    near, far = ~brain & (beyond < 2), ~brain & (beyond > 15)
    assert added[near].min() > 0.7 * 20.0 and added[far].max() < 0.05 * 20.0


def test_gradients_and_blobs_follow_no_tissue() -> None:
    draw = _draw(gradient=0.3)
    brain, clean, _, maps, _ = _apply(draw)
    index = np.indices(SHAPE).reshape(3, -1).T * 3.4
    along = (index @ draw.direction).reshape(SHAPE)
    slope = np.polyfit(along[brain], maps[brain] / 10.0, 1)[0]
    assert slope * 100 == pytest.approx(draw.per_metabolite[MET]["gradient"], rel=1e-4)
    assert abs(draw.per_metabolite[MET]["gradient"]) == pytest.approx(0.3)
    draw = _draw(blob_amplitude=0.4, blobs=(1, 1), blob_mm=Range(8.0, 8.0))
    brain, clean, _, maps, _ = _apply(draw)
    added = maps - clean
    assert np.abs(added).max() == pytest.approx(4.0, rel=0.02)  # 0.4 x the mean at its centre
    peak = np.unravel_index(np.argmax(np.abs(added)), SHAPE)
    assert brain[peak]


def test_heavy_tails_when_drawn_and_gaussian_noise_at_zero() -> None:
    _, _, noise, _, noises = _apply(_draw(tail=0.4))
    assert stats.kurtosis(noise.ravel(), fisher=False) == pytest.approx(3.0, abs=0.3)
    assert stats.kurtosis(noises.ravel(), fisher=False) > 5.0
    assert np.std(noises) == pytest.approx(1.0, rel=0.25)  # unit variance kept
    _, _, noise0, _, noises0 = _apply(_draw(tail=0.0))
    assert noises0 is noise0


def test_outliers_and_stronger_noise() -> None:
    _, _, noise, _, noises = _apply(_draw(outliers=0.02, outlier_sd=Range(6.0, 6.0)))
    jumps = np.abs(noises - noise)
    hits = jumps > 0
    assert hits.mean() == pytest.approx(0.02, abs=0.008)
    np.testing.assert_allclose(jumps[hits], 6.0 * np.std(noise), rtol=1e-9)
    _, _, noise, _, noises = _apply(_draw(noise_excess=1.5))
    np.testing.assert_allclose(noises, 2.5 * noise)


def test_the_noise_sd_varies_smoothly_in_space() -> None:
    draw = _draw(snr_variation=0.5, snr_length_mm=Range(40.0, 40.0))
    _, _, noise, _, noises = _apply(draw)
    log_factor = np.log(noises / noise)
    assert np.std(log_factor) == pytest.approx(0.5, rel=1e-3)
    neighbours = np.corrcoef(log_factor[:-1].ravel(), log_factor[1:].ravel())[0, 1]
    assert neighbours > 0.9  # smooth: neighbouring voxels share their SNR


TINY = PhantomGeometry(grid=16, slices=3)


@pytest.mark.slow
def test_with_every_effect_off_a_realistic_patient_is_the_training_patient() -> None:
    off = dataclasses.replace(REALISTIC, realism=OFF)
    a, _ = simulate_randomised_patient("R", np.random.default_rng(3), TINY, TRAINING)
    b, record = simulate_randomised_patient(
        "R", np.random.default_rng(3), TINY, off, realism_rng=np.random.default_rng(9)
    )
    for met in METABOLITES:
        np.testing.assert_array_equal(a.patient.maps[met], b.patient.maps[met])
        np.testing.assert_array_equal(a.patient.noiseless[met], b.patient.noiseless[met])
    np.testing.assert_array_equal(a.patient.mask, b.patient.mask)
    assert record["preset"] == "realistic" and "realism" in record
    with pytest.raises(ValueError, match="give realism_rng"):
        simulate_randomised_patient("R", np.random.default_rng(3), TINY, REALISTIC)


@pytest.mark.slow
def test_tissue_contrast_goes_from_strong_to_none() -> None:
    geometry = PhantomGeometry(grid=32, slices=4)
    quiet = dataclasses.replace(
        TRAINING.metabolism, field_amplitude=Range(0, 0), common_amplitude=Range(0, 0)
    )
    no_lesions = dataclasses.replace(TRAINING.anatomy, lesions=(0, 0))

    def correlation(loss: float) -> float:
        ranges = dataclasses.replace(
            OFF, contrast_loss=Range(loss, loss), csf_fill=Range(loss, loss)
        )
        settings = dataclasses.replace(
            REALISTIC, realism=ranges, metabolism=quiet, anatomy=no_lesions
        )
        simulated, _ = simulate_randomised_patient(
            "W", np.random.default_rng(4), geometry, settings, np.random.default_rng(5)
        )
        gly, labels = simulated.patient.noiseless[Metabolite.Gly], simulated.labels
        tissue = simulated.patient.mask & np.isin(labels, (2, 3))
        return float(np.corrcoef(gly[tissue], labels[tissue] == 2)[0, 1])

    strong, weak, none = correlation(0.0), correlation(0.6), correlation(1.0)
    assert strong > 0.5 and abs(none) < 0.1 and none < weak < strong


# Digests of tiny cohorts of the older simulators, computed with the code of main at commit
# e80c5f7 (numpy 2.4, Python 3.11): adding the realistic preset changes none of their bytes.
OLD_COHORTS = {
    "randomised": "9f33eb938c4d354bc259c28044edec5d7cc3517a95ec865b70c936a328650b94",
    "shifted": "0d5e134404d9325acc21a68ba860e7669946e5b329b01259649bce8bb22a8e90",
    "final": "7308d5e0486dc7e887c49ca570e91326a3ae420941370d47d36e9e2d40486fe9",
    "real-like": "91d17f5da50869bfb9072e4e94c5d213c286d41f4f56818a69c24a83ddef352d",
}


@pytest.mark.slow
@pytest.mark.parametrize("simulator", sorted(OLD_COHORTS))
def test_older_simulators_write_the_same_bytes(tmp_path: Path, simulator: str) -> None:
    root = make_phantom_cohort(tmp_path / "c", 2, seed=7, grid=16, slices=3, simulator=simulator)
    assert cohort_digest(root) == OLD_COHORTS[simulator]


@pytest.mark.slow
def test_realistic_cohorts_are_valid_and_reproducible(tmp_path: Path) -> None:
    kwargs = dict(seed=2, grid=16, slices=3, simulator="realistic")
    a = make_phantom_cohort(tmp_path / "a", 3, **kwargs)
    b = make_phantom_cohort(tmp_path / "b", 3, workers=2, **kwargs)
    r = make_phantom_cohort(tmp_path / "r", 3, seed=2, grid=16, slices=3, simulator="randomised")
    assert check_cohort(a) == []
    assert read_manifest(a).patients == ("W01", "W02", "W03")
    assert cohort_digest(a) == cohort_digest(b) != cohort_digest(r)
    record = json.loads((a / "W01" / PARAMS_FILE).read_text())
    assert record["preset"] == "realistic"
    assert record["seed"] == [2, 0, Simulator.realistic.code]
    assert set(record["realism"]["maps"]) == {m.value for m in METABOLITES}
