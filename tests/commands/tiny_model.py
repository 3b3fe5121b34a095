"""A tiny model of the full variant for the predict tests (fast on a CPU)."""

from __future__ import annotations

from pathlib import Path

import torch

from mrsisr.checkpoint import save_model
from mrsisr.nn.variants import build_generator

GRID = (32, 32)
TINY = dict(grid=list(GRID), channels=[4, 8], mlp_depth=1, filter_latent=4, norm_latent=4)


def save_tiny_model(path: Path) -> Path:
    """Write the tiny model, its weights perturbed so that every condition (λ too) acts."""
    torch.manual_seed(0)
    model = build_generator("full", **TINY).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn_like(param))
    save_model(path, model, "full", TINY, {"purpose": "tests"})
    return path
