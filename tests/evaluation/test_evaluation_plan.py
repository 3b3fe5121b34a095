"""The evaluation plan: which patients a fold holds out, entries, default n."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mrsisr.cli import main
from mrsisr.commands.evaluate import FLAGS
from mrsisr.data.splits import fold_split, kfold_splits
from mrsisr.errors import UserError, flags
from mrsisr.evaluation.plan import plan_evaluation, select_patients
from mrsisr.evaluation.tables import entry_name, entry_of

IDS = [f"P{i:02d}" for i in range(11)]


def test_the_test_patients_of_the_folds_partition_the_cohort() -> None:
    tested = [select_patients(IDS, fold=k, folds=5, seed=3) for k in range(5)]
    assert sorted(p for fold in tested for p in fold) == IDS
    assert tested[2] == list(kfold_splits(IDS, 5, 3)[2].test) == list(fold_split(IDS, 5, 3, 2).test)
    assert select_patients(IDS, fold=2, folds=5, seed=4) != tested[2]  # the seed matters


def test_patients_given_or_every_patient() -> None:
    assert select_patients(IDS, patients=["P03", "P01"]) == ["P03", "P01"]
    assert select_patients(IDS) == IDS
    with pytest.raises(UserError, match=r"^patients: unknown P99"):
        select_patients(IDS, patients=["P99"])
    with pytest.raises(UserError, match=r"^fold 5: must be in 0\.\.4 \(folds 5\)"):
        select_patients(IDS, fold=5, folds=5)
    with flags(FLAGS):  # as mrsisr evaluate says it
        with pytest.raises(UserError, match=r"^--patients: unknown P99"):
            select_patients(IDS, patients=["P99"])
        with pytest.raises(UserError, match=r"^--fold 5: must be in 0\.\.4 \(--folds 5\)"):
            select_patients(IDS, fold=5, folds=5)
    with pytest.raises(ValueError, match="fold -1"):
        fold_split(IDS, 5, 0, -1)


def test_a_refusal_names_the_parameter_from_python_and_the_flag_in_mrsisr_evaluate(
    eval_cohort, tmp_path, capsys
) -> None:
    """Issue 22: a caller of plan_evaluation has no --lam; mrsisr evaluate's user typed it."""
    with pytest.raises(UserError) as err:
        plan_evaluation(eval_cohort, [], lams=[-1.0])
    assert str(err.value) == "lams [-1.0]: sharpness weights must be >= 0"
    out = tmp_path / "eval"
    argv = ["evaluate", "--data", str(eval_cohort), "--all-patients", "--lam", "-1", "--out"]
    assert main([*argv, str(out)]) == 2
    assert capsys.readouterr().err == (
        "mrsisr evaluate: error: --lam [-1.0]: sharpness weights must be >= 0\n"
    )
    assert not out.exists()


def test_entry_names_of_the_plan_and_of_the_rows_agree() -> None:
    assert entry_name("full", 0.03) == entry_of({"method": "full", "lam": 0.03}) == "full@0.03"
    assert entry_name("zero_fill", None) == entry_of({"method": "zero_fill", "lam": ""})


def test_a_cohort_of_several_grids_is_refused_in_one_line(tmp_path, capsys) -> None:
    """n would be another acquisition on each grid of a merged cohort: evaluate each alone."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
    from tiny_cohort import write_tiny_cohort

    from mrsisr.data.merge import plan_merge, write_merge

    coarse = write_tiny_cohort(tmp_path / "coarse", patients=1, slices=2)
    fine = write_tiny_cohort(tmp_path / "fine", patients=1, grid=64, slices=2, prefix="q")
    mixed = write_merge(plan_merge([coarse, fine], tmp_path / "mixed"))
    out = tmp_path / "eval"
    argv = ["evaluate", "--data", str(mixed), "--all-patients", "--baselines", "zero_fill"]
    assert main([*argv, "--no-lpips", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        "mrsisr evaluate: error: --data/--n/--metabolites: the patients lie on several "
        "in-plane grids (32 x 32, 64 x 64); evaluate each cohort of one grid alone (the "
        "sources of a merged cohort)\n"
    )
    assert not out.exists()
