"""The self-check: what a network adds on a map, measured one scale down, and the calibrated
output. A stand-in network with a known prior (the map is a multiple of T1) makes the answer
known: right where the map follows T1, wrong where it does not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from mrsisr import kspace
from mrsisr.bands import blend
from mrsisr.inference import Anatomy, GridChoice, Predictor
from mrsisr.metrics import psnr_in_mask
from mrsisr.predict import run_jobs
from mrsisr.selfcheck import (
    MIN_GAIN_BELOW_RANGE_DB,
    MIN_GAIN_DB,
    SelfCheck,
    check_size,
    self_check,
)
from tiny_model import TissuePrior, naa_job

GRID = (32, 32)
SLICES = 4


def tissue(low: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """A T1 of sharp-edged regions (intensities ``low`` and 1 in the brain, 0 outside), and
    the brain mask ``(N_y, N_x, S)``."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: GRID[0], : GRID[1]] - np.array(GRID).reshape(2, 1, 1) / 2
    brain = (yy / 13) ** 2 + (xx / 12) ** 2 < 1
    t1 = np.zeros((*GRID, SLICES))
    for s in range(SLICES):
        regions = ndimage.zoom(rng.random((6, 6)), GRID[0] / 6, order=0) > 0.5
        t1[:, :, s] = brain * (low + (1 - low) * regions)
    return t1, np.repeat(brain[:, :, None], SLICES, axis=2)


def smooth_map() -> np.ndarray:
    """A map that follows no tissue: a smooth random field inside the brain."""
    field = ndimage.gaussian_filter(np.random.default_rng(1).normal(size=(*GRID, SLICES)), 4)
    return 3.0 + field / field.std()


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(TissuePrior(), GRID, trained_n=())


def run(predictor: Predictor, truth: np.ndarray, t1: np.ndarray, mask: np.ndarray, n: int):
    image = t1.astype(np.float32)
    anatomy = Anatomy(t1=image, flair=image, mask=mask, mask_source="t")
    lr = np.moveaxis(kspace.degrade(np.moveaxis(truth, 2, 0), n), 0, 2)
    check = self_check(predictor, lr, "NAA", anatomy)
    raw = predictor.super_resolve(lr, "NAA", anatomy)[0]
    calibrated = predictor.super_resolve(lr, "NAA", anatomy, detail_weights=check.weights)[0]
    zero = np.moveaxis(kspace.zero_fill(np.moveaxis(lr, 2, 0), GRID), 0, 2)

    def gain(x: np.ndarray) -> float:
        return psnr_in_mask(x, truth, mask) - psnr_in_mask(zero, truth, mask)

    return check, gain(raw), gain(calibrated), (lr, raw, calibrated)


def test_a_map_that_follows_the_prior_keeps_the_network_detail(predictor: Predictor) -> None:
    t1, mask = tissue()
    noise = 0.02 * np.random.default_rng(2).normal(size=t1.shape)
    truth = 5.0 * t1 + noise
    check, raw, calibrated = run(predictor, truth, t1, mask, 16)[:3]
    assert check.n_check == (8, 8)
    assert min(check.weights) > 0.8
    assert check.gain_raw_db > 3 and check.gain_db >= check.gain_raw_db - 0.05
    assert raw > 3  # the real scale: the network helps, and the calibration keeps it
    assert calibrated == pytest.approx(raw, abs=0.3)


def test_a_map_that_does_not_follow_the_prior_falls_back_to_zero_filling(
    predictor: Predictor,
) -> None:
    """The map has the brain's edge but none of T1's regions, which are strong: the network's
    detail is right at the edge and wrong inside."""
    t1, mask = tissue(low=0.1)
    truth = smooth_map() * mask
    check, raw, calibrated, (lr, _, out) = run(predictor, truth, t1, mask, 16)
    assert check.gain_raw_db < -1  # the self-check sees the harm
    assert max(check.fitted) < 0.7
    assert raw < -2  # ... which is real at the real scale
    assert calibrated >= -0.05  # do no harm
    np.testing.assert_allclose(  # and the measured k-space is kept exactly
        kspace.degrade(np.moveaxis(out, 2, 0).astype(np.float64), 16),
        np.moveaxis(lr, 2, 0),
        atol=1e-4 * np.abs(lr).max(),
    )


@pytest.mark.parametrize(
    ("n", "trained", "expected"),
    [
        ((32, 32), range(16, 33), ((16, 16), True)),
        ((24, 24), range(16, 33), ((16, 16), True)),  # raised to the trained sizes
        ((20, 20), range(16, 33), ((16, 16), True)),  # four lines of band
        ((18, 18), range(16, 33), ((9, 9), False)),  # two would be too few: below
        ((16, 16), range(16, 33), ((8, 8), False)),
        ((16, 16), range(8, 65), ((8, 8), False)),  # trained there, but below validated
        ((24, 24), range(8, 65), ((16, 16), True)),  # raised to the validated size
        ((32, 32), range(20, 33), ((20, 20), True)),  # ... and to the trained sizes
        ((32, 42), range(16, 33), ((16, 21), True)),
        ((9, 9), (), ((5, 5), False)),
        ((7, 7), (), (None, False)),  # n' = 4 leaves 3 lines
        ((12, 40), range(16, 33), ((6, 20), False)),
    ],
)
def test_check_size(n: tuple, trained: range, expected: tuple) -> None:
    assert check_size(n, tuple(trained)) == expected


def zero_filled(lr: np.ndarray) -> np.ndarray:
    return np.moveaxis(kspace.zero_fill(np.moveaxis(lr, 2, 0), GRID), 0, 2)


def test_without_a_possible_check_the_output_is_zero_filling() -> None:
    t1, mask = tissue()
    image = t1.astype(np.float32)
    anatomy = Anatomy(t1=image, flair=image, mask=mask, mask_source="t")
    predictor = Predictor(TissuePrior(), GRID, trained_n=tuple(range(16, 33)))
    lr = np.moveaxis(kspace.degrade(np.moveaxis(5 * t1, 2, 0), 6), 0, 2)
    check = self_check(predictor, lr, "NAA", anatomy)
    assert not check.ran and check.weights == (0.0, 0.0, 0.0)
    assert "no self-check" in check.summary() and "zero-filling" in check.summary()
    out = predictor.super_resolve(lr, "NAA", anatomy, detail_weights=check.weights)[0]
    np.testing.assert_allclose(out, zero_filled(lr), atol=1e-5)


def test_below_the_trained_or_validated_sizes_the_bar_is_higher_and_said() -> None:
    t1, mask = tissue(low=0.1)
    image = t1.astype(np.float32)
    anatomy = Anatomy(t1=image, flair=image, mask=mask, mask_source="t")
    truth = np.moveaxis(smooth_map() * mask, 2, 0)

    def check(n: int, trained_n: tuple[int, ...]) -> SelfCheck:
        lr = np.moveaxis(kspace.degrade(truth, n), 0, 2)
        return self_check(Predictor(TissuePrior(), GRID, trained_n=trained_n), lr, "NAA", anatomy)

    inside, below = check(32, (16, 32)), check(32, (30, 32))
    assert inside.n_check == below.n_check == (16, 16)
    assert inside.fitted == pytest.approx(below.fitted)
    assert (inside.min_gain_db, below.min_gain_db) == (MIN_GAIN_DB, MIN_GAIN_BELOW_RANGE_DB)
    assert "below the trained and validated sizes (>= 30)" in below.summary()
    assert not inside.note
    # Trained from 8, yet checked at n' = 8 < 16, where the bars were not validated.
    small = check(16, (8, 32))
    assert small.n_check == (8, 8) and small.min_gain_db == MIN_GAIN_BELOW_RANGE_DB
    assert "(>= 16)" in small.summary()


@pytest.mark.parametrize(("gain", "used"), [(0.99, False), (1.0, True), (3.0, True)])
def test_weights_are_used_only_above_the_bar(gain: float, used: bool) -> None:
    check = SelfCheck((16, 16), (8, 8), (0.5, 0.4, 0.3), -2.0, gain, MIN_GAIN_DB)
    assert check.weights == ((0.5, 0.4, 0.3) if used else (0.0, 0.0, 0.0))
    assert ("output is zero-filling" in check.summary()) != used


def test_record_is_json_and_nan_free() -> None:
    nan = float("nan")
    check = SelfCheck((16, 16), None, (0.0, 0.0, 0.0), nan, nan, MIN_GAIN_DB, "why")
    record = json.loads(json.dumps(check.to_dict(), allow_nan=False))
    assert record == {
        "n": [16, 16],
        "n_check": None,
        "fitted": [0.0, 0.0, 0.0],
        "weights": [0.0, 0.0, 0.0],
        "gain_raw_db": None,
        "gain_db": None,
        "min_gain_db": MIN_GAIN_DB,
        "note": "why",
    }


@pytest.mark.parametrize("calibration", ["self-check", "none"])
def test_predict_writes_the_calibrated_map_and_its_self_check(
    tmp_path, predictor: Predictor, calibration: str
) -> None:
    """End to end through the files: the sidecar holds the check, the map is the blend."""
    t1, mask = tissue()
    truth = smooth_map()  # no edge at the brain's either
    lr = np.moveaxis(kspace.degrade(np.moveaxis(truth, 2, 0), 16), 0, 2)
    job = naa_job(tmp_path, lr, t1, mask)
    out = job.out
    run_jobs([job], predictor, calibration=calibration, grid=GridChoice(grid=GRID))
    import nibabel as nib

    written = np.asarray(nib.load(out).dataobj, dtype=np.float64)
    sidecar = json.loads(out.with_name("sr_NAA.json").read_text())
    assert sidecar["calibration"] == calibration
    anatomy = Anatomy(
        t1=t1.astype(np.float32), flair=t1.astype(np.float32), mask=mask, mask_source="t"
    )
    raw = predictor.super_resolve(lr, "NAA", anatomy)[0].astype(np.float64)
    if calibration == "none":
        assert "self_check" not in sidecar
        np.testing.assert_allclose(written, raw, atol=1e-4)
        return
    record = sidecar["self_check"]
    weights = record["weights"]
    assert record["n_check"] == [8, 8] and 0 < max(record["fitted"]) < 0.7
    assert weights == (record["fitted"] if record["gain_db"] >= MIN_GAIN_DB else [0, 0, 0])
    zero = kspace.zero_fill(np.moveaxis(lr, 2, 0), GRID)
    expected = np.moveaxis(blend(zero, np.moveaxis(raw, 2, 0), (16, 16), weights), 0, 2)
    np.testing.assert_allclose(written, expected, atol=1e-3 * np.abs(expected).max())
    assert not np.allclose(written, raw, atol=1e-2 * np.abs(raw).max())
