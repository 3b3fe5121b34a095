"""The conditional WGAN-GP critic of Dong et al. (MICCAI 2022; Gulrajani et al. NeurIPS 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr.nn.config import CriticConfig

__all__ = ["Critic"]


class Critic(nn.Module):
    """Scores a map given its anatomy and its low-resolution input; not conditioned on n, m, λ.

    The input is ``[T1, FLAIR, LR, map]`` (4 channels). Four kernel-4, stride-2 convolutions
    (no bias; 32, 64, 128, 256 channels), each followed by instance normalisation and
    LeakyReLU(0.2), then average pooling to ``pooled`` (a no-op for a 64 x 64 grid), a fully
    connected layer to 16, LeakyReLU(0.2), and one to the score. Instance rather than batch
    normalisation keeps the samples independent, as the gradient penalty requires.

    Args:
        config: :class:`~mrsisr.nn.config.CriticConfig`.
    """

    in_channels = 4

    def __init__(self, config: CriticConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else CriticConfig()
        widths = (self.in_channels, *cfg.channels)
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False)
            for i in range(len(cfg.channels))
        )
        self.fc1 = nn.Linear(cfg.channels[-1] * cfg.pooled[0] * cfg.pooled[1], cfg.hidden)
        self.fc2 = nn.Linear(cfg.hidden, 1)

    def forward(
        self, t1: torch.Tensor, flair: torch.Tensor, lr: torch.Tensor, x: torch.Tensor
    ) -> torch.Tensor:
        """Score maps.

        Args:
            t1: ``(B, 1, N_y, N_x)``.
            flair: ``(B, 1, N_y, N_x)``.
            lr: zero-filled low-resolution input ``(B, 1, N_y, N_x)``.
            x: generator output or ground truth ``(B, 1, N_y, N_x)``.

        Returns:
            ``(B,)`` scores (higher: more like the ground truth).
        """
        shapes = {tuple(v.shape) for v in (t1, flair, lr, x)}
        if len(shapes) != 1 or len(x.shape) != 4 or x.shape[1] != 1:
            raise ValueError(
                "t1, flair, lr and x must all have the same shape (B, 1, N_y, N_x); got "
                + ", ".join(str(tuple(v.shape)) for v in (t1, flair, lr, x))
            )
        h = torch.cat([t1, flair, lr, x], dim=1)
        for conv in self.convs:
            h = F.leaky_relu(F.instance_norm(conv(h)), 0.2)
        h = F.adaptive_avg_pool2d(h, self.config.pooled).flatten(1)
        return self.fc2(F.leaky_relu(self.fc1(h), 0.2)).squeeze(1)
