"""``mrsisr report``: one self-contained HTML page of a ``mrsisr predict`` output folder.

Example::

    mrsisr report sr/ -o report.html --t1 t1.nii.gz

The page opens offline in any browser (everything inline, no network): per metabolite a
slice scroller, a λ slider over the computed sharpness levels, the map over the T1 with
adjustable opacity, the input (zero-filled), the super-resolved map and its SD, a colour bar
in the map's units and a provenance table. See docs/predict.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write a self-contained HTML report (λ slider, slices, SD, T1 overlay) of predict outputs"
FLAGS = {"out": "--out", "overwrite": "--overwrite", "t1": "--t1"}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr report``."""
    parser.add_argument("folder", type=Path, help="an output folder of mrsisr predict")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the .html file to write")
    parser.add_argument(
        "--t1", type=Path, help="T1 to show the maps over (default: the one in the sidecar)"
    )
    parser.add_argument("--units", help="units of the maps for the colour bar (e.g. mM)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")


def run(args: argparse.Namespace) -> int:
    """Read the folder, write the page and print its path."""
    from mrsisr.report import write_report  # numpy
    from mrsisr.report.collect import read_predict_folder

    data = read_predict_folder(args.folder, t1=args.t1, units=args.units)
    print(write_report(data, args.out, overwrite=args.overwrite))
    return 0
