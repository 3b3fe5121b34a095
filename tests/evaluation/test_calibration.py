"""Calibration of the SD maps and the bf16 check: statistics and the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from eval_cohort import save_tiny_model
from scipy.stats import spearmanr

from mrsisr.cli import main
from mrsisr.data.splits import Split
from mrsisr.evaluation.calibration import calibration_stats
from mrsisr.metrics import psnr_in_mask


def test_calibration_stats_of_a_gaussian_error_with_the_right_sd():
    rng = np.random.default_rng(0)
    sd = rng.uniform(0.1, 2.0, 200_000)
    error = sd * rng.standard_normal(sd.size)
    stats = calibration_stats(sd, error)
    assert stats["within_2sd"] == pytest.approx(0.9545, abs=0.003)
    assert stats["spearman"] == pytest.approx(spearmanr(sd, np.abs(error)).statistic)
    assert stats["spearman"] > 0.3  # larger SD, larger errors
    too_small = calibration_stats(sd / 4, error)
    assert too_small["within_2sd"] == pytest.approx(0.383, abs=0.005)  # P(|z| <= 0.5)
    assert too_small["spearman"] == pytest.approx(stats["spearman"])  # rank-based
    assert np.isnan(calibration_stats(np.full(10, 1.0), error[:10])["spearman"])  # no ranks


def test_psnr_in_mask_matches_its_definition():
    truth = np.arange(16.0).reshape(4, 4)
    mask = np.zeros((4, 4), bool)
    mask[1:3] = True
    est = truth + 0.5 * mask
    assert psnr_in_mask(est, truth, mask) == pytest.approx(10 * np.log10(7.0**2 / 0.25))


@pytest.mark.slow
def test_calibrate_command_writes_every_metabolite_and_the_precision_check(
    eval_cohort, tmp_path, capsys
):
    split = Split(train=("P2",), val=("P1",), test=("P0",))
    model = save_tiny_model(tmp_path / "tiny.safetensors", "full", split)
    out = tmp_path / "calib"
    argv = ["calibrate", "--model", str(model), "--data", str(eval_cohort), "--patients", "P0"]
    assert main([*argv, "--n", "8", "12", "--draws", "3", "--threads", "1", "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [
        str(out / "calibration.json"),
        str(out / "calibration.md"),
        str(out / "record.json"),
    ]
    record = json.loads((out / "calibration.json").read_text())
    assert (
        record["model"]["sha256"]
        == json.loads((out / "record.json").read_text())["models"][0]["sha256"]
    )  # the model by its hash, not as "shipped"
    assert record["patients"] == ["P0"] and record["n"] == [8, 12]
    for method in ("tta", "fit"):
        rows = record["calibration"][method]
        assert set(rows) == {"NAA", "Gln", "all"}
        assert rows["all"]["voxels"] == rows["NAA"]["voxels"] + rows["Gln"]["voxels"]
        assert 0 <= rows["all"]["within_2sd"] <= 1
    assert record["precision"]["maps"] == 2 * 2 * 3  # metabolites x n x slices
    assert abs(record["precision"]["psnr_difference_db"]) < 1
    assert "Spearman" in (out / "calibration.md").read_text()
    assert main([*argv, "--n", "40", "--out", str(out)]) == 2
    assert "--n: 40 is outside" in capsys.readouterr().err
    assert (
        main(["calibrate", "--data", str(eval_cohort), "--patients", "P9", "--out", str(out)]) == 2
    )
    assert "--patients: not in" in capsys.readouterr().err
