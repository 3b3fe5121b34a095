"""The multi-encoder UNet of Dong et al. (MICCAI 2022, Fig. 1a), every Table 1 row in one class.

Each encoder takes some of the images (by default ``[lr, t1]`` and ``[lr, flair]``) and has one
block of two conv-norm-PReLU layers per level (8, 16, 32, 64, 128 channels) with 2 x 2 max
pooling between levels. The decoder upsamples (bilinear x2, a plain 3 x 3 conv), concatenates
the skip connections of every encoder and runs one block per level. A 1 x 1 conv gives the
map, which is made data-consistent with the input (:class:`~mrsisr.nn.dc.DataConsistency`)
and multiplied by the mask.

What the layers are conditioned on is a :class:`Conditioning`; the named variants of the
paper are in :mod:`mrsisr.nn.variants`. With ``GeneratorConfig.presence`` the network also
works without T1 and/or FLAIR: the ``present`` flags of each sample join ``n`` as a condition
of the filter trunks, and an absent image is replaced by zeros (docs/networks.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr.metabolites import METABOLITES
from mrsisr.nn.blocks import (
    AMLayerNorm2d,
    ConditionalInstanceNorm2d,
    FilterScalingConv2d,
    HyperConv2d,
    InstanceNorm2d,
    MCMBlock,
    MCMLayer,
    PlainConv2d,
)
from mrsisr.nn.conditioning import (
    ConditionGroups,
    FilterConditioner,
    StackedMLP,
    encode_n,
    group_conditions,
)
from mrsisr.nn.config import ANATOMY_INPUTS, LIMITS, ConvImpl, GeneratorConfig
from mrsisr.nn.dc import DataConsistency
from mrsisr.options import AcquisitionWindow, StrEnum

__all__ = [
    "Conditioning",
    "ConvKind",
    "MultiEncoderUNet",
    "NormKind",
    "PerSampleLoop",
    "check_generator_inputs",
    "check_present",
]

MIN_N = 2
"""Smallest acquisition size the generator accepts (per axis)."""


class ConvKind(StrEnum):
    """The 3 x 3 convolutions of the blocks."""

    plain = "plain"
    filter_scaling = "filter_scaling"
    hypernetwork = "hypernetwork"


class NormKind(StrEnum):
    """The normalisation after each convolution of the blocks."""

    instance = "instance"
    cin = "cin"
    """Conditional instance normalisation driven by lambda."""
    amlayer = "amlayer"
    """Hui et al.'s adaptive modulation layer driven by n."""


@dataclass(frozen=True)
class Conditioning:
    """Which conditions drive which part of every block."""

    conv: ConvKind = ConvKind.plain
    """Plain convs, or filter scaling / a hypernetwork driven by n (and m, see ``met``)."""
    met: bool = False
    """The filter conditioner also sees the metabolite embedding E(m)."""
    norm: NormKind = NormKind.instance
    """Plain IN, CIN on lambda, or AMLayer on n."""


def _exporting_or_compiling() -> bool:
    compiler = getattr(torch, "compiler", None)
    for name in ("is_exporting", "is_compiling"):
        probe = getattr(compiler, name, None)
        if probe is not None and probe():
            return True
    return torch.jit.is_tracing() or torch.jit.is_scripting()


class MultiEncoderUNet(nn.Module):
    """Multi-encoder UNet with data consistency; conditioned per sample on ``n``, ``m``, ``lambda``.

    Args:
        config: architecture options (:class:`~mrsisr.nn.config.GeneratorConfig`).
        conditioning: what the blocks are conditioned on (:class:`Conditioning`).
    """

    def __init__(
        self, config: GeneratorConfig | None = None, conditioning: Conditioning | None = None
    ) -> None:
        super().__init__()
        self.config = cfg = config if config is not None else GeneratorConfig()
        self.conditioning = cond = conditioning if conditioning is not None else Conditioning()
        chans = cfg.channels
        n_met = len(METABOLITES) if cond.met else 0
        conv_hidden = cfg.filter_latent * (2 if cond.met else 1)
        if cfg.presence and cond.conv == ConvKind.plain:
            raise ValueError(
                "presence needs conditioned convolutions (filter scaling or hypernetwork: "
                "the filter_scaling, filter_scaling_met, full or hypernetwork variants); "
                "this variant has plain convolutions"
            )
        self._count = 0

        def block(c_in: int, c_out: int) -> MCMBlock:
            return MCMBlock(
                self._layer(c_in, c_out, conv_hidden), self._layer(c_out, c_out, conv_hidden)
            )

        self.encoders = nn.ModuleList()
        for images in cfg.encoders:
            widths = (len(images), *chans)
            self.encoders.append(
                nn.ModuleList(block(widths[i], widths[i + 1]) for i in range(len(chans)))
            )
        n_enc = len(cfg.encoders)
        self.up_convs = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in range(len(chans) - 1):
            below = chans[level + 1] * (n_enc if level == len(chans) - 2 else 1)
            self.up_convs.append(nn.Conv2d(below, chans[level], 3, padding=1))
            self.decoders.append(block(chans[level] * (n_enc + 1), chans[level]))
        self.head = nn.Conv2d(chans[0], 1, 1)
        layers = self._count

        self.conv_trunk: FilterConditioner | None = None
        if cond.conv != ConvKind.plain:
            self.conv_trunk = FilterConditioner(
                layers,
                cfg.filter_latent,
                cfg.mlp_depth,
                n_met,
                cfg.met_embedding,
                cfg.n_features,
                extra=len(ANATOMY_INPUTS) if cfg.presence else 0,
            )
        self.norm_trunk: StackedMLP | None = None
        if cond.norm == NormKind.cin:
            self.norm_trunk = StackedMLP(layers, [1] + [cfg.norm_latent] * cfg.mlp_depth)
        elif cond.norm == NormKind.amlayer:
            self.norm_trunk = StackedMLP(
                layers, [cfg.n_features] + [cfg.filter_latent] * cfg.mlp_depth
            )
        self.dc = DataConsistency(cfg.grid)

    def _layer(self, c_in: int, c_out: int, conv_hidden: int) -> MCMLayer:
        cfg, cond = self.config, self.conditioning
        if cond.conv == ConvKind.filter_scaling:
            conv: nn.Module = FilterScalingConv2d(
                c_in, c_out, conv_hidden, impl=cfg.conv_impl, head_init=cfg.filter_head_init
            )
        elif cond.conv == ConvKind.hypernetwork:
            conv = HyperConv2d(c_in, c_out, conv_hidden, impl=cfg.conv_impl)
        else:
            conv = PlainConv2d(c_in, c_out)
        if cond.norm == NormKind.cin:
            norm: nn.Module = ConditionalInstanceNorm2d(c_out, cfg.norm_latent)
        elif cond.norm == NormKind.amlayer:
            norm = AMLayerNorm2d(c_out, cfg.filter_latent, cfg.mlp_depth)
        else:
            norm = InstanceNorm2d()
        self._count += 1
        return MCMLayer(conv, norm, c_out, index=self._count - 1)

    @property
    def num_conditioned_layers(self) -> int:
        """Number of conv-norm-PReLU layers (the rows of the stacked trunks)."""
        return self._count

    @property
    def accepts_missing_images(self) -> bool:
        """Whether T1 and/or FLAIR may be absent (``GeneratorConfig.presence``)."""
        return self.config.presence

    def condition_groups(
        self, n: torch.Tensor, met: torch.Tensor, present: torch.Tensor | None = None
    ) -> ConditionGroups | None:
        """Groups of samples that share the conditions of the convolutions, or ``None``.

        ``None`` (one kernel per sample) when grouping does not pay: more groups than half
        the samples (the kernels would then be gathered per sample, a copy as large as the
        products it saves). Also ``None`` for the ``loop`` reference, for plain
        convolutions, and while exporting or compiling (the number of groups is
        data-dependent).
        """
        if (
            self.conv_trunk is None
            or self.config.conv_impl == ConvImpl.loop
            or _exporting_or_compiling()
        ):
            return None
        groups = group_conditions(
            n, met if self.conditioning.met else None, present if self.config.presence else None
        )
        if groups is None or 2 * groups.first.shape[0] > n.shape[0]:
            return None
        return groups

    def hidden(
        self,
        n: torch.Tensor,
        met: torch.Tensor,
        lam: torch.Tensor,
        dtype: torch.dtype,
        groups: ConditionGroups | None = None,
        present: torch.Tensor | None = None,
        grid: tuple[int, int] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Trunk outputs of every layer: ``((L, B, H_conv) | None, (L, B, H_norm) | None)``.

        With ``groups``, the convolution trunks run once per group: ``(L, U, H_conv)``.
        ``present`` ``(B, 2)`` bool is used with ``GeneratorConfig.presence`` (``None``: both).
        ``grid``: the grid the network runs on (``n`` is encoded relative to it,
        :func:`~mrsisr.nn.conditioning.encode_n`); ``None``: ``config.grid``.
        """
        n_feat = encode_n(n, self.config, dtype, grid)
        conv_hidden = None
        if self.conv_trunk is not None:
            extra = None
            if self.config.presence:
                extra = (
                    n_feat.new_ones(n.shape[0], len(ANATOMY_INPUTS))
                    if present is None
                    else present.to(dtype)
                )
            if groups is None:
                conv_hidden = self.conv_trunk(n_feat, met, extra)
            else:
                first = groups.first
                conv_hidden = self.conv_trunk(
                    n_feat[first], met[first], None if extra is None else extra[first]
                )
        norm_hidden = None
        if self.norm_trunk is not None:
            if self.conditioning.norm == NormKind.cin:
                norm_hidden = self.norm_trunk(lam.to(dtype)[:, None] / self.config.lam_scale)
            else:
                norm_hidden = self.norm_trunk(n_feat)
        return conv_hidden, norm_hidden

    def data_consistency(
        self,
        x: torch.Tensor,
        lr: torch.Tensor,
        n: torch.Tensor,
        window: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x`` made consistent with the zero-filled ``lr`` for each sample's ``n`` and
        acquisition window (:class:`~mrsisr.nn.dc.DataConsistency`; no mask)."""
        return self.dc(x, lr, n, window)

    def forward(
        self,
        lr: torch.Tensor,
        t1: torch.Tensor,
        flair: torch.Tensor,
        mask: torch.Tensor,
        n: torch.Tensor,
        met: torch.Tensor,
        lam: torch.Tensor,
        present: torch.Tensor | None = None,
        *,
        cond_n: torch.Tensor | None = None,
        window: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Super-resolve a batch; every sample has its own ``n``, ``met``, ``lam`` (and images).

        The network is fully convolutional and runs on any grid ``(N_y, N_x)`` of 2 to
        ``LIMITS["grid"]`` voxels per axis, the same for every image of the batch (its own
        ``config.grid`` is the one it was trained on). A side that is not a multiple of the
        pooling factor ``2 ** (levels - 1)`` is zero-padded in image space (centred) up to
        the next multiple for the encoders and decoders, and the map is cropped back before
        data consistency, which is exact on ``(N_y, N_x)``. ``n`` is encoded relative to the
        grid (:func:`~mrsisr.nn.conditioning.encode_n`): on ``config.grid`` the computation
        is the trained one.

        Args:
            lr: zero-filled low-resolution maps ``(B, 1, N_y, N_x)``, normalised.
            t1: T1 images on the same grid ``(B, 1, N_y, N_x)``, normalised.
            flair: FLAIR images ``(B, 1, N_y, N_x)``, normalised.
            mask: ``(B, 1, N_y, N_x)`` of 0 and 1; the output is zero where it is 0.
            n: ``(B, 2)`` int64 acquisition sizes ``(n_y, n_x)``, ``2 <= n <= N``.
            met: ``(B,)`` int64 metabolite indices into :data:`~mrsisr.metabolites.METABOLITES`.
            lam: ``(B,)`` float sharpness weights ``lambda >= 0``.
            present: ``(B, 2)`` bool, whether each sample has its T1 (column 0) and its FLAIR
                (column 1); ``None``: both. An absent image is replaced by zeros whatever it
                holds. Only a model with ``GeneratorConfig.presence`` accepts absent images.
            cond_n: ``(B, 2)`` int64, the ``n`` the conditioning sees instead of ``n``
                (Fig. 2a of the paper); data consistency always uses ``n``, the size the
                input was acquired at. ``None``: ``n``.
            window: ``(B,)`` int64 :class:`~mrsisr.options.AcquisitionWindow` codes of the
                acquisitions (training with ``data.window_probs``): data consistency keeps
                ``lr`` only on the frequencies each sample measured unfiltered. ``None``: the
                whole ``n x n`` box, as at inference.

        Returns:
            ``(B, 1, N_y, N_x)``, data-consistent with ``lr`` and multiplied by ``mask``.

        Raises:
            ValueError: an input has the wrong shape or type, holds NaN or inf, a condition
                is out of range, or an image is absent for a model that needs both (the
                message names it and the accepted values).
        """
        if present is not None and self.config.presence:
            check_present(present, lr.shape[0])
            zero = lr.new_zeros(())
            t1 = torch.where(present[:, 0, None, None, None], t1, zero)
            flair = torch.where(present[:, 1, None, None, None], flair, zero)
        grid = _input_grid(lr, self.config.grid)
        if not _exporting_or_compiling():
            check_generator_inputs(
                grid, lr, t1, flair, mask, n, met, lam, present, self.config.presence
            )
            if cond_n is not None:
                _check_cond_n(grid, n, cond_n)
            if window is not None:
                _check_window(n, window)
        seen_n = n if cond_n is None else cond_n
        groups = self.condition_groups(seen_n, met, present)
        inverse = None if groups is None else groups.inverse
        own = grid == self.config.grid
        conv_hidden, norm_hidden = self.hidden(
            seen_n, met, lam, lr.dtype, groups, present, None if own else grid
        )
        factor = 2 ** (len(self.config.channels) - 1)
        pad = [(-size) % factor for size in grid]  # per axis (y, x)
        padding = (pad[1] // 2, pad[1] - pad[1] // 2, pad[0] // 2, pad[0] - pad[0] // 2)
        images = {"lr": lr, "t1": t1, "flair": flair}
        if any(pad):
            images = {name: F.pad(img, padding) for name, img in images.items()}
        skips: list[list[torch.Tensor]] = [[] for _ in self.config.channels]
        for names, encoder in zip(self.config.encoders, self.encoders):
            x = torch.cat([images[name] for name in names], dim=1)
            for level, block in enumerate(cast(nn.ModuleList, encoder)):
                if level:
                    x = F.max_pool2d(x, 2)
                x = block(x, conv_hidden, norm_hidden, inverse)
                skips[level].append(x)
        y = torch.cat(skips[-1], dim=1)
        for level in range(len(self.decoders) - 1, -1, -1):
            y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
            y = self.up_convs[level](y)
            y = torch.cat([*skips[level], y], dim=1)
            y = self.decoders[level](y, conv_hidden, norm_hidden, inverse)
        out = self.head(y)
        if any(pad):
            out = out[..., padding[2] : padding[2] + grid[0], padding[0] : padding[0] + grid[1]]
        return self.dc(out, lr, n, window) * mask


class PerSampleLoop(nn.Module):
    """A generator applied to each sample of a batch on its own: the naive reference.

    The UNet has no operation across samples (its norms are per sample), so this gives the
    batched network's outputs and gradients; it is what conditioning costs without batching
    (the ``loop`` case of ``mrsisr bench``) and what the fast paths are tested against.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        """The generator's arguments, each with the batch first (or ``None``); its output."""
        batch = inputs[0].shape[0] if inputs[0] is not None else 0
        return torch.cat(
            [
                self.generator(*(None if x is None else x[b : b + 1] for x in inputs))
                for b in range(batch)
            ]
        )


def _check_window(n: torch.Tensor, window: torch.Tensor) -> None:
    """``ValueError`` unless ``window`` is an integer ``(B,)`` tensor of window codes."""
    codes = len(AcquisitionWindow)
    if (
        not isinstance(window, torch.Tensor)
        or window.shape != n.shape[:1]
        or window.is_floating_point()
        or window.is_complex()
        or bool(((window < 0) | (window >= codes)).any())
    ):
        shape = tuple(window.shape) if isinstance(window, torch.Tensor) else type(window).__name__
        raise ValueError(
            f"window must be an integer (B,) tensor of codes 0..{codes - 1} "
            f"({', '.join(AcquisitionWindow.choices())}), got {shape}"
        )


def _input_grid(lr: torch.Tensor, default: tuple[int, int]) -> tuple[int, int]:
    """The grid ``(N_y, N_x)`` of a batch ``lr`` ``(B, 1, N_y, N_x)`` (``default`` when ``lr``
    is not such a tensor: the input checks then name the problem).

    Raises:
        ValueError: a side outside ``MIN_N..LIMITS["grid"]``.
    """
    if not isinstance(lr, torch.Tensor) or lr.dim() != 4:
        return default
    grid = (int(lr.shape[-2]), int(lr.shape[-1]))
    if grid == default:
        return grid
    high = LIMITS["grid"]
    if not all(MIN_N <= size <= high for size in grid):
        raise ValueError(
            f"lr must be on a grid of {MIN_N} to {high} voxels per axis; got {grid[0]}x{grid[1]}"
        )
    return grid


def _check_cond_n(grid: tuple[int, int], n: torch.Tensor, cond_n: torch.Tensor) -> None:
    """``ValueError`` unless ``cond_n`` is an integer ``(B, 2)`` tensor within ``[2, N]``."""
    ny, nx = grid
    if (
        not isinstance(cond_n, torch.Tensor)
        or cond_n.shape != n.shape
        or cond_n.is_floating_point()
    ):
        raise ValueError(f"cond_n must be an int64 tensor of shape {tuple(n.shape)} like n")
    low = cond_n.amin(dim=0).tolist()
    high = cond_n.amax(dim=0).tolist()
    if low[0] < MIN_N or low[1] < MIN_N or high[0] > ny or high[1] > nx:
        raise ValueError(
            f"cond_n must hold {MIN_N} <= n_y <= {ny} and {MIN_N} <= n_x <= {nx}; "
            f"got {cond_n.tolist()}"
        )


def check_present(present: torch.Tensor | None, batch: int) -> None:
    """Raise ``ValueError`` unless ``present`` is ``None`` or a ``(batch, 2)`` bool tensor."""
    if present is None:
        return
    if isinstance(present, torch.Tensor):
        if tuple(present.shape) == (batch, 2) and present.dtype == torch.bool:
            return
        got = f"{present.dtype} of shape {tuple(present.shape)}"
    else:
        got = type(present).__name__
    raise ValueError(
        f"present must be a bool tensor of shape ({batch}, 2) saying whether each sample has "
        f"its T1 and its FLAIR; got {got}"
    )


def check_generator_inputs(
    grid: tuple[int, int],
    lr: torch.Tensor,
    t1: torch.Tensor,
    flair: torch.Tensor,
    mask: torch.Tensor,
    n: torch.Tensor,
    met: torch.Tensor,
    lam: torch.Tensor,
    present: torch.Tensor | None = None,
    accepts_missing: bool = False,
) -> None:
    """Raise ``ValueError`` naming the first bad input of a generator call and what is accepted.

    Shapes and dtypes are checked in Python; the values (finite images, a 0/1 mask, ``n`` in
    ``[2, N]``, known metabolites, finite ``lambda >= 0``, both images present unless
    ``accepts_missing``) with one synchronising reduction.
    """
    ny, nx = grid
    images = {"lr": lr, "t1": t1, "flair": flair, "mask": mask}
    for name, value in (*images.items(), ("n", n), ("met", met), ("lam", lam)):
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    batch = lr.shape[0] if lr.dim() == 4 else -1
    for name, img in images.items():
        if tuple(img.shape) != (batch, 1, ny, nx):
            raise ValueError(
                f"{name} must have shape (B, 1, {ny}, {nx}) with the batch size B of lr; "
                f"got {tuple(img.shape)}"
            )
        if not img.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {img.dtype}")
    if tuple(n.shape) != (batch, 2) or n.is_floating_point() or n.is_complex():
        raise ValueError(
            f"n must be an int64 tensor of shape ({batch}, 2) holding (n_y, n_x); "
            f"got {n.dtype} of shape {tuple(n.shape)}"
        )
    if tuple(met.shape) != (batch,) or met.is_floating_point() or met.is_complex():
        raise ValueError(
            f"met must be an int64 tensor of shape ({batch},) of metabolite indices; "
            f"got {met.dtype} of shape {tuple(met.shape)}"
        )
    if tuple(lam.shape) != (batch,) or not lam.is_floating_point():
        raise ValueError(
            f"lam must be a floating-point tensor of shape ({batch},); "
            f"got {lam.dtype} of shape {tuple(lam.shape)}"
        )
    check_present(present, batch)
    n_met = len(METABOLITES)
    checks = torch.stack(
        [
            torch.isfinite(lr).all(),
            torch.isfinite(t1).all(),
            torch.isfinite(flair).all(),
            ((mask == 0) | (mask == 1)).all(),
            ((n[:, 0] >= MIN_N) & (n[:, 0] <= ny) & (n[:, 1] >= MIN_N) & (n[:, 1] <= nx)).all(),
            ((met >= 0) & (met < n_met)).all(),
            (torch.isfinite(lam) & (lam >= 0)).all(),
            lam.new_ones((), dtype=torch.bool)
            if present is None or accepts_missing
            else present.all(),
        ]
    ).tolist()
    if all(checks):
        return
    names = ", ".join(f"{i}={m.value}" for i, m in enumerate(METABOLITES))
    messages = [
        "lr must be finite (it holds NaN or inf)",
        "t1 must be finite (it holds NaN or inf)",
        "flair must be finite (it holds NaN or inf)",
        "mask must hold only 0 and 1 (NaN, inf and other values are refused)",
        f"n must hold {MIN_N} <= n_y <= {ny} and {MIN_N} <= n_x <= {nx}; got {n.tolist()}",
        f"met must hold metabolite indices 0..{n_met - 1} ({names}); got {met.tolist()}",
        f"lam must be finite and >= 0; got {lam.tolist()}",
        "present: this model needs both T1 and FLAIR (it was built without "
        "GeneratorConfig.presence, so it cannot work without an image)",
    ]
    raise ValueError(messages[checks.index(False)])
