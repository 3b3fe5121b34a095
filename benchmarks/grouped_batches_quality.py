"""Does training on grouped batches (one n and one metabolite per batch) change the quality?

Usage::

    python benchmarks/grouped_batches_quality.py --data COHORT --out DIR \\
        [--seeds 0 1] [--epochs 3] [--steps 100] [--config quick] [--set key=value ...]

Trains, for every seed, the same short run twice (``data.grouped_batches`` false, then true)
on fold 0 with one thread, one run after the other, and prints the validation loss, PSNR and
SSIM of the last epoch and the mean training-step time of each run. The spread between seeds
is the noise the grouped/mixed difference is compared with.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

from mrsisr.train.config_io import load_config
from mrsisr.train.run import plan_run, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="cohort folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    parser.add_argument("--config", default="quick")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        for grouped in (False, True):
            name = f"seed{seed}-{'grouped' if grouped else 'mixed'}"
            overrides = [
                f"seed={seed}",
                f"epochs={args.epochs}",
                f"steps_per_epoch={args.steps}",
                "threads=1",
                "progress=false",
                "tensorboard=false",
                f"data.grouped_batches={str(grouped).lower()}",
                *args.overrides,
            ]
            config = load_config(args.config, overrides)
            run = args.out / name
            train(plan_run(config, args.data, 0, run, resume=(run / "run.json").exists()))
            last = list(csv.DictReader((run / "metrics.csv").open()))[-1]
            step_ms = 1000 * float(last["epoch_s"]) / int(args.steps)
            rows.append((name, last, step_ms))
            print(
                f"{name:16s} val_loss {float(last['val_loss']):.5f}  "
                f"val_psnr {float(last['val_psnr']):.3f}  val_ssim {float(last['val_ssim']):.4f}  "
                f"last-epoch step {step_ms:.0f} ms",
                flush=True,
            )
    for kind in ("mixed", "grouped"):
        losses = [float(r[1]["val_loss"]) for r in rows if r[0].endswith(kind)]
        print(f"{kind:8s} val_loss mean {statistics.mean(losses):.5f} over seeds {losses}")


if __name__ == "__main__":
    main()
