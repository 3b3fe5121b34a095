"""Time `mrsisr predict` on a whole volume: 7 metabolites, 32 x 32 x S -> 64 x 64 x S.

Usage: ``python benchmarks/predict_volume.py [--slices 39] [--threads 1 2] [--model FILE]
[--adapt]``.
Makes one in-silico patient, degrades each metabolite map to a 32 x 32 acquisition (as a
scanner would give it) and times the whole command, start-up included, once per thread count;
with ``--adapt``, also ``mrsisr predict --adapt`` (adaptation, its probe and checks included).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import kspace
from mrsisr.sim.cohort import make_phantom_cohort


def make_inputs(root: Path, slices: int, n: int) -> Path:
    """A phantom patient and its maps degraded to ``n x n``; returns the patient folder."""
    patient = make_phantom_cohort(root / "cohort", patients=1, seed=7, slices=slices) / "P01"
    (root / "lr").mkdir()
    for path in sorted(patient.glob("met_*.nii.gz")):
        img = nib.load(path)
        hr = np.moveaxis(np.asarray(img.dataobj, dtype=np.float64), 2, 0)
        lr = np.moveaxis(kspace.degrade(hr, n), 0, 2).astype(np.float32)
        affine = kspace.lowres_affine(img.affine, hr.shape[1:], (n, n))
        nib.save(nib.Nifti1Image(lr, affine), root / "lr" / f"lr_{path.name[4:]}")
    return patient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=39)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--adapt", action="store_true", help="also time predict --adapt")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        patient = make_inputs(root, args.slices, 32)
        command = [sys.executable, "-m", "mrsisr.cli", "predict"]
        command += ["--met", *map(str, sorted((root / "lr").iterdir()))]
        command += ["--t1", str(patient / "t1.nii.gz"), "--flair", str(patient / "flair.nii.gz")]
        command += ["--mask", str(patient / "mask.nii.gz"), "--out", str(root / "sr")]
        command += ["--overwrite"] + (["--model", str(args.model)] if args.model else [])
        for threads in args.threads:
            for extra in [[], ["--adapt"]] if args.adapt else [[]]:
                start = time.perf_counter()
                run = [*command, "--threads", str(threads), *extra]
                subprocess.run(run, check=True, capture_output=True)
                seconds = time.perf_counter() - start
                print(
                    f"7 maps of 64 x 64 x {args.slices}, {threads} thread(s)"
                    f"{', --adapt' if extra else ''}: {seconds:.2f} s"
                )


if __name__ == "__main__":
    main()
