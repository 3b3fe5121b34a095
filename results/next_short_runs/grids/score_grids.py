"""Score models on other output grids of the same voxel size: PSNR margin over zero-filling.

Every third (slice, metabolite) of a cohort's patients, cropped or zero-padded to each grid
(``MRSIDataset(grids=[G])``, ``SampleKey(i, n, 0.0, G)``), super-resolved as ``mrsisr
predict`` does (``ModelMethod.predict``) and scored inside the mask against the noiseless
target::

    python score_grids.py COHORT OUT.json MODEL [MODEL ...] [--n 16 24 32 24x32] [--grids 64x64]
"""

from __future__ import annotations

import argparse
import collections
import json

import numpy as np

from mrsisr.checkpoint import load_model
from mrsisr.data.dataset import MRSIDataset, SampleKey
from mrsisr.evaluation.methods import EvalBatch, ModelMethod
from mrsisr.metrics.pixel import psnr_in_mask

GRIDS = [(64, 64), (64, 84), (84, 64), (56, 72)]
SIZES = ["16", "24", "32", "24x32"]
"""The acquisition sizes of ``--n`` by default (``NxM``: rectangular)."""


def main(
    cohort: str,
    out: str,
    models: list[str],
    sizes: list[tuple[int, int]],
    grids: list[tuple[int, int]] = GRIDS,
) -> None:
    methods = {m: ModelMethod(m, {None: load_model(m)[0]}) for m in models}
    margins = collections.defaultdict(list)
    for grid in grids:
        dataset = MRSIDataset(cohort, None, grids=[grid], target="noiseless", deterministic=True)
        for n in sizes:
            cases = [dataset.case(SampleKey(i, n, 0.0, grid)) for i in range(0, len(dataset), 3)]
            for start in range(0, len(cases), 64):
                batch = EvalBatch.of(cases[start : start + 64])
                target = batch.target[:, 0].numpy()
                mask = batch.mask[:, 0].numpy() > 0.5
                zero = [
                    psnr_in_mask(batch.zero_filled[b], target[b], mask[b])
                    for b in range(len(target))
                ]
                for name, method in methods.items():
                    pred = method.predict(batch, 0.0)[:, 0].numpy()
                    for b, base in enumerate(zero):
                        margins[(name, grid, n)].append(
                            psnr_in_mask(pred[b], target[b], mask[b]) - base
                        )
            means = {m: round(float(np.mean(margins[(m, grid, n)])), 3) for m in models}
            print(grid, n, means, flush=True)
    with open(out, "w") as f:
        json.dump(
            {f"{m}|{g}|{n}": float(np.mean(v)) for (m, g, n), v in margins.items()}, f, indent=1
        )


def _size(text: str) -> tuple[int, int]:
    y, _, x = text.partition("x")
    return int(y), int(x or y)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cohort")
    parser.add_argument("out")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--n", nargs="+", default=SIZES, help="acquisition sizes, N or NxM")
    parser.add_argument("--grids", nargs="+", help="output grids, N or NxM (default: four)")
    args = parser.parse_args()
    grids = GRIDS if args.grids is None else [_size(v) for v in args.grids]
    main(args.cohort, args.out, args.models, [_size(v) for v in args.n], grids)
