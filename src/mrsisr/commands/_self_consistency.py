"""``mrsisr evaluate --self-consistency``: the self-check protocol on a cohort.

Every map is cut to each ``--n``; the self-check estimates from that map alone what the
network adds one scale down (``n' -> n``), and the raw and calibrated outputs (``n -> N``)
are scored against the cohort's maps. Writes ``self_consistency.csv`` (one row per map),
``self_consistency.md`` (one table per metabolite and n, and the summary) and
``self_consistency.json`` (the summary, command, model, code state). docs/self-check.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from mrsisr.errors import UserError
from mrsisr.metabolites import parse_metabolite
from mrsisr.provenance import FileHashes, write_result_record


def run(args: argparse.Namespace, images: tuple[bool, bool]) -> int:
    """Run the protocol with ``evaluate``'s options (one model, or the shipped one)."""
    from mrsisr.data.cohort import Cohort
    from mrsisr.evaluation.plan import select_patients
    from mrsisr.evaluation.report import machine_info
    from mrsisr.evaluation.selfcheck import check_cohort, check_table, summarise
    from mrsisr.machine import source_state
    from mrsisr.predict import load_predictor

    start = time.perf_counter()
    code = source_state()
    out = Path(args.out)
    if (out / "self_consistency.csv").exists():
        raise UserError(f"--out {out}: already holds a self-consistency run; choose a new folder")
    if len(args.model) > 1:
        raise UserError("--self-consistency: give one --model (default: the shipped one)")
    cohort = Cohort.open(args.data)
    ids = select_patients(
        cohort.patients, patients=args.patients, fold=args.fold, folds=args.folds, seed=args.seed
    )
    predictor = load_predictor(Path(args.model[0]) if args.model else None, args.device)
    n_values = args.n or sorted(predictor.trained_n) or list(range(16, 33, 2))
    metabolites = [parse_metabolite(m) for m in args.metabolites] if args.metabolites else None
    rows = check_cohort(predictor, cohort, ids, n_values, metabolites, images)
    summary = summarise(rows)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "self_consistency.csv", "w", newline="", encoding="utf-8") as fh:
        fields = list(rows[0].to_dict()) if rows else []
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(r.to_dict() for r in rows)
    model = predictor.source
    record = {
        "command": ["mrsisr", *sys.argv[1:]],
        "data": str(Path(args.data).resolve()),
        "patients": ids,
        "n": list(n_values),
        "images": list(images),
        "model": str(model.resolve()) if model else None,
        "model_sha256": FileHashes()(model) if model else None,
        "summary": summary,
        "machine": machine_info(),
        "code": code,
        "wall_seconds": time.perf_counter() - start,
    }
    (out / "self_consistency.json").write_text(json.dumps(record, indent=1) + "\n", "utf-8")
    write_result_record(
        out,
        "mrsisr evaluate --self-consistency",
        models=[model] if model else [],
        data=args.data,
        patients=ids,
        seeds={"split_seed": args.seed, "fold": args.fold, "folds": args.folds},
        code=code,
    )
    lines = [f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in summary.items()]
    text = "# Self-consistency\n\n" + check_table(rows) + "\n" + "\n".join(lines) + "\n"
    (out / "self_consistency.md").write_text(text, encoding="utf-8")
    print(text.rstrip())
    return 0
