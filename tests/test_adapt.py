"""Adaptation to the user's own maps: exact data consistency, determinism, refusals, and a
gain where the maps have structure the base network does not know."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.adapt import (
    PROBE_MIN_N,
    Adapted,
    AdaptSettings,
    Scan,
    adapt,
    data_sha256,
    probe_gain,
    split_slices,
)
from mrsisr.errors import UserError
from mrsisr.inference import Anatomy, Predictor
from mrsisr.metabolites import Metabolite
from test_selfcheck import GRID, tissue
from tiny_model import naa_job, perturbed_generator

FAST = AdaptSettings(steps=4, lr=1e-3, batch_size=4)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(perturbed_generator(GRID), GRID, trained_n=())


@pytest.fixture(scope="module")
def scans() -> list[Scan]:
    t1, mask = tissue(low=0.3)
    image = t1.astype(np.float32)
    anatomy = Anatomy(t1=image, flair=image, mask=mask, mask_source="test")
    noise = np.random.default_rng(5).normal(size=t1.shape)
    maps = {Metabolite.NAA: 8 * t1 + 0.05 * noise, Metabolite.tCho: 2 * (1.3 - t1) * mask}
    return [
        Scan(np.moveaxis(kspace.degrade(np.moveaxis(m, 2, 0), 16), 0, 2), met, anatomy)
        for met, m in maps.items()
    ]


def test_split_holds_out_every_fourth_slice() -> None:
    assert split_slices(9) == ([0, 2, 3, 4, 6, 7, 8], [1, 5])
    assert split_slices(1) == ([0], [])


def test_adapted_outputs_keep_the_measured_k_space(predictor, scans) -> None:
    result = adapt(predictor, scans, FAST, check=False)
    adapted = Predictor(result.model, GRID)
    scan = scans[0]
    out = adapted.super_resolve(scan.lr, scan.metabolite, scan.anatomy, (0.0, 0.05))
    for volume in out:
        back = kspace.degrade(np.moveaxis(volume, 2, 0).astype(np.float64), 16)
        np.testing.assert_allclose(back, np.moveaxis(scan.lr, 2, 0), atol=1e-5 * 8)
    assert not all(  # and the weights did change, the base model's did not
        torch.equal(a, b) for a, b in zip(result.model.parameters(), predictor.model.parameters())
    )


def test_same_seed_same_model_other_seed_other_model(predictor, scans) -> None:
    first, second = (adapt(predictor, scans, FAST, check=False) for _ in range(2))
    assert first.losses == second.losses
    for a, b in zip(first.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    other = adapt(predictor, scans, AdaptSettings(**{**FAST.to_dict(), "seed": 1}), check=False)
    assert other.losses != first.losses


def test_conditioning_only_leaves_the_kernels(predictor, scans) -> None:
    settings = AdaptSettings(steps=3, lr=1e-2, batch_size=4, trainable="conditioning")
    result = adapt(predictor, scans, settings, check=False)
    pairs = list(zip(result.model.parameters(), predictor.model.parameters()))
    assert all(torch.equal(a, b) for a, b in pairs if a.ndim == 4)
    assert not all(torch.equal(a, b) for a, b in pairs if a.ndim != 4)


def test_refuses_what_the_base_model_refuses(predictor, scans) -> None:
    scan = scans[0]
    without = Anatomy(t1=scan.anatomy.t1, flair=None, mask=scan.anatomy.mask, mask_source="t")
    with pytest.raises(UserError, match="needs both"):  # no presence flags: FLAIR required
        adapt(predictor, [Scan(scan.lr, scan.metabolite, without)], FAST)
    with pytest.raises(ValueError, match="grid"):
        adapt(predictor, [Scan(scan.lr[:, :, :2], scan.metabolite, scan.anatomy)], FAST)
    with pytest.raises(ValueError, match="at least one map"):
        adapt(predictor, [], FAST)
    with pytest.raises(ValueError, match="lr"):
        AdaptSettings(lr=float("nan"))
    with pytest.raises(ValueError, match="ratio"):
        AdaptSettings(ratio=(0.5, 1.0))


@pytest.mark.slow
def test_on_maps_with_structure_the_adapted_self_check_gain_is_higher(predictor, scans) -> None:
    """The tiny random network knows nothing; the maps follow T1, which the network sees.
    Learning from the maps' own degradation raises the held-out self-check gain."""
    settings = AdaptSettings(steps=30, lr=3e-3, batch_size=4)
    result = adapt(predictor, scans, settings)
    assert np.isfinite(result.before_db) and np.isfinite(result.after_db)
    assert result.after_db > result.before_db + 0.5
    assert result.probe_db > result.before_db  # T1 structure holds at every scale
    assert result.improved and result.record()["improved"] is True


@pytest.mark.parametrize(
    ("after", "probe", "with_probe", "trusted"),
    [
        (1.2, 1.1, True, True),
        (1.2, 0.9, True, False),  # helps the band it trained on only: not trusted
        (1.2, float("nan"), True, False),  # no probe could run: not trusted
        (0.9, 1.1, True, False),
        (1.2, float("nan"), False, True),  # --no-probe: the held-out check alone
        (0.9, float("nan"), False, False),
    ],
)
def test_the_adapted_model_is_trusted_only_where_the_probe_rose_too(
    after, probe, with_probe, trusted
) -> None:
    settings = AdaptSettings(probe=with_probe)
    result = Adapted(torch.nn.Identity(), settings, [0.1], 1.0, after, probe)
    assert result.improved is trusted
    assert result.record()["improved"] is trusted
    assert result.record()["probe_self_check_db"] == (None if math.isnan(probe) else probe)


def test_no_probe_on_maps_too_small_to_halve_twice(predictor, scans) -> None:
    small = PROBE_MIN_N - 1
    cut = [
        Scan(
            np.moveaxis(kspace.degrade(np.moveaxis(s.lr, 2, 0), small), 0, 2),
            s.metabolite,
            s.anatomy,
        )
        for s in scans
    ]
    assert np.isnan(probe_gain(predictor, cut, FAST))


def test_data_hash_follows_the_values(scans) -> None:
    changed = [Scan(scans[0].lr + 1e-9, scans[0].metabolite, scans[0].anatomy), scans[1]]
    assert data_sha256(scans) == data_sha256(list(scans))
    assert data_sha256(changed) != data_sha256(scans)


@pytest.mark.slow
def test_predict_adapt_records_which_model_was_used(tmp_path, predictor, scans) -> None:
    """run_jobs(adapt=...) adapts on the patient's maps, keeps the measured k-space, and the
    sidecar says what adaptation measured and which model made the map."""
    import json

    import nibabel as nib

    from mrsisr.predict import run_jobs

    scan = scans[0]
    job = naa_job(tmp_path, scan.lr, scan.anatomy.t1, scan.anatomy.mask)
    out = job.out
    settings = AdaptSettings(steps=20, lr=3e-3, batch_size=4)
    run_jobs([job], predictor, adapt=settings, calibration="none")
    record = json.loads(out.with_name("sr_NAA.json").read_text())["adaptation"]
    assert record["model_used"] == ("adapted" if record["improved"] else "base")
    assert record["settings"]["steps"] == 20
    assert record["self_check_after_db"] is not None
    written = np.moveaxis(np.asarray(nib.load(out).dataobj, dtype=np.float64), 2, 0)
    np.testing.assert_allclose(
        kspace.degrade(written, 16), np.moveaxis(scan.lr, 2, 0), atol=1e-4 * np.abs(scan.lr).max()
    )


def test_an_interrupted_adaptation_resumes_to_the_same_model(tmp_path, predictor, scans) -> None:
    settings = AdaptSettings(steps=14, lr=1e-3, batch_size=4)
    whole = adapt(predictor, scans, settings, check=False)
    state = tmp_path / "adapt.state"

    def stop(step: int, loss: float) -> None:
        if step == 12:  # after the save at step 10
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        adapt(predictor, scans, settings, progress=stop, check=False, resume=state)
    assert state.is_file()
    done: list[int] = []
    resumed = adapt(
        predictor, scans, settings, progress=lambda s, _: done.append(s), check=False, resume=state
    )
    assert done == [11, 12, 13, 14]  # the steps after the saved state, not the ones before
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-5)
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert not state.exists()
    # a state of other settings is not resumed
    state.write_bytes(b"not a state")
    other = adapt(predictor, scans, settings, check=False, resume=state)
    assert other.losses == pytest.approx(whole.losses, rel=1e-5)
