"""The self-check protocol on a cohort (``mrsisr evaluate --self-consistency``)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mrsisr.cli import main
from mrsisr.data.cohort import Cohort, Manifest, Patient, write_manifest, write_patient
from mrsisr.evaluation.selfcheck import check_cohort, check_table, summarise
from mrsisr.inference import Predictor
from mrsisr.metabolites import Metabolite
from test_selfcheck import smooth_map, tissue
from tiny_model import TissuePrior, save_tiny_model


@pytest.fixture(scope="module")
def prior_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NAA follows T1 (sharp regions), Gln is a smooth field that follows none of them."""
    root = tmp_path_factory.mktemp("prior") / "cohort"
    ids = ("Q0", "Q1")
    for k, pid in enumerate(ids):
        t1, mask = tissue(low=0.1)
        noise = 0.02 * np.random.default_rng(k).normal(size=t1.shape)
        patient = Patient(
            id=pid,
            maps={
                Metabolite.NAA: (5 * t1 + noise).astype(np.float32),
                Metabolite.Gln: (smooth_map() * mask).astype(np.float32),
            },
            t1=t1.astype(np.float32),
            flair=t1.astype(np.float32),
            mask=mask,
            affine=np.diag([3.4, 3.4, 3.4, 1.0]),
        )
        write_patient(root, patient)
    write_manifest(root, Manifest(ids, (Metabolite.NAA, Metabolite.Gln), "mM", 7.0, "tests"))
    return root


@pytest.fixture(scope="module")
def rows(prior_cohort: Path):
    predictor = Predictor(TissuePrior(), (32, 32), trained_n=())
    return check_cohort(predictor, Cohort.open(prior_cohort), ["Q0", "Q1"], [16, 20])


def test_one_row_per_map_with_estimates_and_actual_gains(rows) -> None:
    assert len(rows) == 2 * 2 * 2  # patients x metabolites x n
    assert {(r.n, r.n_check) for r in rows} == {(16, 8), (20, 16)}
    for row in rows:
        assert math.isfinite(row.estimated_raw_db) and math.isfinite(row.actual_db)
        assert row.used == any(w > 0 for w in row.weights)
        if not row.used:  # the calibrated output is zero-filling: no gain, no loss
            assert row.actual_db == pytest.approx(0.0, abs=1e-9)
    follows = [r for r in rows if r.metabolite == "NAA"]
    assert all(r.used and r.estimated_db > 1 and r.actual_db > 1 for r in follows)
    wrong = [r for r in rows if r.metabolite == "Gln"]
    assert all(r.actual_raw_db < -1 and r.actual_db >= -0.05 for r in wrong)


def test_summary_and_table(rows) -> None:
    summary = summarise(rows)
    assert summary["maps"] == 8 and summary["self_check_ran"] == 8
    assert summary["no_harm_share"] == 1.0
    assert summary["actual_db"] == pytest.approx(sum(r.actual_db for r in rows) / 8)
    assert -1 <= summary["spearman_calibrated"] <= 1
    table = check_table(rows)
    assert table.count("\n") == 2 + 4  # header, rule, metabolites x n
    assert "| NAA | 20 | 2 |" in table and "actual calibrated" in table


def test_command_writes_rows_table_and_record(eval_cohort: Path, tmp_path: Path, capsys) -> None:
    model = save_tiny_model(tmp_path / "tiny.safetensors")
    out = tmp_path / "sc"
    args = ["evaluate", "--self-consistency", "--model", str(model), "--data", str(eval_cohort)]
    args += ["--patients", "P2", "--n", "16", "--out", str(out)]
    assert main(args) == 0
    with open(out / "self_consistency.csv", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert [(r["patient"], r["metabolite"], r["n"]) for r in written] == [
        ("P2", "NAA", "16"),
        ("P2", "Gln", "16"),
    ]
    record = json.loads((out / "self_consistency.json").read_text())
    assert record["patients"] == ["P2"] and record["n"] == [16]
    assert len(record["model_sha256"]) == 64 and record["summary"]["maps"] == 2
    assert "| Gln | 16 | 1 |" in capsys.readouterr().out
    result = json.loads((out / "record.json").read_text())
    assert result["what"] == "mrsisr evaluate --self-consistency"
    assert [m["sha256"] for m in result["models"]] == [record["model_sha256"]]
    assert main(args) == 2  # the folder holds a run: refused, nothing replaced
