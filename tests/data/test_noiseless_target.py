"""The noiseless target: simulators write the maps before noise, and training can use them."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_dataset import lowpass_reference, make_patient

from mrsisr.data.check import check_cohort
from mrsisr.data.cohort import Cohort, Patient
from mrsisr.data.dataset import MRSIDataset, noiseless_target
from mrsisr.data.manifest import map_file, noiseless_file
from mrsisr.kspace import degrade
from mrsisr.metabolites import Metabolite
from mrsisr.sim.cohort import PARAMS_FILE, make_phantom_cohort
from mrsisr.sim.simulators import Simulator
from mrsisr.sim.tissue import NOISE_SD_MM


def with_noiseless(pid: str, seed: int) -> Patient:
    """A synthetic patient whose maps are its noiseless maps plus Gaussian noise (SD 0.3)."""
    patient = make_patient(pid, seed=seed)
    rng = np.random.default_rng(100 + seed)
    noisy = {
        met: ((clean + rng.normal(0, 0.3, clean.shape)) * patient.mask).astype(np.float32)
        for met, clean in patient.maps.items()
    }
    return dataclasses.replace(patient, maps=noisy, noiseless=dict(patient.maps))


@pytest.mark.parametrize("n", [(8, 8), (7, 12), (35, 34)])
def test_the_target_keeps_the_measured_acquisition_and_the_noiseless_rest(n):
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(35, 34))
    measured = clean + rng.normal(0, 0.5, clean.shape)
    target = noiseless_target(measured, clean, n)
    # Written from the k-space convention with numpy FFTs (not the projection matrices).
    np.testing.assert_allclose(
        lowpass_reference(target, n), lowpass_reference(measured, n), atol=1e-10
    )
    np.testing.assert_allclose(
        target - lowpass_reference(target, n), clean - lowpass_reference(clean, n), atol=1e-10
    )
    if n == (35, 34):  # everything acquired: the target is the measurement itself
        np.testing.assert_allclose(target, measured, atol=1e-10)


@pytest.mark.parametrize("augment", [False, True])
def test_noiseless_samples_share_the_input_and_their_target_is_consistent_with_it(augment):
    patients = [with_noiseless(f"p{i}", i) for i in range(2)]
    kwargs = dict(n_choices=[8, (10, 6), 16], augment=augment, seed=4)
    measured = MRSIDataset(patients, **kwargs)
    noiseless = MRSIDataset(patients, target="noiseless", **kwargs)
    assert len(measured) == len(noiseless)
    differ = 0
    for index in range(0, len(measured), 13):
        a, b = measured[index], noiseless[index]
        for name in ("lr", "t1", "flair", "mask", "n", "met", "lam", "scale", "slice"):
            assert np.array_equal(getattr(a, name).numpy(), getattr(b, name).numpy()), name
        n = tuple(b.n.tolist())
        hr, lr = (b.hr[0] * b.scale).double().numpy(), (b.lr[0] * b.scale).double().numpy()
        np.testing.assert_allclose(degrade(hr, n), degrade(lr, n), atol=1e-5 * np.abs(hr).max())
        differ += not np.allclose(a.hr.numpy(), b.hr.numpy(), atol=1e-3)
    assert differ > 0  # the noise outside the acquired k-space is gone from the target


def test_the_noiseless_target_is_closer_to_the_clean_map_than_the_measurement():
    patient = with_noiseless("p0", 0)
    ds = MRSIDataset([patient], target="noiseless", n_choices=[8], metabolites=["NAA"])
    plain = MRSIDataset([patient], n_choices=[8], metabolites=["NAA"])
    for index in range(len(ds)):
        s, m = ds[index], plain[index]
        clean = patient.noiseless[Metabolite.NAA][:, :, int(s.slice)]
        inside = s.mask[0].numpy() > 0
        to_clean = np.abs((s.hr[0] * s.scale).numpy() - clean)[inside].mean()
        measured_error = np.abs((m.hr[0] * m.scale).numpy() - clean)[inside].mean()
        assert to_clean < 0.5 * measured_error


def test_a_noiseless_target_without_noiseless_maps_names_the_patient():
    with pytest.raises(ValueError, match="patient p1 has no noiseless maps"):
        MRSIDataset([with_noiseless("p0", 0), make_patient("p1")], target="noiseless")
    with pytest.raises(ValueError, match="target must be one of measured, noiseless"):
        MRSIDataset([make_patient("p0")], target="clean")


@pytest.mark.slow
@pytest.mark.parametrize("simulator", [Simulator.paper, Simulator.randomised])
def test_phantoms_write_the_maps_before_noise(tmp_path: Path, simulator: Simulator):
    root = make_phantom_cohort(
        tmp_path / "c", patients=1, seed=0, grid=32, slices=4, simulator=simulator
    )
    cohort = Cohort.open(root)
    patient = cohort.load(cohort.patients[0])
    assert set(patient.noiseless) == set(patient.maps)
    drawn = None
    if simulator is Simulator.randomised:  # the noise level is drawn per patient
        drawn = json.loads((root / patient.id / PARAMS_FILE).read_text())["metabolism"]["maps"]
    for met, measured in patient.maps.items():
        clean = patient.noiseless[met]
        assert not clean[~patient.mask].any()
        # Inside the mask the measurement is max(clean + noise, 0).
        sd = NOISE_SD_MM[met] if drawn is None else drawn[met.value]["noise_sd_mm"]
        well_above = patient.mask & (clean > 4 * sd)  # where clipping never acts
        residual = (measured - clean)[well_above]
        assert residual.size > 50, met
        assert abs(residual.mean()) < 4 * sd / np.sqrt(residual.size), met  # 4 standard errors
        assert residual.std() == pytest.approx(sd, rel=0.15), met
        clipped = patient.mask & (measured == 0)
        assert (clean[clipped] < 5 * sd).all(), met


def test_cohort_check_reports_incomplete_and_misnamed_noiseless_maps(tmp_path: Path):
    root = make_phantom_cohort(tmp_path / "c", patients=1, seed=0, grid=32, slices=4)
    assert check_cohort(root) == []
    folder = root / Cohort.open(root).patients[0]
    (folder / noiseless_file(Metabolite.Gly)).unlink()
    shutil.copy(folder / map_file(Metabolite.NAA), folder / "noiseless_NAAx.nii.gz")
    messages = sorted(str(p) for p in check_cohort(root))
    assert len(messages) == 2, messages
    assert "noiseless_Gly.nii.gz: missing file; noiseless maps" in messages[0]
    assert "noiseless_NAAx.nii.gz: unknown metabolite 'NAAx'" in messages[1]
    for path in folder.glob("noiseless_*"):  # none at all is a valid measured cohort
        path.unlink()
    assert check_cohort(root) == []
    assert Cohort.open(root).load(folder.name).noiseless == {}
