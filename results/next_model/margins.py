"""The test-set tables of the candidates' READMEs: PSNR margin over zero-filling per n.

For each test set's ``samples.csv.gz`` (``mrsisr evaluate`` rows), against the measured and
the true maps: each model's mean margin over zero-filling per n (every map), and the
candidate minus the shipped model. Run in the candidate's folder (n8_blend, grid128_blend)::

    python ../margins.py --base full:data --candidate full:s2b25 paper randomised shifted
    python ../margins.py --base full:s2b25 --candidate full:s4b25 paper randomised shifted r128
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

from mrsisr.evaluation.tables import read_samples_csv

ZERO = "zero_fill"


def margins(folder: Path, base: str, candidate: str) -> None:
    rows = read_samples_csv(folder / "samples.csv.gz")
    for column in ("psnr", "psnr_true"):
        score: dict[str, dict[tuple, float]] = collections.defaultdict(dict)
        for r in rows:  # one map: (patient, slice, metabolite, n)
            score[r["method"]][r["patient"], r["slice"], r["metabolite"], r["n"]] = r[column]
        ns = sorted({key[3] for key in score[ZERO]})

        def margin(method: str, n: int, score: dict = score) -> float:
            keys = [k for k in score[ZERO] if k[3] == n]
            return float(np.mean([score[method][k] - score[ZERO][k] for k in keys]))

        print(f"{folder.name} {column}, n = {' / '.join(map(str, ns))}")
        for method in (base, candidate):
            print(f"  {method:14s}", " / ".join(f"{margin(method, n):+.2f}" for n in ns))
        change = [margin(candidate, n) - margin(base, n) for n in ns]
        print(f"  {'change':14s}", " / ".join(f"{c:+.2f}" for c in change))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="evaluate output folders")
    parser.add_argument("--base", required=True, help="the shipped model's method label")
    parser.add_argument("--candidate", required=True, help="the candidate's method label")
    args = parser.parse_args()
    for folder in args.folders:
        margins(folder, args.base, args.candidate)
