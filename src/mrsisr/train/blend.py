"""Weight-space interpolation of a model and its fine-tuning (WiSE-FT).

A model fine-tuned on a new distribution gains there and loses where its base was good.
Interpolating the two sets of weights, ``(1 - alpha) * base + alpha * tuned``, keeps most of
both when the tuned model started from the base's weights (they then lie in one basin of the
loss): Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022. The shipped
model is such a blend of the previous shipped model and its fine-tuning on the output grids
it serves, at ``alpha`` 0.5 (docs/training.md, "Blending a fine-tuning with its start").

Only a fine-tuning of the base can be blended: the tuned file must record the base's SHA-256
as its ``init_model_sha256`` (written by ``mrsisr train`` with ``init_model``). Two networks
trained apart share no basin, and their average is no model of either.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch

from mrsisr.checkpoint import ModelInfo, TrainedRange, load_model, save_model
from mrsisr.errors import UserError, argument
from mrsisr.provenance import FileHashes

__all__ = ["blend_files", "blend_states", "blended_range"]


def _valid_alpha(alpha: float) -> bool:
    return math.isfinite(alpha) and 0.0 <= alpha <= 1.0


def blend_states(
    base: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * base + alpha * tuned`` for every floating-point tensor.

    Args:
        base: the state dict of the model fine-tuned from.
        tuned: the fine-tuned model's state dict (the same names, shapes and dtypes).
        alpha: the tuned model's weight, in ``[0, 1]``: 0 gives ``base``, 1 ``tuned``.

    Returns:
        The blended state dict; tensors that are not floating point (counters) must be equal
        in both and are kept.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``, or the two states do not match.
    """
    if not _valid_alpha(alpha):
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if base.keys() != tuned.keys():
        differ = sorted(set(base) ^ set(tuned))
        raise ValueError(f"the models hold different tensors: {', '.join(differ[:3])}")
    blended = {}
    for name, value in tuned.items():
        other = base[name]
        if other.shape != value.shape or other.dtype != value.dtype:
            raise ValueError(
                f"tensor {name!r} is {tuple(other.shape)} {other.dtype} in one model and "
                f"{tuple(value.shape)} {value.dtype} in the other"
            )
        if value.is_floating_point():
            blended[name] = torch.lerp(other, value, alpha)
        elif torch.equal(other, value):
            blended[name] = value
        else:
            raise ValueError(f"tensor {name!r} is not floating point and differs")
    return blended


def blended_range(base: TrainedRange | None, tuned: TrainedRange | None) -> TrainedRange | None:
    """The grids a blend was trained on: both models' acquisition sizes and output grids.

    Returns:
        :meth:`TrainedRange.union` of the two; ``None`` if either model records none (the
        blend's range is then unknown) or their model grids differ.
    """
    if base is None or tuned is None or base.grid != tuned.grid:
        return None
    return base.union(tuned)


def _check_pair(base: Path, tuned: Path, info: tuple[ModelInfo, ModelInfo], sha: str) -> None:
    """Refuse a pair that is not a model and its fine-tuning (one line naming the file)."""
    base_info, tuned_info = info
    if (base_info.variant, base_info.config) != (tuned_info.variant, tuned_info.config):
        raise UserError(
            f"{argument('tuned')} {tuned}: another architecture than {base} "
            f"({tuned_info.variant} vs {base_info.variant}, or its configuration)"
        )
    init = tuned_info.metadata.get("init_model_sha256")
    if init is None:
        raise UserError(
            f"{argument('tuned')} {tuned}: records no init_model_sha256; only a fine-tuning "
            f"of {base} (trained with init_model) can be blended with it"
        )
    if init != sha:
        raise UserError(
            f"{argument('tuned')} {tuned}: fine-tuned from a model of SHA-256 {str(init)[:12]}…, "
            f"not from {base} ({sha[:12]}…)"
        )


def blend_files(
    base: str | Path, tuned: str | Path, alpha: float, out: str | Path, *, half: bool = True
) -> dict[str, object]:
    """Write the blend of a model file and its fine-tuning as a new model file.

    The header is the tuned model's (variant, configuration, metadata), with the trained
    range of both (:func:`blended_range`) and a ``blend`` record: both files' SHA-256 and
    ``alpha``. The file is written atomically.

    Args:
        base: the model file fine-tuned from.
        tuned: the fine-tuned model file (its header's ``init_model_sha256`` is ``base``'s).
        alpha: the tuned model's weight, in ``[0, 1]``.
        out: the new model file.
        half: store float16 weights (the shipped form) instead of float32.

    Returns:
        The ``blend`` record written in the header.

    Raises:
        UserError: either file is no valid model file, the pair is not a model and its
            fine-tuning, or ``alpha`` is outside ``[0, 1]``.
    """
    base, tuned = Path(base), Path(tuned)
    if not _valid_alpha(alpha):
        raise UserError(f"{argument('alpha')} {alpha}: must be in [0, 1]")
    hashes = FileHashes()
    base_model, base_info = load_model(base)
    tuned_model, tuned_info = load_model(tuned)
    record: dict[str, object] = {
        "base_sha256": hashes(base),
        "tuned_sha256": hashes(tuned),
        "alpha": float(alpha),
    }
    _check_pair(base, tuned, (base_info, tuned_info), str(record["base_sha256"]))
    tuned_model.load_state_dict(
        blend_states(base_model.state_dict(), tuned_model.state_dict(), alpha)
    )
    save_model(
        out,
        tuned_model,
        tuned_info.variant,
        tuned_info.config,
        {**tuned_info.metadata, "blend": record},
        trained=blended_range(base_info.trained, tuned_info.trained),
        half=half,
    )
    return record
