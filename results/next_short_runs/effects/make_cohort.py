"""A ``realistic`` cohort with one group of its effects switched off (issue 25's effect runs).

    python results/next_short_runs/effects/make_cohort.py --without noise --out DIR \
        --first 1 --patients 5

The patients are those of ``mrsisr phantom --simulator realistic --seed 0`` with 100 patients
(the same ids W001 ..., anatomy, lesions, tissue concentrations and noise draws: the effects
come from a stream of their own, drawn the same number of times whatever their values), with
the magnitudes of one group at 0 (:meth:`mrsisr.sim.presets.RealismRanges.without`). The cohort's
provenance says which group is off. A short-run recipe, not part of the package: it swaps
the ``realistic`` preset of :mod:`mrsisr.sim.cohort` for this process only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import types
from pathlib import Path

from mrsisr.sim import cohort
from mrsisr.sim.presets import PRESETS, Preset

GROUPS = {
    # what a real map shows that the tissue model does not: contrast, variation, rim
    "maps": ("contrast_loss", "csf_fill", "gradient", "blob_amplitude", "rim", "outside"),
    # how its noise departs from the fit's CRLB: excess, tails, outliers, varying SNR
    "noise": ("noise_excess", "tail", "outliers", "snr_variation"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--without", choices=sorted(GROUPS), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--patients", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    realistic = PRESETS[Preset.realistic]
    if realistic.realism is None:
        raise SystemExit("the realistic preset has no effects to switch off")
    settings = dataclasses.replace(
        realistic,
        name=f"realistic without {args.without}",
        realism=realistic.realism.without(*GROUPS[args.without]),
    )
    cohort.PRESETS = types.MappingProxyType({**PRESETS, Preset.realistic: settings})
    cohort.patient_ids = lambda patients, prefix, first: tuple(  # W001 ... as in the 100
        f"{prefix}{i:03d}" for i in range(first, first + patients)
    )
    out = cohort.make_phantom_cohort(
        args.out, args.patients, args.seed, simulator="realistic", first=args.first
    )
    manifest = out / "cohort.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["provenance"] += f", effects off: {args.without} ({', '.join(GROUPS[args.without])})"
    manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
