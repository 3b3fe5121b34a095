"""``--truth noiseless``: outputs scored against the true maps beside the measured ones."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mrsisr.cli import main
from mrsisr.data.cohort import Manifest, Patient, write_manifest, write_patient
from mrsisr.evaluation.baselines import Baseline
from mrsisr.evaluation.evaluate import NoiselessTruth, evaluate, evaluation_dataset
from mrsisr.evaluation.methods import BaselineMethod, EvalBatch
from mrsisr.metabolites import Metabolite

METS = (Metabolite.NAA, Metabolite.Gln)
GRID, SLICES = 32, 3


def _noisy_cohort(root: Path) -> Path:
    """Two patients whose measured maps are the noiseless ones plus white noise."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:GRID, :GRID] - (GRID - 1) / 2
    disc = np.repeat(((yy**2 + xx**2) < (0.4 * GRID) ** 2)[:, :, None], SLICES, axis=2)
    ids = ("P0", "P1")
    for pid in ids:
        t1 = (rng.random((GRID, GRID, SLICES)) + 1.0).astype(np.float32)
        clean = {m: ((k + 2.0) * t1 * disc).astype(np.float32) for k, m in enumerate(METS)}
        noisy = {
            m: (v + rng.normal(0, 0.3, v.shape) * disc).astype(np.float32) for m, v in clean.items()
        }
        write_patient(
            root,
            Patient(pid, noisy, t1, t1, disc, np.diag([3.4, 3.4, 3.4, 1.0]), noiseless=clean),
        )
    write_manifest(root, Manifest(ids, METS, "mM", 7.0, "truth tests"))
    return root


@dataclass
class _Oracle:
    """A 'method' that returns the noiseless map itself (it knows the truth)."""

    truth: NoiselessTruth
    keys: list[tuple[str, str, int]] = field(default_factory=list)
    name: str = "oracle"
    lam_conditioned: bool = False
    tags: dict[str, Any] = field(default_factory=dict)

    def predict(self, batch: EvalBatch, lam: float) -> torch.Tensor:
        maps = [self.truth.slice(*key) for key in self.keys[: len(batch.native)]]
        del self.keys[: len(batch.native)]
        return torch.from_numpy(np.stack(maps)[:, None])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return _noisy_cohort(tmp_path_factory.mktemp("truth") / "cohort")


def test_an_output_equal_to_the_true_map_is_exact_against_the_truth_only(cohort):
    dataset = evaluation_dataset(cohort, ["P0", "P1"], [8])
    truth = NoiselessTruth(cohort)
    oracle = _Oracle(truth)
    for i in range(len(dataset)):  # the order evaluate's batches take (one n)
        sample = dataset[i]
        met = dataset.metabolites[int(i % len(dataset.metabolites))]
        oracle.keys.append((dataset.patient_ids[int(sample.patient)], met.value, int(sample.slice)))
    rows = evaluate(
        dataset, [oracle, BaselineMethod(Baseline.zero_fill)], batch_size=64, truth=truth
    )
    exact = [r for r in rows if r["method"] == "oracle"]
    assert exact and all(r["psnr_true"] == np.inf and r["nrmse_true"] == 0 for r in exact)
    assert all(np.isfinite(r["psnr"]) for r in exact)  # the measured map is noisy
    zero_fill = [r for r in rows if r["method"] == "zero_fill"]
    assert all(np.isfinite(r["psnr_true"]) and np.isfinite(r["psnr"]) for r in zero_fill)


def test_the_command_reports_both_distances_and_refuses_a_cohort_without_truth(
    cohort, tmp_path, eval_cohort
):
    out = tmp_path / "eval"
    argv = ["evaluate", "--data", str(cohort), "--all-patients", "--n", "8", "16"]
    argv += ["--baselines", "zero_fill", "bicubic", "--no-lpips", "--truth", "noiseless"]
    assert main([*argv, "--out", str(out)]) == 0
    with (out / "samples.csv").open() as fh:
        row = next(csv.DictReader(fh))
    assert {"psnr_true", "ssim_true", "nrmse_true", "psnr", "ssim"} <= set(row)
    summary = (out / "summary.md").read_text()
    assert "Distance to the true maps beside the distance to the measured ones" in summary
    assert "PSNR vs true" in summary
    assert json.loads((out / "evaluation.json").read_text())["truth"] == "noiseless"
    record = json.loads((out / "record.json").read_text())
    assert record["data"]["patients"] == ["P0", "P1"] and record["seeds"]["split_seed"] == 0
    assert record["data"]["manifest_provenance"] == "truth tests"  # the recipe, not only a path
    assert len(record["models"]) == 0 and len(record["data"]["manifest_sha256"]) == 64
    assert main([*argv[:2], str(eval_cohort), *argv[3:], "--out", str(tmp_path / "x")]) == 2
