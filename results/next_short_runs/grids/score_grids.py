"""Score models on other output grids of the same voxels (dev patients): PSNR margin over zero-filling."""
import sys, json, collections
import numpy as np
from mrsisr.checkpoint import load_model
from mrsisr.data.dataset import MRSIDataset, SampleKey
from mrsisr.evaluation.methods import EvalBatch, ModelMethod
from mrsisr.metrics.pixel import psnr_in_mask

cohort, out = sys.argv[1], sys.argv[2]
models = sys.argv[3:]
grids = [(64, 64), (64, 84), (84, 64), (56, 72)]
ns = [(16, 16), (24, 24), (32, 32), (24, 32)]
methods = {m: ModelMethod(m, {None: load_model(m)[0]}) for m in models}
res = collections.defaultdict(list)
for grid in grids:
    ds = MRSIDataset(cohort, None, grids=[grid], target="noiseless", deterministic=True)
    items = range(0, len(ds), 3)  # every third (slice, metabolite)
    for n in ns:
        cases = [ds.case(SampleKey(i, n, 0.0, grid)) for i in items]
        for start in range(0, len(cases), 64):
            batch = EvalBatch.of(cases[start:start + 64])
            ref = batch.target[:, 0].numpy(); mask = batch.mask[:, 0].numpy() > 0.5
            zf = [psnr_in_mask(batch.zero_filled[b], ref[b], mask[b]) for b in range(len(ref))]
            for name, method in methods.items():
                pred = method.predict(batch, 0.0)[:, 0].numpy()
                for b in range(len(ref)):
                    res[(name, grid, n)].append(psnr_in_mask(pred[b], ref[b], mask[b]) - zf[b])
        print(grid, n, {m.split('/')[-2]: round(float(np.mean(res[(m, grid, n)])), 3) for m in models}, flush=True)
json.dump({f"{m}|{g}|{n}": float(np.mean(v)) for (m, g, n), v in res.items()}, open(out, "w"), indent=1)
