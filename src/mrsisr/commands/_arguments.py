"""Options shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.errors import UserError
from mrsisr.options import Device
from mrsisr.weights import DEFAULT_MODEL

__all__ = [
    "MODEL_FLAGS",
    "add_device_argument",
    "add_model_arguments",
    "add_overrides_argument",
    "add_precision_argument",
    "check_model_out",
]


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device``: the one device option of the package, with its one default."""
    parser.add_argument(
        "--device",
        choices=Device.choices(),
        default=Device.auto.value,
        help="where to compute: auto (CUDA when available), cpu or cuda (default auto)",
    )


def add_overrides_argument(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable, into ``args.overrides``): training configuration keys."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, TOML value syntax, e.g. --set epochs=3 "
        "--set optim.lr=2e-4 --set data.n_choices=[16,24] (repeatable)",
    )


MODEL_FLAGS = {"model": "--model", "device": "--device", "threads": "--threads"}
"""The flags of :func:`add_model_arguments`, for a command's ``FLAGS``
(:func:`mrsisr.errors.argument`)."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that runs a model: ``--model``, ``--device``, ``--threads``."""
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"model file (default: the shipped weights, {DEFAULT_MODEL.name})",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: as many as there are idle cores)",
    )


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """``--precision fp32|bf16|auto`` of the commands that super-resolve maps."""
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="arithmetic of the network: bf16 autocast is faster on CPUs with AVX-512 BF16 "
        "or AMX and within 0.02 dB PSNR of fp32 on the test set; auto uses it where the "
        "hardware has it (default: fp32)",
    )


def check_model_out(out: str | Path, overwrite: bool, inputs: tuple[Path, ...] = ()) -> Path:
    """``--out FILE`` of a command that writes a model file: a ``.safetensors`` name in an
    existing folder, new unless ``overwrite``, and none of ``inputs``.

    Raises:
        UserError: one line naming ``--out`` and what is accepted.
    """
    out = Path(out)
    if out.suffix != ".safetensors":
        raise UserError(f"--out {out}: must end in .safetensors")
    if out.exists() and not overwrite:
        raise UserError(f"--out {out}: exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist")
    if any(Path(path).resolve() == out.resolve() for path in inputs):
        raise UserError(f"--out {out}: is an input; write to a new file")
    return out
