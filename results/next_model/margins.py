"""The test-set tables of the candidates' READMEs: PSNR margin over zero-filling per n.

For each test set's ``samples.csv.gz`` (``mrsisr evaluate`` rows), against the measured and
the true maps: each model's mean margin over zero-filling per n (every map), and the
candidate minus the shipped model. Run in the candidate's folder (n8_blend, grid128_blend)::

    python ../margins.py --base full:data --candidate full:s2b25 paper randomised shifted
    python ../margins.py --base full:s2b25 --candidate full:s4b25 paper randomised shifted r128
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.evaluation.tables import entry_name, margins, read_samples_csv


def print_margins(folder: Path, base: str, candidate: str) -> None:
    rows = read_samples_csv(folder / "samples.csv.gz")
    for column in ("psnr", "psnr_true"):
        by_n = {
            m: margins(rows, entry_name(m, 0.0), metric=column)["all"] for m in (base, candidate)
        }
        ns = sorted(by_n[base])
        print(f"{folder.name} {column}, n = {' / '.join(map(str, ns))}")
        for method in (base, candidate):
            print(f"  {method:14s}", " / ".join(f"{by_n[method][n]:+.2f}" for n in ns))
        change = [by_n[candidate][n] - by_n[base][n] for n in ns]
        print(f"  {'change':14s}", " / ".join(f"{c:+.2f}" for c in change))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="evaluate output folders")
    parser.add_argument("--base", required=True, help="the shipped model's method label")
    parser.add_argument("--candidate", required=True, help="the candidate's method label")
    args = parser.parse_args()
    for folder in args.folders:
        print_margins(folder, args.base, args.candidate)
