"""Training losses: masked L1 + MS-SSIM reconstruction loss and the WGAN-GP terms.

The generator loss of Dong et al. (MICCAI 2022, Eq. 4) is

    (1 - alpha) * L1 + alpha * (1 - MS-SSIM) + lambda * L_adv,

with ``alpha = 0.84``. Here every term is computed per sample and inside the quality mask:

* L1 is the mean absolute error over the mask voxels of each sample;
* MS-SSIM comes from :func:`mrsisr.metrics.ms_ssim` with the mask, and an explicit
  per-sample ``data_range`` = max - min of the target inside its mask (the authors' choice of
  range, made per sample so a batch that mixes metabolites treats each map alike);
* the adversarial term is the Wasserstein generator loss ``-critic(fake)`` weighted by each
  sample's own lambda (Gulrajani et al. 2017, gradient penalty weight 10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from mrsisr.metrics import masked_data_range, masked_mean

__all__ = [
    "ReconstructionLoss",
    "ReconstructionTerms",
    "critic_wasserstein_loss",
    "gradient_penalty",
    "loss_data_range",
    "masked_l1",
    "weighted_adversarial_loss",
]

_MIN_RANGE = 1e-3


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the mask voxels of each sample.

    Args:
        pred: estimate ``(B, 1, N_y, N_x)``.
        target: ground truth ``(B, 1, N_y, N_x)``.
        mask: ``(B, 1, N_y, N_x)`` in {0, 1}; an empty mask gives 0.

    Returns:
        ``(B,)`` per-sample mean absolute error.
    """
    weight = mask.to(pred.dtype)
    mean = masked_mean((pred - target).abs(), weight)
    return torch.where(weight.flatten(1).sum(1) > 0, mean, torch.zeros_like(mean))


def loss_data_range(target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The MS-SSIM loss's data range: :func:`mrsisr.metrics.masked_data_range`, made positive.

    A loss needs a finite, positive scale where the metric is undefined: a sample with an
    empty mask takes the range of its whole map, and every range is at least 1e-3.

    Args:
        target: ``(B, 1, N_y, N_x)``.
        mask: ``(B, 1, N_y, N_x)`` in {0, 1}.

    Returns:
        ``(B,)`` data ranges.
    """
    inside = masked_data_range(target, mask)
    whole = target.flatten(1).amax(1) - target.flatten(1).amin(1)
    return torch.where(torch.isnan(inside), whole, inside).clamp_min(_MIN_RANGE)


class ReconstructionTerms(NamedTuple):
    """Per-sample terms of the reconstruction loss, each ``(B,)``."""

    total: torch.Tensor
    l1: torch.Tensor
    ms_ssim: torch.Tensor


MsSsim = Callable[..., torch.Tensor]


class ReconstructionLoss(nn.Module):
    """``(1 - alpha) * L1 + alpha * (1 - MS-SSIM)`` inside the mask, per sample.

    Args:
        alpha: weight of the structural term, in [0, 1] (0.84 in the paper).
        ms_ssim: ``ms_ssim(pred, target, data_range, mask=...) -> (B,)``; defaults to
            :func:`mrsisr.metrics.ms_ssim`. Not called when ``alpha == 0``.
    """

    def __init__(self, alpha: float = 0.84, ms_ssim: MsSsim | None = None) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if ms_ssim is None:
            from mrsisr.metrics import ms_ssim as default_ms_ssim

            ms_ssim = default_ms_ssim
        self.alpha = float(alpha)
        self._ms_ssim = ms_ssim

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
    ) -> ReconstructionTerms:
        """Compute the loss terms.

        Args:
            pred: generator output ``(B, 1, N_y, N_x)`` (normalised).
            target: ground truth ``(B, 1, N_y, N_x)`` (normalised the same way).
            mask: ``(B, 1, N_y, N_x)`` in {0, 1}.

        Returns:
            :class:`ReconstructionTerms` of ``(B,)`` tensors.
        """
        l1 = masked_l1(pred, target, mask)
        if self.alpha > 0:
            data_range = loss_data_range(target, mask)
            similarity = self._ms_ssim(pred, target, data_range, mask=mask)
        else:
            similarity = torch.ones_like(l1)
        total = (1.0 - self.alpha) * l1 + self.alpha * (1.0 - similarity)
        return ReconstructionTerms(total=total, l1=l1, ms_ssim=similarity)


def weighted_adversarial_loss(fake_scores: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Wasserstein generator loss weighted per sample: ``mean_b lam_b * (-critic(fake_b))``.

    Args:
        fake_scores: critic scores of the generator outputs, ``(B,)`` or ``(B, 1)``.
        lam: per-sample adversarial weights ``(B,)``.

    Returns:
        Scalar loss; samples with ``lam == 0`` contribute exactly nothing.
    """
    return (lam.to(fake_scores.dtype) * -fake_scores.reshape(-1)).mean()


def critic_wasserstein_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss ``mean(critic(fake)) - mean(critic(real))`` (minimised by the critic)."""
    return fake_scores.reshape(-1).mean() - real_scores.reshape(-1).mean()


def gradient_penalty(interp_scores: torch.Tensor, interp: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty ``mean((||d critic / d x||_2 - 1)^2)`` at the interpolated samples.

    Args:
        interp_scores: critic scores ``(B,)`` or ``(B, 1)`` of ``interp``.
        interp: the interpolated inputs ``(B, 1, N_y, N_x)`` (``requires_grad=True``) the
            scores were computed from.

    Returns:
        Scalar penalty, differentiable with respect to the critic's parameters.
    """
    (grad,) = torch.autograd.grad(interp_scores.sum(), interp, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
