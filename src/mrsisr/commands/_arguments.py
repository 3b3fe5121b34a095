"""Options shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.weights import DEFAULT_MODEL

__all__ = ["add_model_arguments"]


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that runs a model: ``--model``, ``--device``, ``--threads``."""
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"model file (default: the shipped weights, {DEFAULT_MODEL.name})",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: as many as there are idle cores)",
    )
