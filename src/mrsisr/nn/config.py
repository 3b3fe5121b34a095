"""Architecture options of the generator and the critic: the single source of their defaults.

Both are plain dataclasses whose fields are JSON/TOML friendly; lists given for tuple fields
(as a TOML file or a model file's JSON header gives them) are turned into tuples, and every
value is checked when the object is made, so a bad option fails before any tensor exists.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from mrsisr.options import parse_enum

__all__ = ["IMAGE_INPUTS", "ConvImpl", "CriticConfig", "GeneratorConfig"]

IMAGE_INPUTS = ("lr", "t1", "flair")
"""Images an encoder can take (the generator's first three arguments)."""


class ConvImpl(str, enum.Enum):
    """How a convolution with per-sample weights runs (same numbers, different speed)."""

    grouped = "grouped"
    """The batch folded into the groups of one grouped convolution (fast)."""
    loop = "loop"
    """One convolution per sample (the simple reference)."""

    def __str__(self) -> str:
        return self.value


def _int_tuple(value: Any, name: str, length: int | None = None) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of integers, got {value!r}") from None
    if (length is not None and len(out) != length) or not out or min(out) < 1:
        what = f"{length} positive integers" if length else "positive integers"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return out


@dataclass
class GeneratorConfig:
    """Options of the multi-encoder UNet (every variant; a variant ignores what it lacks)."""

    grid: tuple[int, int] = (64, 64)
    """High-resolution grid ``(N_y, N_x)``; each divisible by ``2 ** (len(channels) - 1)``."""
    channels: tuple[int, ...] = (8, 16, 32, 64, 128)
    """Feature channels per level, finest first (the last level is the bottleneck)."""
    encoders: tuple[tuple[str, ...], ...] = (("lr", "t1"), ("lr", "flair"))
    """Input images of each encoder (names from ``lr``, ``t1``, ``flair``)."""
    mlp_depth: int = 4
    """Fully-connected layers in each conditioning trunk (on n, on E(m), on lambda)."""
    filter_latent: int = 32
    """Width of the filter-scaling / hypernetwork trunks (and of the AMLayer MLPs)."""
    norm_latent: int = 64
    """Width of the trunk on lambda that drives conditional instance normalisation."""
    met_embedding: int = 3
    """Length of the learned metabolite embedding E(m)."""
    lam_scale: float = 0.1
    """Lambda is divided by this before the fully-connected layers (training range max)."""
    conv_impl: ConvImpl = ConvImpl.grouped
    """Per-sample convolutions: ``grouped`` (fast) or ``loop`` (reference)."""

    def __post_init__(self) -> None:
        self.grid = _int_tuple(self.grid, "grid", 2)
        self.channels = _int_tuple(self.channels, "channels")
        if len(self.channels) < 2:
            raise ValueError(f"channels needs at least 2 levels, got {self.channels!r}")
        factor = 2 ** (len(self.channels) - 1)
        if any(size % factor for size in self.grid):
            raise ValueError(
                f"grid {self.grid} must be divisible by {factor} "
                f"(2 ** (levels - 1) for {len(self.channels)} levels)"
            )
        if isinstance(self.encoders, str) or not self.encoders:
            raise ValueError(
                f"encoders must be a non-empty list of image lists, got {self.encoders!r}"
            )
        encoders = []
        for images in self.encoders:
            names = (images,) if isinstance(images, str) else tuple(str(v) for v in images)
            unknown = [v for v in names if v not in IMAGE_INPUTS]
            if not names or unknown or len(set(names)) != len(names):
                raise ValueError(
                    f"each encoder takes distinct images from {', '.join(IMAGE_INPUTS)}; "
                    f"got {list(names)}"
                )
            encoders.append(names)
        self.encoders = tuple(encoders)
        for name in ("mlp_depth", "filter_latent", "norm_latent", "met_embedding"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))
        if not self.lam_scale > 0:
            raise ValueError(f"lam_scale must be > 0, got {self.lam_scale!r}")
        self.lam_scale = float(self.lam_scale)
        self.conv_impl = parse_enum(ConvImpl, self.conv_impl, "conv_impl")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this config."""
        out = asdict(self)
        out["conv_impl"] = str(self.conv_impl)
        return out


@dataclass
class CriticConfig:
    """Options of the conditional WGAN-GP critic (4 strided convs, then two FC layers)."""

    channels: tuple[int, ...] = (32, 64, 128, 256)
    """Channels of the kernel-4, stride-2 convolutions."""
    pooled: tuple[int, int] = (4, 4)
    """Features are average-pooled to this grid before the FC layers (no-op at 64 x 64)."""
    hidden: int = 16
    """Width of the hidden FC layer."""

    def __post_init__(self) -> None:
        self.channels = _int_tuple(self.channels, "channels")
        self.pooled = _int_tuple(self.pooled, "pooled", 2)
        if int(self.hidden) != self.hidden or self.hidden < 1:
            raise ValueError(f"hidden must be a positive integer, got {self.hidden!r}")
        self.hidden = int(self.hidden)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this config."""
        return asdict(self)
