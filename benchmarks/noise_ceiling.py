"""The most any method can gain over k-space zero-filling on a simulated cohort.

The bound of :mod:`mrsisr.evaluation.ceiling` (the truth's unacquired white noise cannot be
predicted), per metabolite and n, averaged over maps as `mrsisr evaluate` averages its
margins (same quality mask and slice rule). Needs the per-metabolite noise SD that the
randomised and shifted simulators record in `phantom_params.json`.

    python benchmarks/noise_ceiling.py COHORT [--patients ID ...] [--n 16 24 32]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import kspace
from mrsisr.data.slices import SliceRule
from mrsisr.evaluation.ceiling import noise_ceiling


def ceiling(
    folder: Path, n_values: list[int], rule: SliceRule
) -> dict[str, dict[int, list[float]]]:
    """Per metabolite and n, the bound (dB) of every used slice of one patient."""
    params = json.loads((folder / "phantom_params.json").read_text())
    maps = params.get("metabolism", {}).get("maps")
    if not maps:
        raise SystemExit(f"{folder}: no per-metabolite noise SD (the paper phantom records none)")
    mask = np.asarray(nib.load(folder / "mask.nii.gz").dataobj) > 0
    used = rule.select(mask)
    out: dict[str, dict[int, list[float]]] = {}
    for met, p in maps.items():
        truth = np.asarray(nib.load(folder / f"met_{met}.nii.gz").dataobj, dtype=np.float64)
        grid = truth.shape[0]
        for n in n_values:
            lr = kspace.degrade(np.moveaxis(truth, 2, 0), n)
            zero_filled = np.moveaxis(kspace.zero_fill(lr, grid), 0, 2)
            out.setdefault(met, {}).setdefault(n, []).extend(
                noise_ceiling(zero_filled[..., s], truth[..., s], mask[..., s], p["noise_sd_mm"], n)
                for s in used
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--patients", nargs="+", default=None)
    parser.add_argument("--n", nargs="+", type=int, default=list(range(16, 33, 2)))
    args = parser.parse_args()
    rule = SliceRule()
    folders = sorted(p for p in args.cohort.iterdir() if (p / "phantom_params.json").is_file())
    if args.patients:
        folders = [f for f in folders if f.name in set(args.patients)]
    total: dict[str, dict[int, list[float]]] = {}
    for folder in folders:
        for met, by_n in ceiling(folder, args.n, rule).items():
            for n, values in by_n.items():
                total.setdefault(met, {}).setdefault(n, []).extend(values)
    name = args.cohort.name
    print(f"Bound on the PSNR margin over zero-filling (dB), {len(folders)} patients of {name}")
    print()
    print("| metabolite | " + " | ".join(f"n={n}" for n in args.n) + " |")
    print("|---|" + "---|" * len(args.n))
    every: dict[int, list[float]] = {n: [] for n in args.n}
    for met, by_n in total.items():
        print(f"| {met} | " + " | ".join(f"{np.mean(by_n[n]):+.2f}" for n in args.n) + " |")
        for n in args.n:
            every[n].extend(by_n[n])
    print("| **all** | " + " | ".join(f"{np.mean(every[n]):+.2f}" for n in args.n) + " |")


if __name__ == "__main__":
    main()
