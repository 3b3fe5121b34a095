"""Small helpers shared by every layer for options the user chooses."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["parse_enum", "resolve_device"]


def parse_enum(cls: type[enum.Enum], value: Any, name: str) -> Any:
    """``cls(value)``, or a ``ValueError`` that names ``name`` and lists the accepted values."""
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value))
    except ValueError:
        valid = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown {name} {value!r}; valid: {valid}") from None


def resolve_device(device: str = "auto", index: int = 0) -> Any:
    """The torch device for ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.

    Args:
        device: ``auto``, ``cpu`` or ``cuda``.
        index: which CUDA device (e.g. the local rank under torchrun), modulo the count.

    Raises:
        ValueError: for another value, or ``"cuda"`` on a machine without CUDA.
    """
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be one of auto, cpu, cuda; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use auto or cpu")
    if device != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", index % torch.cuda.device_count())
    return torch.device("cpu")
