"""LPIPS, the Learned Perceptual Image Patch Similarity (Zhang et al., CVPR 2018), AlexNet v0.1.

The metric the paper reports for sharpness (Fig. 3, 4): both images go through ImageNet
AlexNet's five convolution blocks; the activations after each ReLU (relu1 … relu5) are
normalised to unit length over channels, their squared difference is weighted per channel
by the v0.1 linear layers, averaged over space, and the five layers are summed. Inputs are
scaled to [−1, 1] with an explicit range, and a one-channel map is replicated to three
channels, as the authors' follow-up work does. Lower is more similar; 0 for identical images.

The weights come from ``mrsisr lpips-weights`` (see :mod:`mrsisr.metrics.lpips_weights`);
where they are absent, :func:`lpips_available` is False and :func:`lpips` raises
:class:`LPIPSUnavailable`, so that evaluations report LPIPS as unavailable, never a number.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from mrsisr.errors import UserError
from mrsisr.metrics._common import DataRange, as_data_range, check_pair
from mrsisr.metrics.lpips_weights import LPIPSUnavailable, default_weights_path, load_weights

__all__ = ["LPIPS", "MIN_SIZE", "LPIPSUnavailable", "lpips", "lpips_available"]

logger = logging.getLogger(__name__)

MIN_SIZE = 31
"""Smallest image side AlexNet's five blocks accept (15 × 15 maps after conv1 and two pools)."""

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_TAPS = (1, 4, 7, 9, 11)  # indices of the ReLUs relu1..relu5 in ``features``
_EPS = 1e-10


def _alexnet_features() -> nn.Sequential:
    """The convolutional part of torchvision's ``alexnet().features``, up to relu5."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(),
    )


class LPIPS(nn.Module):
    """LPIPS distance with AlexNet features and the v0.1 linear layers (Zhang et al. 2018).

    The parameters are frozen (``requires_grad=False``); gradients still flow to the inputs,
    so the module can serve as a perceptual loss. Build it with :meth:`from_file`.
    """

    shift: Tensor
    scale: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.features = _alexnet_features()
        widths = [cast(nn.Conv2d, self.features[i - 1]).out_channels for i in _TAPS]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in widths)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_file(cls, path: Path | str | None = None) -> LPIPS:
        """The metric with weights from a safetensors file, in eval mode, frozen.

        Args:
            path: the weights; default the user cache (``mrsisr lpips-weights``).

        Raises:
            LPIPSUnavailable: if the file does not exist.
            UserError: if it is not a valid LPIPS weights file.
        """
        model = cls()
        model.load_state_dict(load_weights(path))
        model.requires_grad_(False)
        return model.eval()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Distances between two RGB batches already scaled to [−1, 1].

        Args:
            x: ``(B, 3, H, W)``, ``H, W >= 31``.
            y: ``(B, 3, H, W)``.

        Returns:
            ``(B,)``, non-negative.
        """
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"x and y must both have shape (B, 3, H, W), got {tuple(x.shape)} and "
                f"{tuple(y.shape)}"
            )
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(
                f"LPIPS needs images of at least {MIN_SIZE}x{MIN_SIZE}, got {tuple(x.shape[-2:])}"
            )
        both = (torch.cat([x, y]) - self.shift) / self.scale
        total = x.new_zeros(x.shape[0])
        taps = iter(self.lins)
        for index, layer in enumerate(self.features):
            both = layer(both)
            if index in _TAPS:
                unit = both / (torch.sqrt((both**2).sum(dim=1, keepdim=True)) + _EPS)
                fx, fy = unit.chunk(2)
                total = total + next(taps)((fx - fy) ** 2).mean(dim=(1, 2, 3))
        return total


@functools.lru_cache(maxsize=4)
def _cached_model(path: str, mtime_ns: int) -> LPIPS:
    logger.debug("loading LPIPS weights from %s", path)
    return LPIPS.from_file(path)


def _model(weights: LPIPS | Path | str | None) -> LPIPS:
    if isinstance(weights, LPIPS):
        return weights
    path = Path(default_weights_path() if weights is None else weights).expanduser().resolve()
    if not path.is_file():
        load_weights(path)  # raises LPIPSUnavailable with the message users need
    return _cached_model(str(path), path.stat().st_mtime_ns)


def lpips_available(weights: Path | str | None = None) -> bool:
    """Whether the LPIPS weights can be loaded (from ``weights`` or the user cache).

    A file that exists but is invalid logs a warning and counts as unavailable.
    """
    try:
        _model(weights)
    except LPIPSUnavailable:
        return False
    except UserError as err:
        logger.warning("LPIPS unavailable: %s", err)
        return False
    return True


def lpips(
    pred: Tensor,
    target: Tensor,
    data_range: DataRange,
    weights: LPIPS | Path | str | None = None,
    data_min: DataRange | None = None,
) -> Tensor:
    """LPIPS (AlexNet, v0.1) per sample; lower is more similar.

    Each image is mapped to [−1, 1] by ``2 (x − data_min) / data_range − 1`` (the official
    repository maps uint8 RGB with ``data_min = 0``, ``data_range = 255``); one-channel maps
    are replicated to RGB. No mask: LPIPS compares whole images (multiply by the mask first
    to ignore the background). Computed in float32; the result has ``pred``'s dtype.

    Args:
        pred: estimate, ``(B, 1, H, W)`` or ``(B, 3, H, W)``, ``H, W >= 31``.
        target: reference of the same shape.
        data_range: a positive float or ``(B,)`` tensor: the width of the value range.
        weights: an :class:`LPIPS` module, a safetensors path, or ``None`` (user cache).
        data_min: the value mapped to −1, a float or ``(B,)`` tensor; ``None`` means 0
            (concentration maps are non-negative).

    Returns:
        ``(B,)``.

    Raises:
        LPIPSUnavailable: if the weights are not there (see :func:`lpips_available`).
    """
    check_pair(pred, target)
    if pred.shape[1] not in (1, 3):
        raise ValueError(f"pred must have 1 or 3 channels, got {pred.shape[1]}")
    model = _model(weights)
    peak = as_data_range(data_range, pred)
    low = torch.as_tensor(
        0.0 if data_min is None else data_min, dtype=pred.dtype, device=pred.device
    )
    low = low.reshape(-1, 1, 1, 1) if low.ndim else low
    param = next(model.parameters())
    if param.device != pred.device:
        model = model.to(pred.device)

    def scaled(x: Tensor) -> Tensor:
        x = (2.0 * (x - low) / peak - 1.0).to(param.dtype)
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    return model(scaled(pred), scaled(target)).to(pred.dtype)
