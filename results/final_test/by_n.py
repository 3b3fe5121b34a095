"""The candidate minus the shipped model on the final test set, per n and over a range of n.

Reads a scoring folder's ``samples.csv.gz`` (``mrsisr evaluate``'s rows) and prints, against the
measured and the true maps, the mean difference at each n, and over the n of ``--n-min`` to
``--n-max``: both means, the patients above, and the paired Wilcoxon test over patient means
that ``mrsisr evaluate`` reports (two-sided, Pratt's treatment of zeros)::

    python by_n.py ad60840b --base full:data --candidate full:s2b25 [--n-min 16] [--n-max 32]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mrsisr.evaluation.tables import (
    entry_name,
    margins,
    paired_scores,
    patient_means,
    read_samples_csv,
)
from mrsisr.metrics import paired_wilcoxon


def main(folder: Path, base: str, candidate: str, n_min: int, n_max: int) -> None:
    rows = read_samples_csv(folder / "samples.csv.gz")
    pair = [entry_name(candidate, 0.0), entry_name(base, 0.0)]
    part = [r for r in rows if n_min <= r["n"] <= n_max]
    for column in ("psnr", "psnr_true"):
        by_n = margins(rows, *pair, metric=column)["all"]
        print(column, "per n:", " ".join(f"{n}:{v:+.3f}" for n, v in by_n.items()))
        means, _ = patient_means(part, column, pair)
        per_patient = means[pair[0]] - means[pair[1]]
        above = int((per_patient > 0).sum())
        p = paired_wilcoxon(means[pair[0]], means[pair[1]]).p_value
        scores = paired_scores(part, column, pair)
        print(
            f"  n {n_min}-{n_max}: {candidate} {scores[pair[0]].mean():.3f}, "
            f"{base} {scores[pair[1]].mean():.3f}; above on {above}/{per_patient.size} "
            f"patients, median {np.median(per_patient):+.4f}, Wilcoxon p = {p:.2g}"
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
