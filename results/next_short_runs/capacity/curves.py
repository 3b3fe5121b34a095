"""The README's table and comparisons from ``training/*_metrics.csv``::

    python curves.py

Validation PSNR per epoch of each width and seed, the mean over seeds after the last epoch
(equal steps), and the wide runs after half as many epochs, which cost about what the
narrow ones' last epoch does (a wide step costs 1.96 times as much, ``step_time.py``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
WIDTHS = {"8-128": "base", "12-192": "wide"}


def curves(width: str) -> list[list[float]]:
    """Validation PSNR per epoch, one list per seed."""
    out = []
    for seed in (0, 1):
        path = HERE / "training" / f"cap_{WIDTHS[width]}_s{seed}_metrics.csv"
        with path.open(newline="") as f:
            out.append([float(row["val_psnr"]) for row in csv.DictReader(f)])
    return out


if __name__ == "__main__":
    runs = {width: curves(width) for width in WIDTHS}
    for width, seeds in runs.items():
        for seed, values in enumerate(seeds):
            print(f"{width}, seed {seed}:", " ".join(f"{v:.2f}" for v in values))
    last = {width: np.mean([s[-1] for s in seeds]) for width, seeds in runs.items()}
    half = np.mean([s[len(s) // 2 - 1] for s in runs["12-192"]])
    print(f"equal steps: 12-192 {last['12-192']:.2f} against 8-128 {last['8-128']:.2f} dB")
    print(f"equal compute: 12-192 at half the epochs {half:.2f} against {last['8-128']:.2f} dB")
