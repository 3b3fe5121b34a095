"""The test-set tables of this folder's README: PSNR margin over zero-filling per n.

For each test set's ``samples.csv.gz`` (``mrsisr evaluate`` rows), against the measured and
the true maps: each model's mean margin over zero-filling per n (every map), and the
candidate minus cf8d65aa::

    python margins.py [paper randomised shifted]
"""

from __future__ import annotations

import collections
import csv
import gzip
import sys
from pathlib import Path

import numpy as np

BASE, CANDIDATE, ZERO = "full:data", "full:s2b25", "zero_fill"


def margins(folder: Path) -> None:
    with gzip.open(folder / "samples.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    for column in ("psnr", "psnr_true"):
        score = collections.defaultdict(dict)
        for r in rows:
            key = (r["patient"], r["slice"], r["metabolite"], int(r["n"]))
            score[r["method"]][key] = float(r[column])
        ns = sorted({key[3] for key in score[ZERO]})

        def margin(method: str, n: int, score: dict = score) -> float:
            keys = [k for k in score[ZERO] if k[3] == n]
            return float(np.mean([score[method][k] - score[ZERO][k] for k in keys]))

        print(f"{folder.name} {column}, n = {' / '.join(map(str, ns))}")
        for method in (BASE, CANDIDATE):
            print(f"  {method:12s}", " / ".join(f"{margin(method, n):+.2f}" for n in ns))
        change = [margin(CANDIDATE, n) - margin(BASE, n) for n in ns]
        print(f"  {'change':12s}", " / ".join(f"{c:+.2f}" for c in change))


if __name__ == "__main__":
    here = Path(__file__).parent
    for name in sys.argv[1:] or ["paper", "randomised", "shifted"]:
        margins(here / name)
