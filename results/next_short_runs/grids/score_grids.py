"""Score models on other output grids of the same voxel size: PSNR margin over zero-filling.

Every third (slice, metabolite) of a cohort's patients, cropped or zero-padded to each grid
(``MRSIDataset(grids=[G])``, ``SampleKey(i, n, 0.0, G)``), super-resolved as ``mrsisr
predict`` does (``ModelMethod.predict``) and scored inside the mask against the noiseless
target::

    python score_grids.py COHORT OUT.json MODEL [MODEL ...]
"""

from __future__ import annotations

import collections
import json
import sys

import numpy as np

from mrsisr.checkpoint import load_model
from mrsisr.data.dataset import MRSIDataset, SampleKey
from mrsisr.evaluation.methods import EvalBatch, ModelMethod
from mrsisr.metrics.pixel import psnr_in_mask

GRIDS = [(64, 64), (64, 84), (84, 64), (56, 72)]
SIZES = [(16, 16), (24, 24), (32, 32), (24, 32)]


def main(cohort: str, out: str, models: list[str]) -> None:
    methods = {m: ModelMethod(m, {None: load_model(m)[0]}) for m in models}
    margins = collections.defaultdict(list)
    for grid in GRIDS:
        dataset = MRSIDataset(cohort, None, grids=[grid], target="noiseless", deterministic=True)
        for n in SIZES:
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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
