"""Losses against NumPy references and the properties the recipe relies on."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from mrsisr.metrics import ms_ssim, ms_ssim_weights
from mrsisr.train.losses import (
    ReconstructionLoss,
    critic_wasserstein_loss,
    gradient_penalty,
    loss_data_range,
    masked_l1,
    weighted_adversarial_loss,
)


@pytest.fixture
def pair():
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(3, 1, 33, 37, generator=gen)
    target = torch.rand(3, 1, 33, 37, generator=gen)
    mask = (torch.rand(3, 1, 33, 37, generator=gen) > 0.3).float()
    mask[2] = 0  # an empty mask
    return pred, target, mask


def test_masked_l1_matches_numpy_mean_over_mask_voxels(pair):
    pred, target, mask = pair
    got = masked_l1(pred, target, mask).numpy()
    for b in range(2):
        inside = mask[b, 0].numpy() > 0
        expected = np.abs(pred[b, 0].numpy() - target[b, 0].numpy())[inside].mean()
        assert got[b] == pytest.approx(expected, rel=1e-5)
    assert got[2] == 0.0


def test_masked_data_range_is_max_minus_min_inside_the_mask(pair):
    _, target, mask = pair
    got = loss_data_range(target, mask).numpy()
    inside = target[0, 0].numpy()[mask[0, 0].numpy() > 0]
    assert got[0] == pytest.approx(inside.max() - inside.min(), rel=1e-6)
    whole = target[2].numpy()
    assert got[2] == pytest.approx(whole.max() - whole.min(), rel=1e-6)


def test_reconstruction_loss_weights_l1_and_ms_ssim(pair):
    pred, target, mask = pair
    pred, target, mask = pred[:2], target[:2], mask[:2]
    similarity_fn = functools.partial(ms_ssim, weights=ms_ssim_weights(2), win_size=7)
    loss = ReconstructionLoss(alpha=0.84, ms_ssim=similarity_fn)
    terms = loss(pred, target, mask)
    similarity = similarity_fn(pred, target, loss_data_range(target, mask), mask=mask)
    expected = 0.16 * masked_l1(pred, target, mask) + 0.84 * (1 - similarity)
    torch.testing.assert_close(terms.total, expected)
    zero = loss(target, target, mask)
    torch.testing.assert_close(zero.total, torch.zeros(2), atol=1e-6, rtol=0)


def test_alpha_outside_unit_interval_is_rejected():
    with pytest.raises(ValueError, match="alpha"):
        ReconstructionLoss(alpha=1.5, ms_ssim=lambda *a, **k: None)


def test_adversarial_loss_is_weighted_per_sample_and_zero_lambda_gives_no_gradient():
    scores = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    lam = torch.tensor([0.0, 0.05, 0.1])
    loss = weighted_adversarial_loss(scores, lam)
    assert loss.item() == pytest.approx((0.05 * 2.0 - 0.1 * 3.0) / 3)
    loss.backward()
    torch.testing.assert_close(scores.grad, -lam / 3)
    assert scores.grad[0] == 0


def test_critic_loss_is_the_negative_wasserstein_estimate():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([[1.0], [0.0]])
    assert critic_wasserstein_loss(real, fake).item() == pytest.approx(0.5 - 3.0)


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_minus_one_squared():
    weight = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    weight.requires_grad_(True)
    interp = torch.rand(4, 1, 8, 8, requires_grad=True)
    scores = (interp * weight).flatten(1).sum(1)
    penalty = gradient_penalty(scores, interp)
    expected = (weight.detach().norm() - 1) ** 2
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    penalty.backward()  # differentiable with respect to the critic's parameters
    torch.testing.assert_close(weight.grad, 2 * (1 - 1 / weight.detach().norm()) * weight.detach())
