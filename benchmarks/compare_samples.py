"""Do two evaluations give the same scores on the maps both scored? (model and data checks)

Pairs the rows of two ``samples.csv[.gz]`` files on (entry, images, patient, slice,
metabolite, n) and reports, per metric, the largest absolute difference. Used to check that
a model file named by its SHA-256 is the one a committed result was measured with: evaluate
the file again on a few of the result's patients, then compare.

    python benchmarks/compare_samples.py NEW/samples.csv OLD/samples.csv.gz \\
        [--rename OLD_ENTRY=NEW_ENTRY ...] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from mrsisr.evaluation.tables import KEY_COLUMNS, entry_of, read_samples_csv

METRICS = ("psnr", "ssim", "ms_ssim", "nrmse")


def _key(row: dict, rename: dict[str, str]) -> tuple:
    entry = entry_of(row)
    entry = rename.get(entry, entry)
    images = row.get("images") or "both"
    return (entry, images, *(row[k] for k in KEY_COLUMNS))


def compare(new: Path, old: Path, rename: dict[str, str]) -> dict:
    """Largest absolute difference per metric over the maps both files scored."""
    old_rows = {_key(r, rename): r for r in read_samples_csv(old)}
    matched, missing = 0, 0
    worst = dict.fromkeys(METRICS, 0.0)
    for row in read_samples_csv(new):
        other = old_rows.get(_key(row, {}))
        if other is None:
            missing += 1
            continue
        matched += 1
        for metric in METRICS:
            a, b = float(row[metric]), float(other[metric])
            if math.isfinite(a) and math.isfinite(b):
                worst[metric] = max(worst[metric], abs(a - b))
    return {
        "new": str(new),
        "old": str(old),
        "rename": rename,
        "maps_matched": matched,
        "maps_not_in_old": missing,
        "max_abs_difference": worst,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("new", type=Path)
    parser.add_argument("old", type=Path)
    parser.add_argument("--rename", nargs="*", default=[], metavar="OLD=NEW")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rename = dict(item.split("=", 1) for item in args.rename)
    result = compare(args.new, args.old, rename)
    result["command"] = ["python", "benchmarks/compare_samples.py", *sys.argv[1:]]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if result["maps_matched"] and not result["maps_not_in_old"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
