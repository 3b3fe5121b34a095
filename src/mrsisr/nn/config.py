"""Architecture options of the generator and the critic: the single source of their defaults.

Both are plain dataclasses whose fields are JSON/TOML friendly; lists given for tuple fields
(as a TOML file or a model file's JSON header gives them) are turned into tuples, and every
value is checked when the object is made, so a bad option fails before any tensor exists.

Every size has an upper bound (:data:`LIMITS`), because a configuration may come from a
model file someone sent: the bounds are far above what the paper's networks use (64 x 64
grids, 8 to 128 channels) and far below what would exhaust a workstation's memory
(``docs/model-files.md``).
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field
from typing import Any

from mrsisr.options import StrEnum, parse_enum

__all__ = [
    "ANATOMY_INPUTS",
    "IMAGE_INPUTS",
    "LIMITS",
    "ConvImpl",
    "CriticConfig",
    "GeneratorConfig",
    "HeadInit",
    "NEncoding",
    "Variant",
]

IMAGE_INPUTS = ("lr", "t1", "flair")
"""Images an encoder can take (the generator's first three arguments)."""
ANATOMY_INPUTS = ("t1", "flair")
"""The anatomical images, in the column order of the generator's ``present`` argument."""

LIMITS: dict[str, int] = {
    "grid": 256,
    "levels": 8,
    "channels": 1024,
    "finest_features": 2**21,
    "encoders": 8,
    "mlp_depth": 16,
    "latent": 1024,
    "met_embedding": 64,
    "n_fourier": 16,
    "critic_hidden": 4096,
    "critic_pooled": 64,
}
"""Largest accepted sizes: grid side (the data-consistency buffers hold ``N**3`` values per
axis), UNet levels, channels of one level, ``channels[0] * N_y * N_x`` (the largest feature
map of one slice), encoders, depth and width of the conditioning trunks, metabolite
embedding length, octaves of the Fourier n encoding, critic hidden width and pooled grid side."""


class Variant(StrEnum):
    """Generator variants, in the order of the paper's Table 1 (then the shipped model)."""

    single_scale = "single_scale"
    unconditioned = "unconditioned"
    amlayer = "amlayer"
    hypernetwork = "hypernetwork"
    filter_scaling = "filter_scaling"
    filter_scaling_met = "filter_scaling_met"
    full = "full"


class ConvImpl(StrEnum):
    """How a convolution with per-sample weights runs (same numbers, different speed)."""

    grouped = "grouped"
    """The batch folded into the groups of one grouped convolution (fast)."""
    loop = "loop"
    """One convolution per sample (the simple reference)."""


class NEncoding(StrEnum):
    """How the acquisition size ``n`` is encoded before the fully-connected trunks see it."""

    grid = "grid"
    """``n / N`` per axis (0.25-0.5 for n in 16..32 on a 64 grid)."""
    range = "range"
    """``(n - lo) / (hi - lo)`` over ``n_range``: 0-1 over the trained sizes."""
    fourier = "fourier"
    """The ``range`` value and its sines and cosines at ``n_fourier`` octaves (pi, 2 pi, ...)."""
    none = "none"
    """A constant: the trunks do not see ``n`` (the control of the n-conditioning ablation)."""


class HeadInit(StrEnum):
    """How the filter-scaling heads (the last FC layer, to one scale per filter) start."""

    identity = "identity"
    """Zero weights, unit bias: every scale is 1, the same for every condition."""
    linear = "linear"
    """``nn.Linear``'s default, as in the authors' code: random scales that differ per n."""


# Options added after models were trained and runs cached: they enter a run's fingerprint
# only when they differ from their default (see ``mrsisr.train.config_io.config_hash``).
_HASH_WHEN_SET = {"hash_when_set": True}


def _int(value: Any, name: str, high: int) -> int:
    """``value`` as an int in ``1..high``; floats, strings and booleans are refused."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if not 1 <= out <= high:
        raise ValueError(f"{name} must be in 1..{high}, got {out}")
    return out


def _int_pair(value: Any, name: str, high: int) -> tuple[int, int]:
    """Two ints in ``1..high`` (:func:`_int_tuple` with two items)."""
    first, second = _int_tuple(value, name, high, length=2)
    return first, second


def _int_tuple(
    value: Any, name: str, high: int, length: int | None = None, max_length: int = 8
) -> tuple[int, ...]:
    """A tuple of ints in ``1..high`` with ``length`` items (or 1 to ``max_length``)."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise ValueError(f"{name} must be a list of integers, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must hold {length} integers, got {len(value)}")
    if not 1 <= len(value) <= max_length:
        raise ValueError(f"{name} must hold 1 to {max_length} integers, got {len(value)}")
    return tuple(_int(v, name, high) for v in value)


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
    n_encoding: NEncoding = field(default=NEncoding.grid, metadata=_HASH_WHEN_SET)
    """How ``n`` enters the trunks (filter scaling, hypernetwork, AMLayer)."""
    n_range: tuple[int, int] = field(default=(16, 32), metadata=_HASH_WHEN_SET)
    """``(lo, hi)`` that the ``range`` and ``fourier`` encodings map to 0 and 1."""
    n_fourier: int = field(default=4, metadata=_HASH_WHEN_SET)
    """Octaves of the ``fourier`` encoding (``2 * (1 + 2 * n_fourier)`` features)."""
    filter_head_init: HeadInit = field(default=HeadInit.identity, metadata=_HASH_WHEN_SET)
    """Start of the filter-scaling heads: ``identity`` (scales 1) or ``linear`` (authors')."""
    presence: bool = field(default=False, metadata=_HASH_WHEN_SET)
    """Work without T1 and/or FLAIR: the generator's ``present`` flags are a condition of the
    filter trunks (with ``n``) and an absent image is replaced by zeros. Needs conditioned
    convolutions (filter scaling or hypernetwork). Off: both images are required."""

    def __post_init__(self) -> None:
        self.grid = _int_pair(self.grid, "grid", LIMITS["grid"])
        self.channels = _int_tuple(
            self.channels, "channels", LIMITS["channels"], max_length=LIMITS["levels"]
        )
        if len(self.channels) < 2:
            raise ValueError(f"channels needs at least 2 levels, got {self.channels!r}")
        if self.channels[0] * self.grid[0] * self.grid[1] > LIMITS["finest_features"]:
            raise ValueError(
                f"channels[0] x grid = {self.channels[0]} x {self.grid[0]} x {self.grid[1]} "
                f"exceeds {LIMITS['finest_features']} features per slice"
            )
        factor = 2 ** (len(self.channels) - 1)
        if any(size % factor for size in self.grid):
            raise ValueError(
                f"grid {self.grid} must be divisible by {factor} "
                f"(2 ** (levels - 1) for {len(self.channels)} levels)"
            )
        if (
            not isinstance(self.encoders, (list, tuple))
            or not 1 <= len(self.encoders) <= LIMITS["encoders"]
        ):
            raise ValueError(
                f"encoders must be a list of 1 to {LIMITS['encoders']} image lists, "
                f"got {self.encoders!r}"
            )
        encoders = []
        for images in self.encoders:
            if isinstance(images, str):
                images = (images,)
            if not isinstance(images, (list, tuple)) or len(images) > len(IMAGE_INPUTS):
                raise ValueError(f"each encoder takes a list of images, got {images!r}")
            names = tuple(images)
            unknown = [v for v in names if v not in IMAGE_INPUTS]
            if not names or unknown or len(set(names)) != len(names):
                raise ValueError(
                    f"each encoder takes distinct images from {', '.join(IMAGE_INPUTS)}; "
                    f"got {list(names)}"
                )
            encoders.append(names)
        self.encoders = tuple(encoders)
        self.mlp_depth = _int(self.mlp_depth, "mlp_depth", LIMITS["mlp_depth"])
        self.filter_latent = _int(self.filter_latent, "filter_latent", LIMITS["latent"])
        self.norm_latent = _int(self.norm_latent, "norm_latent", LIMITS["latent"])
        self.met_embedding = _int(self.met_embedding, "met_embedding", LIMITS["met_embedding"])
        self.n_fourier = _int(self.n_fourier, "n_fourier", LIMITS["n_fourier"])
        self.n_range = _int_pair(self.n_range, "n_range", LIMITS["grid"])
        if self.n_range[1] <= self.n_range[0]:
            raise ValueError(f"n_range must be (lo, hi) with lo < hi, got {self.n_range!r}")
        scale = self.lam_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(f"lam_scale must be a number, got {scale!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"lam_scale must be a finite number > 0, got {scale!r}")
        self.lam_scale = float(scale)
        self.conv_impl = parse_enum(ConvImpl, self.conv_impl, "conv_impl")
        self.n_encoding = parse_enum(NEncoding, self.n_encoding, "n_encoding")
        self.filter_head_init = parse_enum(HeadInit, self.filter_head_init, "filter_head_init")
        if not isinstance(self.presence, bool):
            raise ValueError(f"presence must be true or false, got {self.presence!r}")

    @property
    def n_features(self) -> int:
        """Width of the encoded ``n`` (the trunks' input)."""
        return 2 * (1 + 2 * self.n_fourier) if self.n_encoding == NEncoding.fourier else 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this config."""
        out = asdict(self)
        for name in ("conv_impl", "n_encoding", "filter_head_init"):
            out[name] = str(out[name])
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
        self.channels = _int_tuple(
            self.channels, "channels", LIMITS["channels"], max_length=LIMITS["levels"]
        )
        self.pooled = _int_pair(self.pooled, "pooled", LIMITS["critic_pooled"])
        self.hidden = _int(self.hidden, "hidden", LIMITS["critic_hidden"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this config."""
        return asdict(self)
