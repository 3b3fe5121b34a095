"""The effect runs' tables: margin over zero-filling per n on the realistic development
patients, and the self-check on the real-like development set, beside S1 and S2 of ../n8.

    python compare.py

Reads ``../n8/realistic_dev`` (cf8d65aa, S1 and S2 at α = 0.5) and this folder's
``realistic_dev_*`` and ``real_like_dev_*`` (each effect run at α = 0.5); the evaluation is
deterministic, so zero-filling is the same map for map in every folder (checked here).
"""

from __future__ import annotations

import json
from pathlib import Path

from mrsisr.evaluation.tables import KEY_COLUMNS, entry_name, margins, read_samples_csv

HERE = Path(__file__).parent
ZERO = "zero_fill"
FOLDERS = {
    "cf8d65aa": (HERE / "../n8/realistic_dev", "full:data"),
    "S1: no effects (randomised only)": (HERE / "../n8/realistic_dev", "full:s1b50"),
    "S2: every effect": (HERE / "../n8/realistic_dev", "full:s2b50"),
    "E1: map effects, no noise effects": (HERE / "realistic_dev_nonoise", "full"),
    "E2: noise effects, no map effects": (HERE / "realistic_dev_nomaps", "full"),
}
SELF_CHECK = {
    "cf8d65aa": HERE / "../n8/real_like_dev/sc_base",
    "S2: every effect": HERE / "../n8/real_like_dev/scfix_s2b50",
    "E1: map effects, no noise effects": HERE / "real_like_dev_nonoise",
    "E2: noise effects, no map effects": HERE / "real_like_dev_nomaps",
}


def print_margins(column: str) -> None:
    zero: dict[tuple, float] = {}
    print(f"margin over zero-filling, {column}")
    for label, (folder, method) in FOLDERS.items():
        rows = read_samples_csv(folder / "samples.csv.gz")
        for r in rows:
            if r["method"] == ZERO:
                key = tuple(r[k] for k in KEY_COLUMNS)
                if zero.setdefault(key, r[column]) != r[column]:
                    raise SystemExit(f"{folder}: zero-filling differs at {key}")
        by_n = margins(rows, entry_name(method, 0.0), ZERO, column)["all"]
        print(f"  {label:36s} n = {list(by_n)}:", " / ".join(f"{m:+.2f}" for m in by_n.values()))


if __name__ == "__main__":
    for column in ("psnr", "psnr_true"):
        print_margins(column)
    print("self-check, real-like development set (raw / calibrated dB, no harm, worst)")
    for label, folder in SELF_CHECK.items():
        s = json.loads((folder / "self_consistency.json").read_text())["summary"]
        print(
            f"  {label:36s} {s['actual_raw_db']:+.2f} / {s['actual_db']:+.2f}, "
            f"{100 * s['no_harm_share']:.1f} %, {s['worst_db']:+.2f}, detail on "
            f"{s['weights_used']} of {s['maps']}"
        )
