"""Small helpers shared by every layer for options the user chooses."""

from __future__ import annotations

import enum
from typing import Any, TypeVar

__all__ = ["AcquisitionWindow", "Device", "StrEnum", "Target", "parse_enum", "resolve_device"]

_E = TypeVar("_E", bound="StrEnum")
_M = TypeVar("_M", bound=enum.Enum)


class StrEnum(str, enum.Enum):
    """Base of every option of the package: members are their lower-case string values.

    A member equals its value (``Variant.full == "full"``), prints and formats as it
    (``f"{Variant.full}"`` is ``"full"``) and is parsed with :meth:`parse`; ``choices()``
    gives the values for ``argparse``. The same behaviour as :class:`enum.StrEnum` of
    Python 3.11, written once here because the package supports Python 3.10.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        """The accepted values, in definition order (``argparse`` ``choices``)."""
        return tuple(str(m.value) for m in cls)

    @classmethod
    def parse(cls: type[_E], value: Any, name: str | None = None) -> _E:
        """The member ``value`` names; ``ValueError`` naming ``name`` and the valid values."""
        return parse_enum(cls, value, name or cls.__name__.lower())


class Device(StrEnum):
    """Where to compute: ``auto`` picks CUDA when available (:func:`resolve_device`)."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Target(StrEnum):
    """What a training map is compared with: the cohort's ``measured`` map, or (simulated
    cohorts) the ``noiseless`` one with the measured acquired k-space
    (:func:`mrsisr.data.dataset.noiseless_target`)."""

    measured = "measured"
    noiseless = "noiseless"


class AcquisitionWindow(StrEnum):
    """How a map's k-space was acquired within its ``n x n`` window (a training draw): the
    whole box (``none``), with a Hamming filter, on the inscribed ellipse only, or both
    (:func:`mrsisr.kspace.acquisition_window`). The order is the code a
    :class:`~mrsisr.data.dataset.Sample` carries (``Sample.window``)."""

    none = "none"
    hamming = "hamming"
    elliptical = "elliptical"
    elliptical_hamming = "elliptical_hamming"

    @property
    def hamming_filter(self) -> bool:
        """Whether the window holds the Hamming filter."""
        return self in (AcquisitionWindow.hamming, AcquisitionWindow.elliptical_hamming)

    @property
    def ellipse(self) -> bool:
        """Whether only the inscribed ellipse is sampled."""
        return self in (AcquisitionWindow.elliptical, AcquisitionWindow.elliptical_hamming)

    @property
    def code(self) -> int:
        """Position in the enum (``Sample.window``)."""
        return list(AcquisitionWindow).index(self)


def parse_enum(cls: type[_M], value: object, name: str) -> _M:
    """``cls(value)``, or a ``ValueError`` that names ``name`` and lists the accepted values."""
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value))
    except ValueError:
        valid = ", ".join(str(m.value) for m in cls)
        raise ValueError(f"unknown {name} {value!r}; valid: {valid}") from None


def resolve_device(device: Device | str = Device.auto, index: int = 0) -> Any:
    """The torch device for ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.

    Args:
        device: ``auto``, ``cpu`` or ``cuda``.
        index: which CUDA device (e.g. the local rank under torchrun), modulo the count.

    Raises:
        ValueError: for another value, or ``"cuda"`` on a machine without CUDA.
    """
    import torch

    if device not in Device.choices():
        raise ValueError(f"device must be one of {', '.join(Device.choices())}; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use auto or cpu")
    if device != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", index % torch.cuda.device_count())
    return torch.device("cpu")
