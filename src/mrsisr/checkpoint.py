"""Model files: one safetensors file with the architecture in its JSON header (no pickle).

A model file holds the generator's tensors and, in the safetensors header metadata, a JSON
document under the key ``"mrsisr"``::

    {"format": "mrsisr-model", "format_version": 1, "variant": "full",
     "config": {...GeneratorConfig fields...}, "metadata": {...free-form...}}

Loading reads only tensors and JSON, so a model file can never execute code. Writes are
atomic (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mrsisr.atomic import atomic_write
from mrsisr.errors import UserError

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelInfo", "load_model", "read_info", "save_model"]

FORMAT = "mrsisr-model"
FORMAT_VERSION = 1
_HEADER_KEY = "mrsisr"


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself."""

    variant: str
    config: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_model(
    path: str | Path,
    model: nn.Module,
    variant: str,
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write ``model``'s tensors and its architecture to one safetensors file, atomically.

    Args:
        path: destination ``.safetensors`` file.
        model: the generator (a DDP wrapper is unwrapped).
        variant: its :class:`~mrsisr.nn.variants.Variant` value.
        config: the keyword arguments that rebuild it with ``build_generator(variant, **config)``
            (JSON-serialisable).
        metadata: free-form JSON-serialisable facts (training data, recipe, metrics).
    """
    from safetensors.torch import save_file

    model = getattr(model, "module", model)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": str(variant),
        "config": config,
        "metadata": metadata or {},
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    text = json.dumps(header, default=str)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={_HEADER_KEY: text}))


def read_info(path: str | Path) -> ModelInfo:
    """Read and validate the header of a model file without loading its tensors.

    Raises:
        UserError: the file is missing, not safetensors, or not an mrsisr model file.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_HEADER_KEY)
    except Exception as err:  # safetensors raises several error types for corrupt files
        raise UserError(f"{path}: not a readable safetensors model file ({err})") from None
    if raw is None:
        raise UserError(f"{path}: not an mrsisr model file (no '{_HEADER_KEY}' header)")
    try:
        header = json.loads(raw)
    except json.JSONDecodeError:
        raise UserError(f"{path}: corrupted mrsisr header (invalid JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UserError(f"{path}: not an mrsisr model file (format is not '{FORMAT}')")
    if header.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"{path}: model format version {header.get('format_version')!r} is not supported; "
            f"this mrsisr reads version {FORMAT_VERSION}"
        )
    return ModelInfo(
        variant=str(header.get("variant")),
        config=dict(header.get("config") or {}),
        metadata=dict(header.get("metadata") or {}),
        path=path,
    )


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the generator stored in a model file and load its weights (eval mode).

    Raises:
        UserError: the file is not an mrsisr model file, names an unknown variant or
            configuration, or its tensors do not match the architecture.
    """
    from safetensors.torch import load_file

    from mrsisr.nn.variants import build_generator

    info = read_info(path)
    try:
        model = build_generator(info.variant, **info.config)
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: cannot rebuild the model it describes ({err})") from None
    try:
        state = load_file(str(path), device=str(map_location))
    except Exception as err:
        raise UserError(f"{path}: corrupted model tensors ({err})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(
            f"{path}: tensors do not match the '{info.variant}' model ({first})"
        ) from None
    return model.to(map_location).eval(), info
