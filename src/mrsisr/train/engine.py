"""The training step: a generator trained with a masked reconstruction loss and, optionally, a
Wasserstein critic with gradient penalty (WGAN-GP, Gulrajani et al. 2017).

The trainer is given its parts (networks, optimisers, loss); it owns no files, no logging and
no state of the current batch, so the same object serves one process, a DDP rank or a test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

from mrsisr.train.losses import (
    ReconstructionLoss,
    critic_wasserstein_loss,
    gradient_penalty,
    loss_data_range,
    weighted_adversarial_loss,
)

if TYPE_CHECKING:
    from mrsisr.data.dataset import Sample

MetricFn = Callable[..., torch.Tensor]
"""A metric ``fn(pred, target, data_range, mask=...) -> (B,)``."""

__all__ = ["GanTrainer", "batch_to", "present", "unwrap"]


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` (or similar) wrapper."""
    return getattr(module, "module", module)


def present(batch: Sample) -> torch.Tensor | None:
    """The batch's ``(B, 2)`` image-presence flags, or ``None`` (both images) if it has none."""
    return getattr(batch, "present", None)


def window_kwargs(batch: Sample) -> dict[str, torch.Tensor]:
    """``{"window": codes}`` for a batch with a windowed acquisition (``data.window_probs``),
    else ``{}``: generators are then called exactly as before the option existed."""
    window = getattr(batch, "window", None)
    return {"window": window} if window is not None and bool((window != 0).any()) else {}


def batch_to(batch: Sample, device: torch.device) -> Sample:
    """Move every tensor field of a NamedTuple batch to ``device`` (other fields unchanged)."""
    moved = [v.to(device, non_blocking=True) if torch.is_tensor(v) else v for v in batch]
    return type(batch)._make(moved)


class GanTrainer:
    """One optimisation step of the generator, preceded by ``n_critic`` critic updates.

    Without a critic (``critic=None``) the step is plain supervised training and the
    generator never sees an adversarial gradient. With a critic, each batch first trains the
    critic ``n_critic`` times on (ground truth, detached generator output), then the generator
    minimises the reconstruction loss plus ``mean_b lam_b * (-critic(fake_b))``.

    Args:
        generator: ``generator(lr, t1, flair, mask, n, met, lam, present) -> (B, 1, N_y, N_x)``.
        g_optimizer: optimiser of the generator's parameters.
        loss: the reconstruction loss.
        critic: ``critic(t1, flair, lr, x) -> (B,)`` or ``(B, 1)``; ``None`` for no GAN.
        d_optimizer: optimiser of the critic's parameters (required with a critic).
        n_critic: critic updates per generator update (5 in the authors' code).
        gp_weight: weight of the gradient penalty (10 in WGAN-GP).
    """

    def __init__(
        self,
        generator: nn.Module,
        g_optimizer: torch.optim.Optimizer,
        loss: ReconstructionLoss,
        critic: nn.Module | None = None,
        d_optimizer: torch.optim.Optimizer | None = None,
        *,
        n_critic: int = 5,
        gp_weight: float = 10.0,
    ) -> None:
        if (critic is None) != (d_optimizer is None):
            raise ValueError("critic and d_optimizer must be given together (or both None)")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if gp_weight < 0:
            raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
        self.generator = generator
        self.g_optimizer = g_optimizer
        self.loss = loss
        self.critic = critic
        self.d_optimizer = d_optimizer
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)

    @property
    def adversarial(self) -> bool:
        """Whether this trainer has a critic."""
        return self.critic is not None

    def train_step(self, batch: Sample, rng: torch.Generator) -> dict[str, float]:
        """Update the critic (if any) then the generator on one batch.

        Args:
            batch: a :class:`~mrsisr.data.dataset.Sample` batch on the networks' device.
            rng: CPU generator for the gradient-penalty interpolation (derive it from the
                seed and step so that a resumed run draws the same numbers).

        Returns:
            Scalar floats: ``loss``, ``l1``, ``ms_ssim`` and, with a critic, ``adv``,
            ``critic``, ``gp`` and ``wdist`` (the critic's Wasserstein estimate).
        """
        self.generator.train()
        fake = self.generator(
            batch.lr,
            batch.t1,
            batch.flair,
            batch.mask,
            batch.n,
            batch.met,
            batch.lam,
            present(batch),
            **window_kwargs(batch),
        )
        target = batch.hr * batch.mask
        logs: dict[str, float] = {}
        if self.critic is not None and self.d_optimizer is not None:
            logs.update(
                self._critic_updates(
                    self.critic, self.d_optimizer, batch, target, fake.detach(), rng
                )
            )
        terms = self.loss(fake, target, batch.mask)
        total = terms.total.mean()
        if self.critic is not None:
            adv = self._adversarial_term(self.critic, batch, fake)
            total = total + adv
            logs["adv"] = float(adv.detach())
        self.g_optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.g_optimizer.step()
        logs.update(
            loss=float(total.detach()),
            l1=float(terms.l1.detach().mean()),
            ms_ssim=float(terms.ms_ssim.detach().mean()),
        )
        return logs

    def _critic_updates(
        self,
        critic: nn.Module,
        optimizer: torch.optim.Optimizer,
        batch: Sample,
        real: torch.Tensor,
        fake: torch.Tensor,
        rng: torch.Generator,
    ) -> dict[str, float]:
        """``n_critic`` WGAN-GP updates: (real, fake) in one forward, interpolations in another."""
        critic.train()
        size = real.shape[0]
        cond = (batch.t1, batch.flair, batch.lr)
        pair_cond = [torch.cat([c, c]) for c in cond]
        pair = torch.cat([real, fake])
        totals = {"critic": 0.0, "gp": 0.0, "wdist": 0.0}
        for _ in range(self.n_critic):
            eps = torch.rand(size, 1, 1, 1, generator=rng).to(real.device, real.dtype)
            interp = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
            # Two forwards: only the interpolated third needs the double-backward graph.
            real_s, fake_s = critic(*pair_cond, pair).reshape(-1).split(size)
            interp_s = critic(*cond, interp).reshape(-1)
            wasserstein = critic_wasserstein_loss(real_s, fake_s)
            penalty = gradient_penalty(interp_s, interp)
            loss = wasserstein + self.gp_weight * penalty
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals["critic"] += float(loss.detach())
            totals["gp"] += float(penalty.detach())
            totals["wdist"] += float(-wasserstein.detach())
        return {k: v / self.n_critic for k, v in totals.items()}

    def _adversarial_term(
        self, critic: nn.Module, batch: Sample, fake: torch.Tensor
    ) -> torch.Tensor:
        """``mean_b lam_b * (-critic(fake_b))``; exactly zero (no critic call) if all lam are 0."""
        if not bool((batch.lam > 0).any()):
            return fake.new_zeros(())
        critic = unwrap(critic)  # no DDP sync: the critic is not updated here
        params = list(critic.parameters())
        for p in params:
            p.requires_grad_(False)
        try:
            scores = critic(batch.t1, batch.flair, batch.lr, fake)
        finally:
            for p in params:
                p.requires_grad_(True)
        return weighted_adversarial_loss(scores, batch.lam)

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Sample], metrics: dict[str, MetricFn]) -> dict[str, float]:
        """Sum the validation loss and metrics over ``batches``, at lambda = 0.

        Args:
            batches: :class:`~mrsisr.data.dataset.Sample` batches on the generator's device.
            metrics: name -> ``fn(pred, target, data_range, mask=...) -> (B,)`` computed on the
                de-normalised maps (multiplied by ``Sample.scale``) inside the mask, with
                ``data_range`` = max - min of the target inside the mask, per sample.

        Returns:
            Sums over samples of ``loss``, ``l1``, ``ms_ssim`` and each metric, plus ``count``
            (divide to average; sums let distributed ranks add their shares).
        """
        self.generator.eval()
        sums: dict[str, float] = {"count": 0.0, "loss": 0.0, "l1": 0.0, "ms_ssim": 0.0}
        sums.update({name: 0.0 for name in metrics})
        for batch in batches:
            lam = torch.zeros_like(batch.lam)
            pred = self.generator(
                batch.lr, batch.t1, batch.flair, batch.mask, batch.n, batch.met, lam, present(batch)
            )
            target = batch.hr * batch.mask
            terms = self.loss(pred, target, batch.mask)
            sums["count"] += float(target.shape[0])
            sums["loss"] += float(terms.total.sum())
            sums["l1"] += float(terms.l1.sum())
            sums["ms_ssim"] += float(terms.ms_ssim.sum())
            scale = batch.scale.reshape(-1, 1, 1, 1).to(pred.dtype)
            pred_d, target_d = pred * scale, target * scale
            data_range = loss_data_range(target_d, batch.mask)
            for name, fn in metrics.items():
                sums[name] += float(fn(pred_d, target_d, data_range, mask=batch.mask).sum())
        return sums
