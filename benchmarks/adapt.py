"""What adapting the network to a patient's own maps is worth, against the truth.

For every patient of a simulated cohort, every map is cut to ``n`` (the patient's
"acquisition"), the shipped (or ``--model``) network is adapted on those low-resolution maps
alone, as ``mrsisr predict --adapt`` does (all metabolites of the patient together, a slice
in four held out), and the raw and calibrated outputs of the base and the adapted model
(``n -> N``) are scored against the cohort's maps; also whether the held-out self-check
would have chosen the adapted model, and the seconds adaptation took.

    python benchmarks/adapt.py --data COHORT --all-patients --n 24 --out results/adapt/SET

Writes ``adapt.csv`` (one row per map), ``adapt.md`` (means) and ``record.json``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mrsisr import kspace
from mrsisr.adapt import AdaptSettings, Scan, adapt
from mrsisr.data.cohort import Cohort
from mrsisr.data.normalise import normalise_anatomy
from mrsisr.data.slices import SliceRule
from mrsisr.evaluation.selfcheck import scored_check
from mrsisr.inference import Anatomy, Predictor
from mrsisr.machine import source_state
from mrsisr.predict import load_predictor
from mrsisr.provenance import write_result_record


def gains(predictor: Predictor, scans: list[Scan], truths: dict) -> dict:
    """Raw and calibrated gains (dB over zero-filling) of every map against its truth."""
    out = {}
    for scan in scans:
        _, raw, calibrated = scored_check(
            predictor, scan.lr, scan.metabolite, scan.anatomy, truths[scan.metabolite]
        )
        out[scan.metabolite] = (raw, calibrated)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--patients", nargs="+")
    which.add_argument("--all-patients", action="store_true")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--steps", type=int, default=AdaptSettings.steps)
    parser.add_argument("--lr", type=float, default=AdaptSettings.lr)
    parser.add_argument("--trainable", default="all")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    code = source_state()
    torch.set_num_threads(1)
    predictor = load_predictor(args.model, "cpu", threads=1)
    cohort = Cohort.open(args.data)
    ids = list(cohort.patients) if args.all_patients else args.patients
    settings = AdaptSettings(steps=args.steps, lr=args.lr, trainable=args.trainable)
    rows = []
    for pid in ids:
        patient = cohort.load(pid, anatomy_upsample=1)
        z = list(SliceRule().select(patient.mask))
        mask = patient.mask[:, :, z]
        anatomy = Anatomy(
            t1=normalise_anatomy(patient.t1[:, :, z], mask),
            flair=normalise_anatomy(patient.flair[:, :, z], mask),
            mask=mask,
            mask_source="cohort quality mask",
        )
        truths = {
            m: np.moveaxis(v[:, :, z].astype(np.float64), 2, 0) for m, v in patient.maps.items()
        }
        scans = [
            Scan(np.moveaxis(kspace.degrade(t, args.n), 0, 2), m, anatomy)
            for m, t in truths.items()
        ]
        before = gains(predictor, scans, truths)
        start = time.perf_counter()
        result = adapt(predictor, scans, settings)
        seconds = time.perf_counter() - start
        model = Predictor(result.model, predictor.grid, trained_n=predictor.trained_n)
        adapted = gains(model, scans, truths)
        for met in before:
            rows.append(
                {
                    "patient": pid,
                    "metabolite": met.value,
                    "n": args.n,
                    "base_raw_db": before[met][0],
                    "base_calibrated_db": before[met][1],
                    "adapted_raw_db": adapted[met][0],
                    "adapted_calibrated_db": adapted[met][1],
                    "held_out_before_db": result.before_db,
                    "held_out_after_db": result.after_db,
                    "probe_db": result.probe_db,
                    "held_out_rose": result.after_db > result.before_db,
                    "adapted_used": result.improved,
                    "seconds": seconds,
                }
            )
        print(
            f"{pid}: calibrated {np.mean([b[1] for b in before.values()]):+.2f} -> "
            f"{np.mean([a[1] for a in adapted.values()]):+.2f} dB; held-out "
            f"{result.before_db:+.2f} -> {result.after_db:+.2f}, probe {result.probe_db:+.2f}; "
            f"{seconds:.0f} s",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "adapt.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def mean(key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    chosen = [
        r["adapted_calibrated_db"] if r["adapted_used"] else r["base_calibrated_db"] for r in rows
    ]
    used = len({r["patient"] for r in rows if r["adapted_used"]})
    by_patient = {r["patient"]: r for r in rows}  # one decision per patient
    helped = {
        p: np.mean(
            [
                r["adapted_calibrated_db"] - r["base_calibrated_db"]
                for r in rows
                if r["patient"] == p
            ]
        )
        > 0
        for p in by_patient
    }
    right = sum(by_patient[p]["adapted_used"] == helped[p] for p in by_patient)
    right_held = sum(by_patient[p]["held_out_rose"] == helped[p] for p in by_patient)
    held_chosen = [
        r["adapted_calibrated_db"] if r["held_out_rose"] else r["base_calibrated_db"] for r in rows
    ]
    lines = [
        f"# Adaptation at n = {args.n} ({len(ids)} patients, {len(rows)} maps)",
        "",
        "| mean gain over zero-filling (dB) | raw | calibrated |",
        "|---|---|---|",
        f"| base model | {mean('base_raw_db'):+.3f} | {mean('base_calibrated_db'):+.3f} |",
        f"| adapted model | {mean('adapted_raw_db'):+.3f} | {mean('adapted_calibrated_db'):+.3f} |",
        "| what `predict --adapt` outputs (adapted where the held-out check and the probe "
        f"rose) | | {np.mean(chosen):+.3f} |",
        f"| the held-out check alone deciding | | {np.mean(held_chosen):+.3f} |",
        "",
        f"adapted model used for {used} of {len(ids)} patients; the decision was right "
        f"(used where adapting raised the mean calibrated gain, not used elsewhere) for {right} "
        f"of {len(ids)}, the held-out check alone for {right_held}; "
        f"adaptation took {np.mean([r['seconds'] for r in rows]):.0f} s per patient on average "
        f"(1 thread; settings {settings.to_dict()})",
    ]
    (args.out / "adapt.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_result_record(
        args.out,
        "benchmarks/adapt.py: adaptation against the truth",
        models=[predictor.source] if predictor.source else [],
        data=args.data,
        patients=ids,
        seeds={"adapt_seed": settings.seed},
        command=["python", *sys.argv],
        code=code,
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
