"""The most any method can gain over k-space zero-filling on a simulated cohort.

The bound of :mod:`mrsisr.evaluation.ceiling` (the truth's unacquired white noise cannot be
predicted), per metabolite and n, averaged over maps as `mrsisr evaluate` averages its
margins (same quality mask and slice rule). Needs the per-metabolite noise SD that the
randomised and shifted simulators record in `phantom_params.json`.

Where the cohort holds the maps before noise (`noiseless_<Met>.nii.gz`), a second table gives
the margin an oracle reaches that knows them: the noiseless map with the measured map's
acquired k-space (`mrsisr.data.dataset.noiseless_target`), scored against the measured map.
It is measured, clipping at zero included, where the bound above assumes white noise.

    python benchmarks/noise_ceiling.py COHORT [--patients ID ...] [--n 16 24 32] [--out DIR]

``--out DIR`` writes the tables to ``DIR/noise_ceiling.md`` and the folder's ``record.json``
(commit, data, command) instead of printing them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import kspace
from mrsisr.data.dataset import noiseless_target
from mrsisr.data.manifest import MASK_FILE, map_file, noiseless_file
from mrsisr.data.slices import SliceRule
from mrsisr.evaluation.ceiling import noise_ceiling
from mrsisr.machine import source_state
from mrsisr.metabolites import Metabolite
from mrsisr.provenance import write_result_record
from mrsisr.sim.cohort import PARAMS_FILE


def oracle_margin(
    truth: np.ndarray, zero_filled: np.ndarray, clean: np.ndarray, mask: np.ndarray, n: int
) -> float:
    """PSNR margin (dB) over zero-filling of the oracle that knows the noiseless map."""
    inside = mask != 0
    oracle = noiseless_target(truth, clean, (n, n))
    mse_zf = np.mean((zero_filled[inside] - truth[inside]) ** 2)
    return float(10 * np.log10(mse_zf / np.mean((oracle[inside] - truth[inside]) ** 2)))


def ceiling(
    folder: Path, n_values: list[int], rule: SliceRule
) -> dict[str, tuple[dict[int, list[float]], int, int, dict[int, list[float]]]]:
    """Per metabolite: the bound (dB) of every used slice per n, how many of the scored
    voxels the simulator clipped to zero (where the bound, made for white noise, is loose)
    out of how many, and the oracle's margin per slice and n (empty without noiseless maps)."""
    params = json.loads((folder / PARAMS_FILE).read_text())
    maps = params.get("metabolism", {}).get("maps")
    if not maps:
        raise SystemExit(f"{folder}: no per-metabolite noise SD (the paper phantom records none)")
    mask = np.asarray(nib.load(folder / MASK_FILE).dataobj) > 0
    used = list(rule.select(mask))
    out = {}
    for met, p in maps.items():
        truth = np.asarray(nib.load(folder / map_file(Metabolite(met))).dataobj, np.float64)
        grid = truth.shape[0]
        clean_file = folder / noiseless_file(Metabolite(met))
        clean = (
            np.asarray(nib.load(clean_file).dataobj, np.float64) if clean_file.is_file() else None
        )
        bounds: dict[int, list[float]] = {}
        oracle: dict[int, list[float]] = {}
        for n in n_values:
            lr = kspace.degrade(np.moveaxis(truth, 2, 0), n)
            zero_filled = np.moveaxis(kspace.zero_fill(lr, grid), 0, 2)
            bounds[n] = [
                noise_ceiling(zero_filled[..., s], truth[..., s], mask[..., s], p["noise_sd_mm"], n)
                for s in used
            ]
            if clean is not None:
                oracle[n] = [
                    oracle_margin(
                        truth[..., s], zero_filled[..., s], clean[..., s], mask[..., s], n
                    )
                    for s in used
                ]
        scored = truth[..., used][mask[..., used]]
        out[met] = (bounds, int((scored == 0).sum()), int(scored.size), oracle)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--patients", nargs="+", default=None)
    parser.add_argument("--n", nargs="+", type=int, default=list(range(16, 33, 2)))
    parser.add_argument("--out", type=Path, help="write noise_ceiling.md and record.json here")
    args = parser.parse_args()
    if args.out is None:
        report(args)
        return
    code = source_state()
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "noise_ceiling.md").open("w", encoding="utf-8") as fh:
        with contextlib.redirect_stdout(fh):
            patients = report(args)
    write_result_record(
        args.out,
        "the noise bound and the noiseless oracle's PSNR margin over zero-filling",
        data=args.cohort,
        patients=patients,
        seeds={"none": "deterministic: no draw (the cohort's own noise)"},
        command=["python", "benchmarks/noise_ceiling.py", *sys.argv[1:]],
        code=code,
    )


def report(args: argparse.Namespace) -> list[str]:
    """Print both tables; return the patients used."""
    rule = SliceRule()
    folders = sorted(p for p in args.cohort.iterdir() if (p / PARAMS_FILE).is_file())
    if args.patients:
        folders = [f for f in folders if f.name in set(args.patients)]
    total: dict[str, dict[int, list[float]]] = {}
    oracles: dict[str, dict[int, list[float]]] = {}
    clipped: dict[str, list[int]] = {}
    for folder in folders:
        for met, (by_n, zeros, voxels, oracle) in ceiling(folder, args.n, rule).items():
            for n, values in by_n.items():
                total.setdefault(met, {}).setdefault(n, []).extend(values)
            for n, values in oracle.items():
                oracles.setdefault(met, {}).setdefault(n, []).extend(values)
            counts = clipped.setdefault(met, [0, 0])
            counts[0] += zeros
            counts[1] += voxels
    name = args.cohort.name
    print(f"Bound on the PSNR margin over zero-filling (dB), {len(folders)} patients of {name}")
    shares = {met: f"{100 * zeros / voxels:.2f} %" for met, (zeros, voxels) in clipped.items()}
    table(total, args.n, ("clipped to 0", shares))
    if len(oracles) == len(total):
        print()
        print("Margin of the oracle that knows the noiseless maps (dB)")
        table(oracles, args.n)
    return [f.name for f in folders]


def table(
    values: dict[str, dict[int, list[float]]],
    n_values: list[int],
    extra: tuple[str, dict[str, str]] | None = None,
) -> None:
    """A markdown table of the mean per metabolite and n, and over every metabolite, with an
    optional last column ``(title, text per metabolite)``."""
    title, cells = extra if extra is not None else ("", {})
    tail = f" {title} |" if extra is not None else ""
    print()
    print("| metabolite | " + " | ".join(f"n={n}" for n in n_values) + " |" + tail)
    print("|---|" + "---|" * (len(n_values) + (extra is not None)))
    for met, by_n in values.items():
        row = " | ".join(f"{np.mean(by_n[n]):+.2f}" for n in n_values)
        print(f"| {met} | {row} |" + (f" {cells[met]} |" if extra is not None else ""))
    every = [np.mean([v for by_n in values.values() for v in by_n[n]]) for n in n_values]
    print("| **all** | " + " | ".join(f"{m:+.2f}" for m in every) + " |" + (" |" if tail else ""))


if __name__ == "__main__":
    main()
