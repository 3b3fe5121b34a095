"""``mrsisr train`` on the command line: a tiny run, resume, --show-config and user errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from mrsisr.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from tiny_cohort import both_grids, write_tiny_cohort

from mrsisr.data.cohort import Cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_tiny_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.mark.slow
def test_train_then_resume_for_more_epochs(cohort, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--config", "tiny", "--data", str(cohort), "--fold", "0", "--out", str(out)]
    assert main([*args, "--set", "epochs=1", "--set", "steps_per_epoch=1"]) == 0
    printed = capsys.readouterr().out
    assert "trained 1 epochs (1 steps)" in printed and str(out / "best.safetensors") in printed
    assert (
        main(
            [
                "train",
                "--out",
                str(out),
                "--resume",
                "--set",
                "epochs=2",
                "--set",
                "steps_per_epoch=1",
            ]
        )
        == 0
    )
    assert "trained 2 epochs (2 steps)" in capsys.readouterr().out


@pytest.mark.slow
def test_train_on_a_merged_cohort_of_two_grids_records_both(tmp_path, capsys):
    """A 64 x 64 cohort and a 128 x 128 one of the same field of view, merged: the model's
    header records N up to 128 and n scaled with it (data.n_choices 8..16 on 64 x 64)."""
    coarse = write_tiny_cohort(tmp_path / "coarse", grid=64, slices=2)
    fine = write_tiny_cohort(tmp_path / "fine", grid=128, slices=2, prefix="q")
    mixed, out = tmp_path / "mixed", tmp_path / "run"
    assert main(["cohort", "merge", str(coarse), str(fine), "--out", str(mixed)]) == 0
    assert main(["cohort", "check", str(mixed)]) == 0
    assert "grids 64x64x2 (3 patients), 128x128x2 (3 patients)" in capsys.readouterr().out
    split_seed, fold = both_grids(Cohort.open(mixed))  # both grids train
    sets = ["epochs=1", "steps_per_epoch=3", "batch_size=2", "model.grid=[64, 64]", split_seed]
    args = ["train", "--config", "tiny", "--data", str(mixed), "--fold", str(fold)]
    args += ["--out", str(out)]
    assert main([*args, *(f for s in sets for f in ("--set", s))]) == 0
    with safe_open(out / "best.safetensors", "pt") as file:
        trained = json.loads(file.metadata()["mrsisr"])["trained"]
    assert trained == {"n_min": [8, 8], "n_max": [32, 32], "N": [64, 64], "N_min": [64, 64],
                       "N_max": [128, 128]}  # fmt: skip


def test_show_config_prints_every_key_with_overrides(capsys):
    assert (
        main(
            [
                "train",
                "--config",
                "paper",
                "--variant",
                "amlayer",
                "--set",
                "optim.lr=3e-4",
                "--show-config",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert (
        'variant = "amlayer"' in text and "lr = 0.0003" in text and "[adversarial.critic]" in text
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--variant", "fancy"], "--variant: unknown variant 'fancy'; valid: single_scale"),
        (["--set", "optim.lrr=1"], "did you mean optim.lr"),
        (["--fold", "7"], "--fold 7: must be in 0..2"),
        (["--config", "nope.toml"], "--config nope.toml: no such file"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_files(cohort, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    args = ["train", "--config", "tiny", "--data", str(cohort), "--fold", "0", "--out", str(out)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("mrsisr train: error:") and "\n" not in err
    assert not out.exists()


def test_a_folder_that_is_not_a_cohort_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["train", "--config", "tiny", "--data", str(tmp_path), "--fold", "0", "--out", str(out)]
    )
    assert code == 2 and "invalid cohort" in capsys.readouterr().err
    assert not out.exists()


def test_missing_arguments_are_named(tmp_path, capsys):
    assert main(["train", "--config", "tiny", "--out", str(tmp_path / "r")]) == 2
    assert "--data: required" in capsys.readouterr().err
