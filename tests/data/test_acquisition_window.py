"""Acquisition windows of the training inputs: the Hamming filter, elliptical sampling, their
draws, and data consistency on the frequencies measured unfiltered."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from test_dataset import make_patient
from torch.utils.data import DataLoader

from mrsisr.data.dataset import WINDOWS, MRSIDataset, acquire, simulate_input
from mrsisr.errors import UserError
from mrsisr.kspace import (
    acquisition_window,
    apply_kspace_window,
    fft2c,
    unfiltered_frequencies,
)
from mrsisr.metabolites import METABOLITES
from mrsisr.nn.dc import DataConsistency
from mrsisr.options import AcquisitionWindow
from mrsisr.train.config import DataConfig, TrainConfig, check_config

GRID = (33, 37)  # odd sizes catch swapped axes
SIZES = [(16, 20), (15, 21), (8, 9)]
FIELDS = ("lr", "t1", "flair", "mask", "hr", "n", "met", "lam", "scale", "patient", "slice")


def _freq(size: int) -> np.ndarray:
    return np.arange(size) - size // 2


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("window", list(AcquisitionWindow))
def test_the_window_is_real_even_and_zero_outside_the_acquired_box(n, window) -> None:
    w = acquisition_window(GRID, n, hamming=window.hamming_filter, elliptical=window.ellipse)
    assert w.dtype == np.float64 and w.shape == GRID and w.min() >= 0 and w.max() == 1.0
    mirror = np.ix_(*((size // 2 - _freq(size)) % size for size in GRID))  # ... on the grid
    np.testing.assert_array_equal(w, w[mirror])  # W(k) = W(-k): real maps stay real
    box = (np.abs(_freq(GRID[0]))[:, None] <= n[0] / 2) & (
        np.abs(_freq(GRID[1]))[None, :] <= n[1] / 2
    )
    assert not w[~box].any()
    assert w[GRID[0] // 2, GRID[1] // 2] == 1.0  # frequency 0 is never filtered


def test_hamming_is_the_textbook_filter_along_each_axis() -> None:
    w = acquisition_window(GRID, (16, 20), hamming=True)
    row = w[GRID[0] // 2]  # k_y = 0: the x filter
    k = _freq(GRID[1])
    inside = np.abs(k) <= 10
    np.testing.assert_allclose(row[inside], 0.54 + 0.46 * np.cos(2 * np.pi * k[inside] / 20))
    assert row[GRID[1] // 2 - 10] == pytest.approx(0.08)  # 0.08 at the Nyquist line


@pytest.mark.parametrize("n", SIZES)
def test_elliptical_sampling_zeroes_exactly_the_corners(n) -> None:
    box = acquisition_window(GRID, n)
    ellipse = acquisition_window(GRID, n, elliptical=True)
    ky = _freq(GRID[0])[:, None] / (n[0] / 2)
    kx = _freq(GRID[1])[None, :] / (n[1] / 2)
    corners = (box == 1) & (ky**2 + kx**2 > 1)
    assert corners.any()
    np.testing.assert_array_equal(ellipse, np.where(corners, 0.0, box))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("window", list(AcquisitionWindow))
def test_a_windowed_acquisition_is_real_and_its_kspace_is_the_windowed_one(n, window) -> None:
    hr = np.random.default_rng(0).normal(size=GRID)
    lr = acquire(hr, n, window)
    assert lr.dtype == np.float64 and np.isrealobj(lr)
    w = acquisition_window(GRID, n, hamming=window.hamming_filter, elliptical=window.ellipse)
    plain = fft2c(simulate_input(hr, n))
    np.testing.assert_allclose(fft2c(lr), w * plain, atol=1e-12)
    # Independent check with NumPy's own FFT: the windowed spectrum's inverse is real.
    inverse = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(w * plain)))
    assert np.abs(inverse.imag).max() < 1e-12
    if window is AcquisitionWindow.none:
        np.testing.assert_array_equal(lr, simulate_input(hr, n))  # the same bytes


def test_apply_kspace_window_refuses_a_window_of_another_shape() -> None:
    with pytest.raises(ValueError, match="window of shape"):
        apply_kspace_window(np.zeros(GRID), np.ones((33, 36)))


@pytest.mark.parametrize("window", list(AcquisitionWindow))
def test_unfiltered_frequencies_are_where_the_window_is_one_strictly_inside(window) -> None:
    n = (16, 21)
    keep = unfiltered_frequencies(GRID, n, hamming=window.hamming_filter, elliptical=window.ellipse)
    w = acquisition_window(GRID, n, hamming=window.hamming_filter, elliptical=window.ellipse)
    assert keep.dtype == bool and (w[keep] == 1).all()
    assert not keep[GRID[0] // 2 - 8].any()  # the even axis' Nyquist line is not its own datum
    if window.hamming_filter:
        assert keep.sum() == 1 and keep[GRID[0] // 2, GRID[1] // 2]


# A regression guard: the default dataset draws exactly what it drew before acquisition
# windows existed (digest first computed with the code of main at commit e80c5f7). Since the
# Dataset divides by predict's float64 scale (mrsisr.data.inputs), lr and hr differ from then
# in the last float32 bit; the old digest, 4d6bac77..., is that of the same draws divided by
# the float32-rounded scale.
DEFAULT_SAMPLES_SHA256 = "06b677d68dae768b1510b182a5431505ff0b3f9cb44c47fe36d8aa958c6dfd70"


def test_default_samples_are_bit_identical_to_those_before_windows_existed() -> None:
    ds = MRSIDataset([make_patient("A01", seed=4)], augment=True, seed=3, target="measured")
    ds.set_epoch(2)
    digest = hashlib.sha256()
    for i in range(0, len(ds), 7):
        sample = ds[i]
        assert int(sample.window) == 0
        for name in (*FIELDS, "present"):
            digest.update(getattr(sample, name).numpy().tobytes())
    assert digest.hexdigest() == DEFAULT_SAMPLES_SHA256


def test_windows_change_the_input_only_and_draw_from_their_own_stream() -> None:
    patients = [make_patient("A01", shape=(21, 20, 3), seed=1, metabolites=METABOLITES[:2])]
    kwargs = dict(augment=True, seed=5, n_choices=[8, 11, 12])
    plain = MRSIDataset(patients, **kwargs)
    mixed = MRSIDataset(patients, window_probs=(0.1, 0.3, 0.3, 0.3), **kwargs)
    again = MRSIDataset(patients, window_probs=(0.1, 0.3, 0.3, 0.3), **kwargs)
    codes = []
    for i in range(len(plain)):
        a, b, c = plain[i], mixed[i], again[i]
        window = WINDOWS[int(b.window)]
        codes.append(int(b.window))
        assert int(b.window) == int(c.window) and torch.equal(b.lr, c.lr)  # deterministic
        for name in ("t1", "flair", "mask", "n", "met", "lam", "present"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        np.testing.assert_allclose(b.hr * b.scale, a.hr * a.scale, rtol=1e-6)  # the same target
        n = tuple(int(v) for v in a.n)
        expected = acquire((a.lr * a.scale)[0].double().numpy(), n, window)  # a.lr is P_n hr
        got = (b.lr * b.scale)[0].double().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    draws = [mixed.draw_window(i) for i in range(400)]
    assert [d.code for d in draws[: len(codes)]] == codes
    counts = np.bincount([d.code for d in draws], minlength=4) / len(draws)
    np.testing.assert_allclose(counts, [0.1, 0.3, 0.3, 0.3], atol=0.08)
    mixed.set_epoch(1)
    assert [mixed.draw_window(i) for i in range(400)] != draws  # epochs reseed


def test_window_probs_are_checked_by_the_dataset_and_the_config() -> None:
    with pytest.raises(ValueError, match="window_probs must be 4 probabilities"):
        MRSIDataset([make_patient("A01")], window_probs=(0.5, 0.5))
    config = TrainConfig(data=DataConfig(window_probs=(0.5, 0.6, 0.0, 0.0)))
    with pytest.raises(UserError, match=r"data\.window_probs"):
        check_config(config)
    check_config(TrainConfig(data=DataConfig(window_probs=(0.25, 0.25, 0.25, 0.25))))


def test_data_consistency_keeps_exactly_the_unfiltered_frequencies() -> None:
    rng = np.random.default_rng(2)
    hr = rng.normal(size=GRID)
    n = torch.tensor([[16, 20]] * 4)
    lr = torch.stack([torch.from_numpy(acquire(hr, (16, 20), w))[None] for w in WINDOWS])
    x = torch.randn(4, 1, *GRID, dtype=torch.float64)
    dc = DataConsistency(GRID).to(torch.float64)
    out = dc(x, lr, n, torch.arange(4))
    assert torch.equal(out[:1], dc(x[:1], lr[:1], n[:1]))  # code 0: the exact DC
    for i, w in enumerate(WINDOWS[1:], start=1):
        keep = torch.from_numpy(
            unfiltered_frequencies(GRID, (16, 20), hamming=w.hamming_filter, elliptical=w.ellipse)
        )
        k_out, k_lr, k_x = fft2c(out[i, 0]), fft2c(lr[i, 0]), fft2c(x[i, 0])
        np.testing.assert_allclose(k_out[keep], k_lr[keep], atol=1e-12)  # measured: kept
        np.testing.assert_allclose(k_out[~keep], k_x[~keep], atol=1e-12)  # the rest: free
    # No window, or all-zero codes: the same bytes as before the option existed.
    assert torch.equal(dc(x, lr, n, torch.zeros(4, dtype=torch.int64)), dc(x, lr, n))


def test_the_generator_passes_windows_to_its_data_consistency() -> None:
    from mrsisr.nn.variants import build_generator

    torch.manual_seed(0)
    model = build_generator("unconditioned", grid=(16, 16), channels=(4, 8)).eval()
    patient = make_patient("A01", shape=(16, 16, 5))
    ds = MRSIDataset([patient], n_choices=[8, 10], window_probs=(0, 0, 1, 0))
    batch = next(iter(DataLoader(ds, batch_size=2)))
    args = (batch.lr, batch.t1, batch.flair, batch.mask, batch.n, batch.met, batch.lam)
    with torch.no_grad():
        out = model(*args, window=batch.window)
        free = model(*args)
    assert not torch.equal(out, free)
    with pytest.raises(ValueError, match="window must be an integer"):
        model(*args, window=torch.tensor([0.0, 1.0]))


def test_the_engine_passes_windows_only_when_a_batch_has_one() -> None:
    from mrsisr.train.engine import window_kwargs

    patient = make_patient("A01", shape=(16, 16, 5))
    plain = next(iter(DataLoader(MRSIDataset([patient], n_choices=[8]), batch_size=3)))
    assert window_kwargs(plain) == {}  # generators are called exactly as before
    assert window_kwargs(plain._replace(window=None)) == {}
    ds = MRSIDataset([patient], n_choices=[8], window_probs=(0, 1, 0, 0))
    windowed = next(iter(DataLoader(ds, batch_size=3)))
    assert torch.equal(window_kwargs(windowed)["window"], torch.ones(3, dtype=torch.int64))
