"""``mrsisr evaluate`` on the command line: outputs, held-out checks and user errors."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
import torch

from mrsisr.checkpoint import load_model, save_model
from mrsisr.cli import main
from mrsisr.data.splits import kfold_splits
from mrsisr.evaluation.evaluate import MetricSettings, evaluate, evaluation_dataset
from mrsisr.evaluation.methods import ModelMethod
from mrsisr.machine import source_state
from mrsisr.nn.variants import build_generator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from eval_cohort import TINY, save_tiny_model, write_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort") / "cohort")


@pytest.fixture(scope="module")
def split():
    return kfold_splits(["P0", "P1", "P2"], folds=3, seed=0)[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory, split):
    return save_tiny_model(tmp_path_factory.mktemp("m") / "fs.safetensors", "filter_scaling", split)


@pytest.mark.slow
def test_evaluate_writes_samples_summary_record_and_plots(cohort, model, split, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        "evaluate",
        "--model",
        str(model),
        "--data",
        str(cohort),
        "--fold",
        "0",
        "--folds",
        "3",
        "--baselines",
        "zero_fill",
        "bicubic",
        "--no-lpips",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    with (out / "samples.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    record = json.loads((out / "evaluation.json").read_text())
    assert record["patients"] == list(split.test) and record["n"] == [8, 12]
    assert record["code"] == source_state()  # the commit the numbers can be traced to
    maps = 2 * 3 * 2  # metabolites x slices x n, one test patient
    assert len(rows) == 3 * maps
    assert {r["method"] for r in rows} == {"filter_scaling", "zero_fill", "bicubic"}
    assert {r["patient"] for r in rows} == set(split.test)
    summary = (out / "summary.md").read_text()
    assert "max - min of the ground truth inside the quality mask" in summary
    assert "Wilcoxon" in summary and "--no-lpips" in record["metrics"]["lpips"]
    assert (out / "psnr_by_n.png").stat().st_size > 0
    assert "results in" in capsys.readouterr().out
    margins = record["psnr_margin_over_zero_fill"]
    assert set(margins) == {"filter_scaling", "bicubic"}
    assert list(margins["bicubic"]) == ["NAA", "Gln", "all"]
    assert set(margins["bicubic"]["all"]) == {"8", "12"}
    assert "margin of `filter_scaling` over zero-filling" in summary


@pytest.mark.slow
def test_all_patients_scores_every_patient_of_a_test_cohort(cohort, tmp_path):
    out = tmp_path / "eval"
    argv = ["evaluate", "--data", str(cohort), "--all-patients", "--baselines", "zero_fill"]
    assert main([*argv, "bicubic", "--no-lpips", "--n", "8", "--out", str(out)]) == 0
    record = json.loads((out / "evaluation.json").read_text())
    assert record["patients"] == ["P0", "P1", "P2"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--fold", "0", "--folds", "3", "--baselines", "lanczos"], "lanczos"),
        (["--patients", "P1", "P2"], "trained or validated on"),
        (["--all-patients"], "trained or validated on"),
        (["--fold", "3", "--folds", "3"], "--fold 3"),
        (["--fold", "0", "--folds", "3", "--n", "40"], "--data/--n"),
        (["--fold", "0", "--folds", "3", "--reference", "oracle"], "--reference oracle"),
    ],
)
def test_user_errors_exit_2_and_write_nothing(cohort, model, tmp_path, capsys, extra, message):
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(model), "--data", str(cohort), "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# --images: both / T1 only / FLAIR only / none, one entry each


@pytest.fixture(scope="module")
def flagged_model(tmp_path_factory, split):
    torch.manual_seed(0)
    config = {**TINY, "presence": True}
    model = build_generator("full", **config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("m") / "full.safetensors"
    meta = {"split": split.to_dict(), "n_choices": [8, 12], "fold": 0}
    save_model(path, model, "full", config, meta)
    return path


def images_argv(model, cohort, out, *images):
    return [
        "evaluate", "--model", str(model), "--data", str(cohort), "--fold", "0", "--folds", "3",
        "--baselines", "zero_fill", "--no-lpips", "--images", *images, "--out", str(out),
    ]  # fmt: skip


@pytest.mark.slow
def test_every_image_set_is_an_entry_of_its_own(flagged_model, cohort, tmp_path):
    out = tmp_path / "eval"
    assert main(images_argv(flagged_model, cohort, out, "both", "t1", "flair", "none")) == 0
    with (out / "samples.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    methods = {r["method"] for r in rows}
    assert methods == {"full", "full[t1]", "full[flair]", "full[none]", "zero_fill"}
    psnr = {m: [float(r["psnr"]) for r in rows if r["method"] == m] for m in methods}
    assert len({tuple(v) for v in psnr.values()}) == 5  # each set gives other numbers
    assert {r["images"] for r in rows if r["method"] == "full[t1]"} == {"t1"}


def test_a_model_without_presence_refuses_a_missing_image(split, cohort, tmp_path, capsys):
    model = save_tiny_model(tmp_path / "fs.safetensors", "filter_scaling", split)
    assert main(images_argv(model, cohort, tmp_path / "eval", "both", "t1")) == 2
    err = capsys.readouterr().err.strip()
    assert "--images t1" in err and "fs.safetensors needs both T1 and FLAIR" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "eval").exists()


def test_a_missing_image_is_given_as_zeros_flagged_absent(flagged_model, cohort):
    model, _ = load_model(flagged_model)
    dataset = evaluation_dataset(cohort, ["P0"], [8])
    settings = MetricSettings.for_grid(dataset.grid, lpips=False)
    method = ModelMethod("t1", {None: model}, present=(True, False))
    seen = []

    def record(module, args, out):
        seen.append(args)

    handle = model.register_forward_hook(record)
    try:
        evaluate(dataset, [method], settings=settings)
    finally:
        handle.remove()
    lr, t1, flair, *_, present = seen[0]
    assert t1.abs().sum() > 0 and torch.equal(flair, torch.zeros_like(flair))
    assert present.dtype == torch.bool and present.tolist() == [[True, False]] * len(lr)


@pytest.mark.slow
def test_a_model_scores_a_cohort_on_another_grid(model, tmp_path, caplog):
    """A 32 x 32 model on a 48 x 48 cohort (finer voxels, the same field of view), as predict
    runs it on any grid: scored at the cohort's n (it was refused before)."""
    cohort = write_cohort(tmp_path / "cohort48", grid=48)
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", str(model), "--data", str(cohort), "--fold", "0"]
    argv += ["--folds", "3", "--n", "12", "24", "--baselines", "zero_fill", "--no-lpips"]
    with caplog.at_level("INFO", logger="mrsisr"):
        assert main([*argv, "--out", str(out)]) == 0
    assert "configured for 32x32, scored on the cohort's grid 48x48" in caplog.text
    rows = list(csv.DictReader((out / "samples.csv").open()))
    methods = {r["method"] for r in rows}
    assert {int(r["n"]) for r in rows} == {12, 24} and "zero_fill" in methods
    network = [r for r in rows if r["method"] != "zero_fill"]
    assert network and all(float(r["psnr"]) == float(r["psnr"]) for r in network)  # no NaN
    key = ("patient", "slice", "metabolite", "n")
    zero = {tuple(r[k] for k in key): r["psnr"] for r in rows if r["method"] == "zero_fill"}
    differs = [r for r in network if r["psnr"] != zero[tuple(r[k] for k in key)]]
    assert differs  # the network's output is not zero-filling's
