"""Statistical tests recomputed from a result folder's own outputs, at the independent unit.

``mrsisr reproduce tests`` reads what an earlier command wrote into a result folder (per-map
scores ``samples.csv[.gz]``, per-run summaries ``runs.csv``) and writes the tests again with
the current rules, without training or scoring anything:

* an n-conditioning ablation (``runs.csv``): ``seed_tests.md``, every test over seeds, pooled
  designs averaged within a seed, Holm over each table and metric
  (:func:`mrsisr.experiments.ncond.report_markdown`);
* a Table 1 reproduction (``protocol.json`` of ``table1``): ``seed_tests.md``, Welch over
  networks, Holm over the comparisons (:func:`mrsisr.experiments.table1.seed_tests_markdown`);
* an evaluation (``evaluation.json``): ``summary.md`` written again, with its Wilcoxon tests
  over patients and Holm's adjustment (it replaces a summary that tested maps).

The folder's ``record.json`` must exist; the recomputation is appended to its ``derived``
list (files, command line, code state, date), so the record says which command wrote what.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mrsisr.errors import UserError
from mrsisr.evaluation.tables import read_samples_csv, summary_markdown
from mrsisr.experiments.ncond import report_markdown
from mrsisr.experiments.runs import protocol_markdown
from mrsisr.experiments.table1 import seed_tests_markdown
from mrsisr.machine import source_state
from mrsisr.provenance import RECORD_FILE
from mrsisr.untrusted import read_json

__all__ = ["retest"]


def _samples(folder: Path) -> Path | None:
    for name in ("samples.csv.gz", "samples.csv"):
        if (folder / name).is_file():
            return folder / name
    return None


def _json(path: Path) -> dict[str, Any]:
    doc = read_json(path, path.name)
    if not isinstance(doc, dict):
        raise UserError(f"{path}: must hold a JSON object")
    return doc


def _ncond(folder: Path) -> Path:
    rows = read_samples_csv(folder / "runs.csv")
    summaries: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        summaries.setdefault(str(row["design"]), []).append(row)
    protocol = _json(folder / "protocol.json")
    seeds = sorted({int(r["seed"]) for r in rows})
    text = report_markdown(summaries, seeds, protocol_markdown(protocol))
    path = folder / "seed_tests.md"
    path.write_text(text, encoding="utf-8")
    return path


def _table1(folder: Path, samples: Path) -> Path:
    rows = read_samples_csv(samples)
    path = folder / "seed_tests.md"
    title = "# Table 1: tests over networks, recomputed from `samples.csv.gz`\n\n"
    path.write_text(title + seed_tests_markdown(rows), encoding="utf-8")
    return path


def _summary(folder: Path, samples: Path) -> Path:
    doc = _json(folder / "evaluation.json")
    path = folder / "summary.md"
    title = "Evaluation"
    if path.is_file():
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        title = first[0].lstrip("# ").strip() if first and first[0].startswith("# ") else title
    rows = read_samples_csv(samples)
    text = summary_markdown(rows, doc.get("metrics", {}), doc.get("reference"), title)
    path.write_text(text, encoding="utf-8")
    return path


def retest(folder: str | Path) -> list[Path]:
    """Recompute the tests of one result folder (see the module notes).

    Returns:
        The files written (and the updated ``record.json``).

    Raises:
        UserError: a folder without a record, or with nothing to test.
    """
    folder = Path(folder)
    record_path = folder / RECORD_FILE
    if not record_path.is_file():
        raise UserError(f"{folder}: has no {RECORD_FILE}; write what is known of it first")
    code = source_state()
    samples = _samples(folder)
    protocol = folder / "protocol.json"
    experiment = _json(protocol).get("experiment") if protocol.is_file() else None
    if (folder / "runs.csv").is_file() and experiment == "ncond":
        written = [_ncond(folder)]
    elif experiment == "table1" and samples is not None:
        written = [_table1(folder, samples)]
    elif (folder / "evaluation.json").is_file() and samples is not None:
        written = [_summary(folder, samples)]
    else:
        raise UserError(f"{folder}: no per-run or per-map outputs this command can test")
    record = _json(record_path)
    derived = [d for d in record.get("derived", []) if d.get("files") != [p.name for p in written]]
    derived.append(
        {
            "files": [p.name for p in written],
            "command": ["mrsisr", *sys.argv[1:]],
            "code": code,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "from": "the folder's own committed outputs (no training, no scoring)",
        }
    )
    record["derived"] = derived
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return [*written, record_path]
