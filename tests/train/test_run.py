"""End-to-end training runs on a tiny cohort: every variant, resume, outputs, user errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from mrsisr.checkpoint import TrainedRange, load_model
from mrsisr.data.cohort import Cohort
from mrsisr.data.sampler import batch_grid
from mrsisr.data.splits import load_splits
from mrsisr.errors import UserError
from mrsisr.nn.variants import Variant
from mrsisr.train.builders import build_datasets
from mrsisr.train.config_io import load_config
from mrsisr.train.run import plan_run, train
from mrsisr.train.state import load_state, save_state


def tiny(*overrides: str):
    return load_config("tiny", list(overrides))


@pytest.mark.slow
@pytest.mark.parametrize("variant", [v.value for v in Variant])
def test_every_variant_trains_and_exports_a_loadable_model(variant, tiny_cohort, tmp_path):
    n_choices = "[12]" if variant == "single_scale" else "[8, 12, 16]"
    config = tiny(
        f'variant="{variant}"', "epochs=1", "steps_per_epoch=2", f"data.n_choices={n_choices}"
    )
    summary = train(plan_run(config, tiny_cohort, 0, tmp_path / "run"))
    assert summary["epochs"] == 1 and summary["steps"] == 2
    assert summary["best_epoch"] == 1 and torch.isfinite(torch.tensor(summary["best_val_loss"]))
    model, info = load_model(tmp_path / "run" / "best.safetensors")
    assert info.variant == variant
    assert info.metadata["n_choices"] == json.loads(n_choices)
    ns = json.loads(n_choices)
    assert info.trained is not None and info.trained.n_min == (min(ns),) * 2
    assert info.trained.n_max == (max(ns),) * 2 and info.trained.grid == (32, 32)
    batch = torch.rand(2, 1, 32, 32)
    n, met = torch.full((2, 2), 12), torch.tensor([0, 2])
    with torch.no_grad():
        out = model(batch, batch, batch, torch.ones_like(batch), n, met, torch.zeros(2))
    assert out.shape == (2, 1, 32, 32) and torch.isfinite(out).all()


def test_a_run_on_several_grids_trains_and_records_their_range(tiny_cohort, tmp_path):
    """Batches on a 24 x 40 grid (cropped in y, padded in x) pass the generator, the critic
    and the loss; validation stays on the cohort's 32 x 32 grid."""
    config = tiny(
        "epochs=1", "batch_size=2", "steps_per_epoch=4", "data.grids=[[32, 32], [24, 40]]"
    )
    assert config.uses_critic
    plan = plan_run(config, tiny_cohort, 0, tmp_path / "run")
    train_set, val_set = build_datasets(config, Cohort.open(tiny_cohort), plan.split)
    assert train_set.grids == ((32, 32), (24, 40)) and not val_set.other_grids
    summary = train(plan)
    assert summary["steps"] == 4 and torch.isfinite(torch.tensor(summary["best_val_loss"]))
    grids = SimpleNamespace(other_grids=True, grids=((32, 32), (24, 40)))
    drawn = {batch_grid(grids, config.seed, 0, b) for b in range(4)}
    assert drawn == {(32, 32), (24, 40)}  # both grids went through a step
    with safe_open(tmp_path / "run" / "best.safetensors", "pt") as file:
        header = json.loads(file.metadata()["mrsisr"])
    _, info = load_model(tmp_path / "run" / "best.safetensors")
    assert info.trained == TrainedRange((8, 8), (16, 16), (32, 32), (24, 32), (32, 40))
    assert (header["trained"]["N_min"], header["trained"]["N_max"]) == ([24, 32], [32, 40])


@pytest.fixture(scope="module")
def finished_run(tiny_cohort, tmp_path_factory) -> Path:
    """A finished 3-epoch run of the tiny configuration on fold 1 (copy it to modify it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    config = tiny("epochs=3", "steps_per_epoch=1", "optim.lr=3e-3")
    summary = train(plan_run(config, tiny_cohort, 1, run))
    assert summary["epochs"] == 3 and summary["steps"] == 3
    return run


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


@pytest.mark.slow
def test_run_folder_holds_config_split_metrics_models_and_curves(finished_run):
    run = finished_run
    names = {p.name for p in run.iterdir()}
    assert {
        "config.toml",
        "split.json",
        "run.json",
        "checkpoint.safetensors",
        "best.safetensors",
        "last.safetensors",
        "metrics.csv",
        "loss_curves.png",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert load_config(run / "config.toml") == tiny(
        "epochs=3", "steps_per_epoch=1", "optim.lr=3e-3"
    )
    (split,) = load_splits(run / "split.json")
    assert len(split.train) == len(split.val) == len(split.test) == 1
    assert json.loads((run / "run.json").read_text())["fold"] == 1
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key in (
        "train_loss",
        "train_critic",
        "train_gp",
        "val_l1",
        "val_ms_ssim",
        "val_psnr",
        "val_ssim",
        "lr",
        "epoch_s",
        "samples_per_s",
    ):
        assert float(rows[-1][key]) == float(rows[-1][key])  # present and not NaN
    assert (run / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_best_model_is_the_epoch_with_the_lowest_validation_loss(finished_run):
    rows = list(csv.DictReader((finished_run / "metrics.csv").open()))
    losses = [float(r["val_loss"]) for r in rows]
    best_epoch = 1 + losses.index(min(losses))
    _, info = load_model(finished_run / "best.safetensors")
    assert info.metadata["epoch"] == best_epoch
    assert info.metadata["val_loss"] == pytest.approx(min(losses), rel=1e-5)
    _, last = load_model(finished_run / "last.safetensors")
    assert last.metadata["epoch"] == 3


@pytest.mark.slow
def test_without_adversarial_term_there_is_no_critic_anywhere(tiny_cohort, tmp_path):
    run = tmp_path / "run"
    train(plan_run(tiny("adversarial.enabled=false", "epochs=1"), tiny_cohort, 0, run))
    state, meta = load_state(run / "checkpoint.safetensors")
    assert "critic" not in state and "d_optimizer" not in state
    assert not [k for k in meta["history"][-1] if k.startswith("train_") and "critic" in k]
    assert "train_adv" not in meta["history"][-1]


@pytest.mark.slow
def test_resumed_run_reaches_the_same_weights_as_an_uninterrupted_one(tiny_cohort, tmp_path):
    config = tiny("epochs=2", "steps_per_epoch=2")
    train(plan_run(config, tiny_cohort, 0, tmp_path / "straight"))
    # Interrupted after the first epoch: train 1 epoch, then resume the same run to 2.
    train(plan_run(tiny("epochs=1", "steps_per_epoch=2"), tiny_cohort, 0, tmp_path / "cut"))
    train(plan_run(config, None, None, tmp_path / "cut", resume=True))
    for name in ("last.safetensors", "checkpoint.safetensors"):
        a = load_file(tmp_path / "straight" / name)
        b = load_file(tmp_path / "cut" / name)
        assert a.keys() == b.keys()
        for key in a:
            if "rng" not in key:
                torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    rows = [
        list(csv.DictReader((tmp_path / r / "metrics.csv").open())) for r in ("straight", "cut")
    ]
    assert [r["val_loss"] for r in rows[0]] == [r["val_loss"] for r in rows[1]]


def test_resume_with_another_configuration_or_fold_is_refused(finished_run):
    base = ["epochs=3", "steps_per_epoch=1", "optim.lr=3e-3"]
    with pytest.raises(UserError, match=r"optim\.lr: 0\.003 -> 0\.001"):
        plan_run(tiny(*base, "optim.lr=1e-3"), None, None, finished_run, resume=True)
    with pytest.raises(UserError, match=r"^fold 2: the run in "):
        plan_run(None, None, 2, finished_run, resume=True)
    # Resume-safe keys (more epochs, threads) may change.
    plan = plan_run(tiny(*base, "epochs=5", "threads=2"), None, None, finished_run, resume=True)
    assert plan.config.epochs == 5 and plan.fold == 1


@pytest.mark.slow
def test_existing_run_without_resume_is_refused(finished_run, tiny_cohort):
    with pytest.raises(UserError, match="already holds a run"):
        plan_run(tiny(), tiny_cohort, 1, finished_run)


def test_user_errors_are_raised_before_any_file_is_written(tiny_cohort, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError, match=r"variant='fullest' is not valid; use one of single_sc"):
        plan_run(tiny('variant="fullest"'), tiny_cohort, 0, out)
    with pytest.raises(UserError, match=r"single_scale.*data\.n_choices"):
        plan_run(tiny('variant="single_scale"'), tiny_cohort, 0, out)
    with pytest.raises(UserError, match=r"^fold 3: must be in 0\.\.2"):
        plan_run(tiny(), tiny_cohort, 3, out)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_cohort, broken)
    next(broken.glob("p1/*.nii*")).write_bytes(b"not nifti")
    with pytest.raises(UserError, match="invalid cohort"):
        plan_run(tiny(), broken, 0, out)
    with pytest.raises(UserError, match=r"model.grid = \[64, 64\] does not match .* 32 x 32"):
        plan_run(tiny("model.grid=[64, 64]"), tiny_cohort, 0, out)
    with pytest.raises(UserError, match="Glu is not in the cohort"):
        plan_run(tiny('data.metabolites=["NAA", "Glu"]'), tiny_cohort, 0, out)
    with pytest.raises(UserError, match="no run to resume"):
        plan_run(tiny(), tiny_cohort, 0, out, resume=True)
    assert not out.exists()


@pytest.mark.slow
def test_checkpoint_of_a_foreign_configuration_is_refused(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    state, meta = load_state(run / "checkpoint.safetensors")
    save_state(run / "checkpoint.safetensors", state, {**meta, "config_hash": "0123456789abcdef"})
    with pytest.raises(UserError, match="another configuration"):
        train(plan_run(None, None, None, run, resume=True))


def test_split_of_the_run_is_the_cohort_fold(tiny_cohort, tmp_path):
    plans = [plan_run(tiny(), tiny_cohort, k, tmp_path / f"r{k}") for k in range(3)]
    assert sorted(p.split.test[0] for p in plans) == ["p0", "p1", "p2"]
    assert all(not Path(p.files.root).exists() for p in plans)
