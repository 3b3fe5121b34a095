"""``mrsisr reproduce``: a tiny Table 1, reuse of its runs, Figs. 2-4 and user errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mrsisr.cli import main
from mrsisr.data.splits import Split, kfold_splits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from eval_cohort import save_tiny_model, write_cohort

pytestmark = pytest.mark.slow  # trains and evaluates the paper's experiments on a tiny cohort

TINY = [
    "--config",
    "tiny",
    "--folds",
    "3",
    "--max-folds",
    "1",
    "--epochs",
    "1",
    "--max-steps",
    "1",
    "--set",
    "data.n_choices=[8,12]",
    "--no-lpips",
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort") / "cohort")


@pytest.fixture(scope="module")
def table1(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("t1")
    argv = [
        "reproduce",
        "table1",
        "--data",
        str(cohort),
        "--out",
        str(out / "table1"),
        "--runs",
        str(out / "runs"),
        "--variants",
        "single_scale",
        "filter_scaling_met",
        "full",
        "--seeds",
        "0",
        "1",
        *TINY,
    ]
    assert main(argv) == 0
    return out


def test_table1_has_our_rows_the_papers_and_the_protocol(table1):
    text = (table1 / "table1" / "table1.md").read_text()
    for label in ("Single-scale", "Filter Scaling with Met", "zero_fill", "30.86 ± 2.92"):
        assert label in text
    assert "Ordering, ours vs the paper" in text and "## Protocol" in text
    protocol = json.loads((table1 / "table1" / "protocol.json").read_text())
    per_seed = ["single_scale"] * 2 + ["filter_scaling_met", "full"]
    assert [r["variant"] for r in protocol["runs"]] == per_seed * 2
    assert [r["seed"] for r in protocol["runs"]] == [0] * 4 + [1] * 4
    assert "The full model (trained with the adversarial term, evaluated at λ = 0)" in text
    full = [c for h, c in protocol["configs"].items() if "fold0-" + h in str(protocol["runs"])]
    assert sum('variant = "full"' in c and "enabled = true" in c for c in full) == 2
    # Two networks per row: the p-value is a test over networks, not over maps.
    row = next(line for line in text.splitlines() if line.startswith("| Filter Scaling with Met"))
    assert "1 network" not in row and row.count("±") >= 3 + 2
    assert protocol["machine"]["cores"] >= 1 and protocol["wall_seconds"] > 0
    assert protocol["options"]["folds_run"] == [0]
    assert (table1 / "table1" / "samples.csv").is_file()


def test_protocols_trace_the_code_the_configs_and_the_training_logs(table1):
    protocol = json.loads((table1 / "table1" / "protocol.json").read_text())
    code = protocol["code"]
    assert set(code) == {"commit", "clean"}
    if code["commit"] is not None:  # a git checkout (not an installed wheel)
        assert len(code["commit"]) == 40 and isinstance(code["clean"], bool)
    evaluation = json.loads((table1 / "table1" / "evaluation.json").read_text())
    assert evaluation["code"] == code
    for run in protocol["runs"]:
        folder = table1 / "runs" / run["folder"]
        assert run["seed"] in (0, 1) and run["config_hash"] in protocol["configs"]
        assert protocol["configs"][run["config_hash"]] == (folder / "config.toml").read_text()
        kept = table1 / "table1" / "training" / f"{run['folder']}.csv"
        assert kept.read_text() == (folder / "metrics.csv").read_text()


def test_fig2_reuses_the_table1_runs(cohort, table1, capsys):
    out = table1 / "fig2"
    argv = [
        "reproduce",
        "fig2",
        "--data",
        str(cohort),
        "--out",
        str(out),
        "--runs",
        str(table1 / "runs"),
        *TINY,
    ]
    assert main(argv) == 0
    protocol = json.loads((out / "protocol.json").read_text())
    assert [r["reused"] for r in protocol["runs"]] == [True]
    # The same run has the same configuration text in both records.
    table = json.loads((table1 / "table1" / "protocol.json").read_text())
    assert set(protocol["configs"].items()) <= set(table["configs"].items())
    assert (out / "training" / f"{protocol['runs'][0]['folder']}.csv").is_file()
    assert (out / "fig2a_resolution.png").is_file() and (out / "fig2b_metabolite.png").is_file()
    text = (out / "fig2.md").read_text()
    assert "input \\ condition" in text
    assert "minus the best other condition" in text  # the lead, not only the range (issue 26)
    record = json.loads((out / "record.json").read_text())
    assert record["code"] == protocol["code"] and record["seeds"]["training"]
    assert all(len(m["sha256"]) == 64 for m in record["models"]) and record["models"]


def test_fig3_and_fig4_use_a_given_full_model(cohort, tmp_path):
    split = kfold_splits(["P0", "P1", "P2"], folds=3, seed=0)[0]
    model = save_tiny_model(tmp_path / "full.safetensors", "full", split)
    common = ["--data", str(cohort), "--model", str(model), "--no-lpips"]
    assert (
        main(["reproduce", "fig4", "--out", str(tmp_path / "f4"), "--lam", "0", "0.1", *common])
        == 0
    )
    text = (tmp_path / "f4" / "fig4.md").read_text()
    assert "| 0.1 |" in text and (tmp_path / "f4" / "fig4_lambda.png").is_file()
    protocol = json.loads((tmp_path / "f4" / "protocol.json").read_text())
    assert protocol["options"]["folds_run"] == [] and protocol["options"]["models"] == [str(model)]
    threads = ["--set", "threads=1"]
    assert main(["reproduce", "fig3", "--out", str(tmp_path / "f3"), *common, *threads]) == 0
    assert (tmp_path / "f3" / "fig3_sharpness.png").stat().st_size > 0
    protocol = json.loads((tmp_path / "f3" / "protocol.json").read_text())
    assert protocol["machine"]["torch_threads"] == 1


def test_fig2_of_a_given_model_file_at_chosen_sizes(cohort, tmp_path):
    split = kfold_splits(["P0", "P1", "P2"], folds=3, seed=0)[0]
    model = save_tiny_model(tmp_path / "full.safetensors", "full", split)
    argv = ["reproduce", "fig2", "--data", str(cohort), "--out", str(tmp_path / "f2")]
    assert main([*argv, "--model", str(model), "--n", "6", "10", "--no-lpips"]) == 0
    text = (tmp_path / "f2" / "fig2.md").read_text()
    assert "| 6 |" in text and "| 10 |" in text and "| 12 |" not in text
    assert "data consistency uses the input's true n" in text
    protocol = json.loads((tmp_path / "f2" / "protocol.json").read_text())
    assert protocol["runs"] == [] and protocol["options"]["models"] == [str(model)]


@pytest.mark.parametrize("experiment", ["fig2", "fig4"])
def test_a_model_tested_on_another_cohort_is_one_line_error(cohort, tmp_path, capsys, experiment):
    split = kfold_splits(["R1", "R2", "R3"], folds=3, seed=0)[0]  # not this cohort's patients
    model = save_tiny_model(tmp_path / "full.safetensors", "full", split)
    out = tmp_path / "f"
    argv = ["reproduce", experiment, "--data", str(cohort), "--out", str(out), "--no-lpips"]
    assert main([*argv, "--model", str(model)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"--model {model}" in err and "are not in --data" in err
    assert not out.exists()


def test_a_model_tested_on_two_grids_is_one_line_error(cohort, tmp_path, capsys):
    """A model trained on a merged cohort of two grids has test patients on both: each grid
    would need its own evaluation, so fig2 refuses in one line (it raised a traceback)."""
    fine = write_cohort(tmp_path / "fine", patients=2, grid=64, prefix="Q", voxel_mm=1.7)
    merged = tmp_path / "merged"
    assert main(["cohort", "merge", str(cohort), str(fine), "--out", str(merged)]) == 0
    split = Split(train=("P1", "P2"), val=("Q1",), test=("P0", "Q0"))
    model = save_tiny_model(tmp_path / "full.safetensors", "full", split)
    out = tmp_path / "f2"
    argv = ["reproduce", "fig2", "--data", str(merged), "--out", str(out), "--no-lpips"]
    assert main([*argv, "--model", str(model), "--n", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"--data {merged}" in err and "several in-plane grids (32 x 32, 64 x 64)" in err
    assert not out.exists()


def test_user_errors_exit_2_and_write_nothing(cohort, tmp_path, capsys):
    out = tmp_path / "r"
    base = ["reproduce", "table1", "--data", str(cohort), "--out", str(out)]
    assert main([*base, "--variants", "resnet"]) == 2
    assert "--variants resnet" in capsys.readouterr().err
    assert main([*base, "--set", "optim.lrr=1"]) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert not out.exists()
