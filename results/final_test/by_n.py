"""The candidate minus the shipped model on the final test set, per n and over a range of n.

Reads a scoring folder's ``samples.csv.gz`` (``mrsisr evaluate``'s rows) and prints, against the
measured and the true maps, the mean difference at each n, and over the n of ``--n-min`` to
``--n-max``: both means, the patients above, and the paired Wilcoxon test over patient means
that ``mrsisr evaluate`` reports (two-sided, Pratt's treatment of zeros)::

    python by_n.py ad60840b --base full:data --candidate full:s2b25 [--n-min 16] [--n-max 32]
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

from mrsisr.evaluation.tables import read_samples_csv


def main(folder: Path, base: str, candidate: str, n_min: int, n_max: int) -> None:
    rows = read_samples_csv(folder / "samples.csv.gz")
    for column in ("psnr", "psnr_true"):
        score: dict[str, dict[tuple, float]] = collections.defaultdict(dict)
        for r in rows:  # one map: (patient, slice, metabolite, n)
            score[r["method"]][r["patient"], r["slice"], r["metabolite"], r["n"]] = r[column]
        diff = {key: score[candidate][key] - score[base][key] for key in score[base]}
        ns = sorted({key[3] for key in diff})
        by_n = {n: np.mean([d for key, d in diff.items() if key[3] == n]) for n in ns}
        print(column, "per n:", " ".join(f"{n}:{v:+.3f}" for n, v in by_n.items()))
        part = [key for key in diff if n_min <= key[3] <= n_max]
        patients = sorted({key[0] for key in part})
        per_patient = [np.mean([diff[k] for k in part if k[0] == p]) for p in patients]
        above = sum(d > 0 for d in per_patient)
        p = wilcoxon(per_patient, zero_method="pratt").pvalue
        means = [np.mean([score[m][k] for k in part]) for m in (candidate, base)]
        print(
            f"  n {n_min}-{n_max}: {candidate} {means[0]:.3f}, {base} {means[1]:.3f}; "
            f"above on {above}/{len(patients)} patients, median {np.median(per_patient):+.4f}, "
            f"Wilcoxon p = {p:.2g}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a scoring folder of this directory")
    parser.add_argument("--base", required=True, help="the shipped model's method label")
    parser.add_argument("--candidate", required=True, help="the candidate's method label")
    parser.add_argument("--n-min", type=int, default=16)
    parser.add_argument("--n-max", type=int, default=32)
    args = parser.parse_args()
    main(args.folder, args.base, args.candidate, args.n_min, args.n_max)
