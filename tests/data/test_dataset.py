"""MRSIDataset: normalisation, on-the-fly degradation, conditions, determinism, alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mrsisr.data.cohort import Patient
from mrsisr.data.dataset import (
    DEFAULT_N_CHOICES,
    MRSIDataset,
    Sample,
    SampleKey,
    simulate_input,
)
from mrsisr.data.normalise import normalise_anatomy
from mrsisr.data.sampler import make_loader, set_loader_epoch
from mrsisr.data.slices import SliceRule
from mrsisr.kspace import degrade, zero_fill
from mrsisr.metabolites import METABOLITES, Metabolite


def make_patient(pid: str, shape=(35, 34, 7), seed: int = 0, metabolites=METABOLITES) -> Patient:
    """A patient with an ellipsoid mask (coverage falls towards the outer slices)."""
    rng = np.random.default_rng(seed)
    y, x, z = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
    mask = y**2 / 0.8 + x**2 / 0.7 + z**2 / 1.1 < 1
    maps = {m: ((1 + rng.random(shape)) * mask).astype(np.float32) for m in metabolites}
    t1, flair = (rng.gamma(2.0, 50.0, size=shape).astype(np.float32) for _ in range(2))
    return Patient(id=pid, maps=maps, t1=t1, flair=flair, mask=mask, affine=np.eye(4))


def lowpass_reference(x: np.ndarray, n: tuple[int, int]) -> np.ndarray:
    """zero_fill(degrade(x, n)) written from the k-space convention, with numpy FFTs.

    Per axis (x then y): keep the centred frequencies -(n//2) .. (n-1)//2; for even n < N the
    unpaired Nyquist coefficient -n/2 is replaced by its real part, written at both -n/2 and
    +n/2 (for a real signal, the mean of the two).
    """
    for axis, size in ((-1, n[1]), (-2, n[0])):
        N = x.shape[axis]
        k = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(x, axes=axis), axis=axis), axes=axis)
        k = np.moveaxis(k, axis, -1)
        freq = np.arange(N) - N // 2
        out = np.where((freq >= -(size // 2)) & (freq <= (size - 1) // 2), k, 0)
        if size % 2 == 0 and size < N:
            nyquist = (k[..., N // 2 - size // 2] + k[..., N // 2 + size // 2]) / 2
            out[..., N // 2 - size // 2] = nyquist
            out[..., N // 2 + size // 2] = nyquist
        out = np.moveaxis(out, -1, axis)
        x = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(out, axes=axis), axis=axis), axes=axis)
        x = x.real
    return x


@pytest.mark.parametrize("n", [(7, 7), (8, 8), (10, 5), (35, 34), (1, 2)])
def test_simulate_input_is_zero_fill_of_degrade(n):
    hr = np.random.default_rng(0).normal(size=(35, 34))
    expected = zero_fill(degrade(hr, n), hr.shape)
    np.testing.assert_allclose(simulate_input(hr, n), expected, atol=1e-12)
    np.testing.assert_allclose(lowpass_reference(hr, n), expected, atol=1e-12)


@pytest.fixture(scope="module")
def patients() -> list[Patient]:
    return [make_patient(f"p{i}", seed=i) for i in range(3)]


def test_sample_fields_have_the_documented_shapes_and_dtypes(patients):
    ds = MRSIDataset(patients, n_choices=[(8, 6), 12])
    sample = ds[0]
    for name in ("lr", "t1", "flair", "mask", "hr"):
        assert getattr(sample, name).shape == (1, 35, 34), name
        assert getattr(sample, name).dtype == torch.float32, name
    assert sample.n.shape == (2,) and sample.n.dtype == torch.int64
    for name in ("met", "patient", "slice"):
        assert getattr(sample, name).shape == () and getattr(sample, name).dtype == torch.int64
    assert sample.lam.dtype == torch.float32 and sample.scale.dtype == torch.float32
    assert set(sample.mask.unique().tolist()) <= {0.0, 1.0}


def test_default_collate_stacks_samples_into_a_batch(patients):
    ds = MRSIDataset(patients)
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert isinstance(batch, Sample)
    assert batch.lr.shape == (5, 1, 35, 34) and batch.n.shape == (5, 2)
    assert batch.met.shape == batch.lam.shape == batch.scale.shape == (5,)
    for i in range(5):  # every field is the i-th sample's, in order, unchanged
        one = ds[i]
        for name in Sample._fields:
            mine, stacked = getattr(one, name), getattr(batch, name)[i]
            if isinstance(stacked, torch.Tensor):
                torch.testing.assert_close(stacked, torch.as_tensor(mine), rtol=0, atol=0)
            else:
                assert stacked == mine, name


def test_hr_times_scale_returns_the_stored_map_and_lr_peaks_at_one(patients):
    ds = MRSIDataset(patients, seed=3)
    for index in range(0, len(ds), 17):
        s = ds[index]
        patient = patients[int(s.patient)]
        met = METABOLITES[int(s.met)]
        raw = patient.maps[met][:, :, int(s.slice)]
        np.testing.assert_allclose((s.hr * s.scale)[0].numpy(), raw, rtol=1e-6, atol=1e-6)
        inside = s.mask[0] > 0
        assert float(s.lr[0][inside].max()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("augment", [False, True])
def test_lr_is_the_numpy_lowpass_of_the_augmented_target(patients, augment):
    ds = MRSIDataset(patients, n_choices=[7, 8, (10, 5), 34], augment=augment, seed=1)
    for index in range(0, len(ds), 11):
        s = ds[index]
        hr = (s.hr[0] * s.scale).double().numpy()
        expected = lowpass_reference(hr, tuple(s.n.tolist()))
        lr = (s.lr[0] * s.scale).double().numpy()
        np.testing.assert_allclose(lr, expected, atol=2e-6 * np.abs(hr).max())
        # Data consistency: the input holds exactly the target's measured k-space.
        n = tuple(s.n.tolist())
        np.testing.assert_allclose(degrade(lr, n), degrade(hr, n), atol=2e-6 * np.abs(hr).max())


@pytest.mark.slow
def test_n_and_lambda_follow_their_distributions(patients):
    ds = MRSIDataset(patients, seed=5)
    ns, lams = [], []
    for epoch in range(16):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            s = ds[index]
            ns.append(tuple(s.n.tolist()))
            lams.append(float(s.lam))
    assert set(ns) == {(n, n) for n in DEFAULT_N_CHOICES}
    counts = np.array([ns.count((n, n)) for n in DEFAULT_N_CHOICES])
    expected = len(ns) / len(DEFAULT_N_CHOICES)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    lams = np.array(lams)
    zero = np.mean(lams == 0)
    assert abs(zero - 0.1) < 5 * np.sqrt(0.1 * 0.9 / len(lams))
    nonzero = lams[lams > 0]
    assert nonzero.min() >= 0 and nonzero.max() <= 0.1
    assert abs(nonzero.mean() - 0.05) < 5 * 0.1 / np.sqrt(12 * len(nonzero))


def test_same_seed_same_samples_and_epochs_reseed(patients):
    a = MRSIDataset(patients, augment=True, seed=7)
    b = MRSIDataset(patients, augment=True, seed=7)
    c = MRSIDataset(patients, augment=True, seed=8)
    for x, y in zip(a[4], b[4]):
        assert torch.equal(x, y)
    assert not torch.equal(a[4].hr, c[4].hr) or not torch.equal(a[4].n, c[4].n)
    first = a[4]
    a.set_epoch(1)
    assert not all(torch.equal(x, y) for x, y in zip(first, a[4]))
    fixed = MRSIDataset(patients, augment=True, seed=7, deterministic=True)
    before = fixed[4]
    fixed.set_epoch(3)
    assert all(torch.equal(x, y) for x, y in zip(before, fixed[4]))


def test_batches_do_not_depend_on_the_number_of_workers(patients):
    ds = MRSIDataset(patients[:2], augment=True, seed=2)

    def epoch_batches(workers: int) -> list[Sample]:
        loader = make_loader(ds, batch_size=6, shuffle=True, num_workers=workers, seed=4)
        set_loader_epoch(loader, 1)
        return list(loader)

    for a, b in zip(epoch_batches(0), epoch_batches(2), strict=True):
        for x, y in zip(a, b):
            assert torch.equal(x, y)


def dihedral_and_shift(original: np.ndarray, moved: np.ndarray, max_shift: int) -> bool:
    """Whether ``moved`` is a flip/quarter-turn/circular shift of ``original``."""
    for flipped in (original, original[:, ::-1]):
        for k in range(4):
            turned = np.rot90(flipped, k)
            if turned.shape != moved.shape:
                continue
            for dy in range(-max_shift, max_shift + 1):
                for dx in range(-max_shift, max_shift + 1):
                    if np.allclose(np.roll(turned, (dy, dx), axis=(0, 1)), moved, rtol=1e-5):
                        return True
    return False


@pytest.mark.parametrize("shape", [(24, 24, 5), (24, 20, 5)])
def test_augmentation_moves_every_channel_identically(shape):
    rng = np.random.default_rng(0)
    pattern = rng.random(shape).astype(np.float32) + 0.01
    mask = pattern > 0.4
    patient = Patient(
        id="a",
        maps={Metabolite.NAA: 3 * pattern},
        t1=pattern.copy(),
        flair=2 * pattern,
        mask=mask,
        affine=np.eye(4),
    )
    ds = MRSIDataset([patient], n_choices=[8], augment=True, slice_rule=SliceRule(0.01))
    p995 = np.percentile(pattern[mask], 99.5)
    moved = 0
    for index in range(len(ds)):
        s = ds[index]
        t1 = s.t1[0].numpy() * p995
        np.testing.assert_allclose(s.flair[0].numpy(), s.t1[0].numpy(), rtol=1e-6)
        np.testing.assert_allclose((s.hr[0] * s.scale).numpy(), 3 * t1, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(s.mask[0].numpy() > 0, t1 > 0.4 * (1 + 1e-6))
        original = pattern[:, :, int(s.slice)]
        assert dihedral_and_shift(original, t1, max_shift=3)
        moved += not np.allclose(t1, original, rtol=1e-5)
    assert moved > 0


def test_without_augmentation_images_are_the_stored_slices(patients):
    ds = MRSIDataset(patients, augment=False)
    for index in range(0, len(ds), 13):
        s = ds[index]
        patient, z = patients[int(s.patient)], int(s.slice)
        t1 = normalise_anatomy(patient.t1, patient.mask)[:, :, z]
        flair = normalise_anatomy(patient.flair, patient.mask)[:, :, z]
        np.testing.assert_array_equal(s.t1[0].numpy(), t1)
        np.testing.assert_array_equal(s.flair[0].numpy(), flair)
        np.testing.assert_array_equal(s.mask[0].numpy(), patient.mask[:, :, z])


def test_slices_follow_the_rule_and_every_pair_appears_once_per_metabolite(patients):
    rule = SliceRule(min_fraction=0.6)
    ds = MRSIDataset(patients, ["p2", "p0"], ["NAA", "tCho"], slice_rule=rule)
    assert ds.slices == {pid: rule.select(patients[int(pid[1])].mask) for pid in ("p2", "p0")}
    assert 0 < ds.num_slices < 2 * 7 and len(ds) == 2 * ds.num_slices
    seen = {(int(s.patient), int(s.slice), int(s.met)) for s in (ds[i] for i in range(len(ds)))}
    expected = {
        (int(pid[1]), z, METABOLITES.index(m))
        for pid, zs in ds.slices.items()
        for z in zs
        for m in (Metabolite.NAA, Metabolite.tCho)
    }
    assert seen == expected and ds.patient_ids == ("p0", "p1", "p2")


def test_expand_n_gives_every_acquisition_size_deterministically(patients):
    choices = [8, 12, (16, 10)]
    ds = MRSIDataset(patients[:1], n_choices=choices, expand_n=True, deterministic=True)
    assert len(ds) == ds.num_slices * 7 * 3
    for start in range(0, len(ds), 3):
        got = [tuple(ds[start + j].n.tolist()) for j in range(3)]
        assert got == [(8, 8), (12, 12), (16, 10)]
        assert ds.group_of(start + 2) == (int(ds[start].met), (16, 10))


def test_sample_key_imposes_n_and_lambda(patients):
    ds = MRSIDataset(patients, seed=1)
    s = ds[SampleKey(3, (10, 14), 0.25)]
    assert s.n.tolist() == [10, 14] and float(s.lam) == 0.25
    same = ds[(3, 20)]
    assert same.n.tolist() == [20, 20] and float(same.lam) == float(ds[3].lam)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patient_ids": ["p9"]}, "patient_ids"),
        ({"metabolites": ["Lac"]}, "unknown metabolite"),
        ({"lam_range": (0.1, 0.0)}, "lam_range"),
        ({"lam_zero_prob": 1.5}, "lam_zero_prob"),
        ({"n_choices": [(8, 35)]}, "n_choices"),
        ({"n_choices": []}, "n_choices"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(patients, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MRSIDataset(patients, **kwargs)


def test_missing_metabolite_names_the_patient():
    a = make_patient("a", metabolites=(Metabolite.NAA, Metabolite.Gln))
    b = make_patient("b", metabolites=(Metabolite.NAA,))
    assert MRSIDataset([a, b]).metabolites == (Metabolite.NAA,)
    with pytest.raises(ValueError, match="Gln is missing for patient"):
        MRSIDataset([a, b], metabolites=["Gln"])


@pytest.mark.slow
def test_a_phantom_cohort_on_disk_gives_consistent_batches(phantom_cohort):
    """Integration with the cohort reader, on the shared 2-patient 64 x 64 x 8 phantom."""
    from mrsisr.data.cohort import Cohort

    cohort = Cohort.open(phantom_cohort)
    first, second = cohort.manifest.patients
    train = MRSIDataset(phantom_cohort, [first], augment=True, seed=0)
    assert train.grid == (64, 64) and 0 < train.num_slices <= 8
    batch = next(iter(make_loader(train, batch_size=8)))
    assert batch.lr.shape == (8, 1, 64, 64) and torch.isfinite(batch.lr).all()
    assert (batch.scale > 0).all() and (batch.patient == 0).all()

    val = MRSIDataset(cohort, [second], expand_n=True, deterministic=True)
    s = val[len(DEFAULT_N_CHOICES) * 7 + 1]  # second slice pair, first metabolite, n = 18
    assert s.n.tolist() == [18, 18] and val.patient_ids[int(s.patient)] == second
    stored = cohort.load(second).maps[METABOLITES[int(s.met)]][:, :, int(s.slice)]
    np.testing.assert_allclose((s.hr * s.scale)[0].numpy(), stored, rtol=1e-6, atol=1e-6)
    assert float((s.hr[0] * (1 - s.mask[0])).abs().max()) == 0.0  # maps are 0 outside the mask


def test_sample_to_moves_every_field(patients):
    batch = next(iter(DataLoader(MRSIDataset(patients), batch_size=2)))
    moved = batch.to("meta")
    assert isinstance(moved, Sample) and all(t.device.type == "meta" for t in moved)
