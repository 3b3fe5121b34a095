"""Test-time augmentation and propagated fitting noise: exactness, equivariance, statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mrsisr import kspace
from mrsisr.inference import Anatomy, Precision, Predictor
from mrsisr.nn.dc import DataConsistency
from mrsisr.uncertainty import propagate_fit, super_resolve_with_uncertainty, tta
from tiny_model import perturbed_generator

GRID = (16, 16)


class BlurNet(nn.Module):
    """A linear network that commutes with every symmetry: a circular 3 x 3 binomial blur of
    the map (symmetric about its centre), data consistency with the sample's own ``n``, mask.
    Using the wrong ``n`` for a transposed rectangular acquisition breaks the equivariance."""

    def __init__(self) -> None:
        super().__init__()
        self.dc = DataConsistency(GRID)

    def forward(self, lr, t1, flair, mask, n, met, lam):
        out = lr
        for dim in (-2, -1):
            out = 0.5 * out + 0.25 * (out.roll(1, dim) + out.roll(-1, dim))
        return self.dc(out, lr, n) * mask


def _anatomy(slices: int, seed: int = 0) -> Anatomy:
    rng = np.random.default_rng(seed)
    shape = (*GRID, slices)
    mask = np.zeros(shape, dtype=bool)
    mask[3:-2, 2:-3, :] = True  # not symmetric: the mask must move with the input
    t1 = (rng.random(shape) * mask).astype(np.float32)
    return Anatomy(t1=t1, flair=(1 - t1) * mask, mask=mask, mask_source="test")


def _lr(n, slices: int, seed: int = 1) -> np.ndarray:
    return 2.0 + np.random.default_rng(seed).random((*n, slices))


@pytest.fixture(scope="module")
def trained_like() -> Predictor:
    """A tiny 'full' generator with perturbed parameters: not equivariant."""
    return Predictor(perturbed_generator(GRID), GRID)


@pytest.mark.parametrize("n", [(8, 8), (7, 7), (6, 11), (16, 16)])
def test_tta_of_an_equivariant_network_has_zero_sd(n):
    predictor = Predictor(BlurNet(), GRID, batch_size=5)
    lr, anatomy = _lr(n, 3), _anatomy(3)
    est = tta(predictor, lr, "Gln", anatomy, (0.0, 0.05))
    plain = predictor.super_resolve(lr, "Gln", anatomy, (0.0, 0.05))
    assert est.mean.shape == est.sd.shape == plain.shape == (2, *GRID, 3)
    np.testing.assert_allclose(est.mean, plain, atol=1e-5)
    assert est.sd.max() < 1e-5 * np.abs(plain).max()


def test_tta_of_a_real_network_agrees_on_the_measured_frequencies(trained_like):
    n = (7, 10)
    lr, anatomy = _lr(n, 4), _anatomy(4)
    est = tta(trained_like, lr, "tCho", anatomy, (0.0, 0.1))
    assert est.sd.min() >= 0
    assert est.sd.max() > 1e-3  # the network is not equivariant
    for li in range(2):
        for s in range(4):
            np.testing.assert_allclose(
                kspace.degrade(est.mean[li, :, :, s].astype(np.float64), n), lr[:, :, s], atol=1e-5
            )
    # Each variant, made consistent after T^-1, holds the measurement exactly, so the
    # spread lives only in the frequencies the network added.
    from mrsisr.symmetry import symmetries_of

    measured = np.moveaxis(lr, 2, 0)
    inputs, scale = trained_like.network_inputs(measured, anatomy)
    for sym in symmetries_of(GRID)[1:3]:
        sizes = np.broadcast_to(np.array(sym.size(n)), (4, 2))
        out = sym.invert(trained_like.estimate(sym.apply(inputs), sizes, 1, [0.0]))[0]
        variant = kspace.data_consistency(out * scale[:, None, None], measured)
        np.testing.assert_allclose(kspace.degrade(variant, n), measured, atol=1e-9)


def test_fit_propagation_with_zero_sd_is_the_plain_prediction(trained_like):
    n = (8, 8)
    lr, anatomy = _lr(n, 2), _anatomy(2)
    est = propagate_fit(trained_like, lr, np.zeros_like(lr), "Gln", anatomy, (0.0,), draws=3)
    plain = trained_like.super_resolve(lr, "Gln", anatomy, (0.0,))
    np.testing.assert_allclose(est.mean, plain, atol=1e-5)
    assert est.sd.max() < 1e-12


def test_fit_propagation_matches_the_linear_noise_propagation():
    """For a linear network the output SD is sqrt(J² · sd²), J the Jacobian of the whole
    prediction (normalisation, network, data consistency); the Monte Carlo SD matches it."""
    n, slices = (6, 6), 1
    predictor = Predictor(BlurNet(), GRID, batch_size=512)
    lr, anatomy = _lr(n, slices), _anatomy(slices)
    sd = 0.1 + 0.2 * np.random.default_rng(5).random(lr.shape)
    base = predictor.super_resolve(lr, "Gln", anatomy)[0, :, :, 0].astype(np.float64)
    jac = np.empty((GRID[0] * GRID[1], n[0] * n[1]))
    for j in range(n[0] * n[1]):
        step = np.zeros(lr.shape)
        step.reshape(-1)[j] = 1.0
        out = predictor.super_resolve(lr + step, "Gln", anatomy)[0, :, :, 0]
        jac[:, j] = (out - base).reshape(-1)
    expected = np.sqrt((jac**2) @ (sd.reshape(-1) ** 2)).reshape(GRID)
    est = propagate_fit(predictor, lr, sd, "Gln", anatomy, draws=800, rng=np.random.default_rng(0))
    inside = expected > 0.05 * expected.max()
    ratio = est.sd[0, :, :, 0][inside] / expected[inside]
    assert abs(np.median(ratio) - 1) < 0.03  # 800 draws: SD to 2.5 % per voxel
    assert np.all(np.abs(ratio - 1) < 0.2)
    np.testing.assert_allclose(est.mean[0, :, :, 0], base, atol=0.05)


def test_draws_are_repeatable_and_seeded(trained_like):
    n = (8, 8)
    lr, anatomy = _lr(n, 2), _anatomy(2)
    sd = np.full(lr.shape, 0.2)
    a = propagate_fit(trained_like, lr, sd, "Gln", anatomy, draws=4)
    b = propagate_fit(trained_like, lr, sd, "Gln", anatomy, draws=4)
    c = propagate_fit(trained_like, lr, sd, "Gln", anatomy, draws=4, rng=np.random.default_rng(9))
    assert np.array_equal(a.sd, b.sd)
    assert not np.array_equal(a.sd, c.sd)


def test_bf16_stays_close_to_fp32(trained_like):
    n = (8, 8)
    lr, anatomy = _lr(n, 2), _anatomy(2)
    fp32 = trained_like.super_resolve(lr, "Gln", anatomy)
    half = Predictor(trained_like.model, GRID, precision=Precision.bf16)
    bf16 = half.super_resolve(lr, "Gln", anatomy)
    assert not np.array_equal(bf16, fp32)  # it does run in bfloat16
    assert np.abs(bf16 - fp32).max() < 0.05 * np.abs(fp32).max()
    for s in range(2):  # the final data consistency is float64 in both
        np.testing.assert_allclose(
            kspace.degrade(bf16[0, :, :, s].astype(np.float64), n), lr[:, :, s], atol=1e-5
        )


def test_arguments_are_checked(trained_like):
    lr, anatomy = _lr((8, 8), 2), _anatomy(2)
    with pytest.raises(ValueError, match="valid: tta, fit"):
        super_resolve_with_uncertainty(trained_like, "ensemble", lr, "Gln", anatomy)
    with pytest.raises(ValueError, match="needs the SD map"):
        super_resolve_with_uncertainty(trained_like, "fit", lr, "Gln", anatomy)
    with pytest.raises(ValueError, match="shape"):
        propagate_fit(trained_like, lr, np.ones((8, 8, 3)), "Gln", anatomy)
    with pytest.raises(ValueError, match="finite and >= 0"):
        propagate_fit(trained_like, lr, -np.ones_like(lr), "Gln", anatomy)
    with pytest.raises(ValueError, match="draws"):
        propagate_fit(trained_like, lr, np.ones_like(lr), "Gln", anatomy, draws=1)


def test_precision_auto_follows_the_hardware(monkeypatch, trained_like):
    import mrsisr.inference as inference

    cpu = torch.device("cpu")
    assert inference.resolve_precision("fp32", cpu) is Precision.fp32
    assert inference.resolve_precision("bf16", cpu) is Precision.bf16
    for native, expected in ((True, Precision.bf16), (False, Precision.fp32)):
        monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda native=native: native)
        assert inference.resolve_precision("auto", cpu) is expected
        assert Predictor(trained_like.model, GRID, precision="auto").precision is expected
    with pytest.raises(ValueError, match="valid: fp32, bf16, auto"):
        inference.resolve_precision("fp16", cpu)
