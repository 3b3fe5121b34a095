"""``mrsisr blend``: interpolate the weights of a model and its fine-tuning (WiSE-FT).

How the shipped model was made from the previous one and its fine-tuning on the output grids
it serves (docs/training.md, "Blending a fine-tuning with its start")::

    mrsisr blend BASE.safetensors TUNED.safetensors --alpha 0.5 --out blended.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.commands._arguments import check_model_out

HELP = "interpolate the weights of a model and its fine-tuning (how the shipped model was made)"
FLAGS = {"base": "BASE", "tuned": "TUNED", "alpha": "--alpha", "out": "--out"}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr blend``."""
    parser.add_argument("base", metavar="BASE", help="the model file fine-tuned from")
    parser.add_argument(
        "tuned",
        metavar="TUNED",
        help="its fine-tuning (trained with init_model = BASE; its header says so)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        required=True,
        help="the fine-tuning's weight in [0, 1]: 0 gives BASE, 1 gives TUNED",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the blend (.safetensors)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--float32", action="store_true", help="store float32 weights (default float16)"
    )


def run(args: argparse.Namespace) -> int:
    """Check the arguments, blend, write the file, print it and the blend's record."""
    from mrsisr.train.blend import blend_files

    out = check_model_out(args.out, args.overwrite, (Path(args.base), Path(args.tuned)))
    record = blend_files(args.base, args.tuned, args.alpha, out, half=not args.float32)
    print(out)
    print(
        f"alpha {record['alpha']}: base {str(record['base_sha256'])[:12]}…, "
        f"tuned {str(record['tuned_sha256'])[:12]}…"
    )
    return 0
