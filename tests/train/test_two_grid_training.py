"""Training on a cohort of several native grids: the trained range the model file records,
the checks of the plan, the validation batches and a run."""

from __future__ import annotations

import hashlib

import pytest
import torch
from tiny_cohort import both_grids, write_tiny_cohort

from mrsisr.checkpoint import TrainedRange, load_model
from mrsisr.data.cohort import Cohort
from mrsisr.data.sampler import batch_native_grid
from mrsisr.data.splits import fold_split
from mrsisr.errors import UserError
from mrsisr.inference import describe_outside
from mrsisr.train.builders import build_datasets, validation_loader
from mrsisr.train.config_io import load_config
from mrsisr.train.run import plan_run, train

PAPER_N = list(range(8, 33, 2))


def test_the_trained_range_spans_n_scaled_to_each_native_grid() -> None:
    trained = TrainedRange.from_n_choices(PAPER_N, (64, 64), (), [(64, 64), (128, 128)])
    assert trained == TrainedRange((8, 8), (64, 64), (64, 64), (64, 64), (128, 128))
    assert trained.to_dict()["N_max"] == [128, 128] and trained.to_dict()["n_max"] == [64, 64]
    # predict's default output grid of a 64 x 64 map is 128 x 128: inside the range now.
    assert describe_outside(trained, (64, 64), (128, 128)) is None
    before = TrainedRange.from_n_choices(PAPER_N, (64, 64))
    assert describe_outside(before, (64, 64), (128, 128)) == (
        "n 64 > 32 on y; n 64 > 32 on x; N 128x128, trained 64x64"
    )


def test_one_native_grid_records_what_it_always_recorded() -> None:
    for grids in ([], [[64, 64], [64, 84]]):
        plain = TrainedRange.from_n_choices(PAPER_N, (64, 64), grids)
        assert TrainedRange.from_n_choices(PAPER_N, (64, 64), grids, [(64, 64)]) == plain
    assert TrainedRange.from_n_choices(PAPER_N, (64, 64)).to_dict() == {
        "n_min": [8, 8], "n_max": [32, 32], "N": [64, 64]}  # fmt: skip


def test_data_grids_and_native_grids_combine() -> None:
    """``data.grids`` act on the model grid's patients; the 128 patients stay on 128."""
    trained = TrainedRange.from_n_choices(PAPER_N, (64, 64), [[64, 64], [48, 84]], [(64, 64),
                                          (128, 128)])  # fmt: skip
    assert (trained.grid_min, trained.grid_max) == ((48, 64), (128, 128))
    assert (trained.n_min, trained.n_max) == ((8, 8), (64, 64))
    alone = TrainedRange.from_n_choices(PAPER_N, (64, 64), [[48, 84]], [(128, 128)])
    assert alone == TrainedRange((16, 16), (64, 64), (64, 64), (128, 128), (128, 128))


def tiny(*overrides: str):
    return load_config("tiny", list(overrides))


def test_validation_batches_hold_one_grid_and_n_is_scaled(mixed_cohort) -> None:
    cohort = Cohort.open(mixed_cohort)
    seed, fold = both_grids(cohort)
    plan = plan_run(tiny(seed), mixed_cohort, fold, "unused")
    train_set, val_set = build_datasets(plan.config, cohort, plan.split)
    assert train_set.native_grids == val_set.native_grids == ((32, 32), (64, 64))
    assert train_set.grid == val_set.grid == (32, 32)
    for rank, world in ((0, 1), (1, 2)):
        shapes = set()
        for batch in validation_loader(val_set, 5, rank, world):
            shape = tuple(batch.lr.shape[-2:])
            shapes.add(shape)
            factor = shape[0] // 32
            assert set(batch.n[:, 0].tolist()) <= {8 * factor, 12 * factor, 16 * factor}
        assert shapes == {(32, 32), (64, 64)}


def test_the_model_grid_must_be_a_grid_of_the_cohort(mixed_cohort, tmp_path) -> None:
    config = tiny("model.grid=[48, 48]", "data.n_choices=[8]")
    with pytest.raises(UserError) as refused:
        plan_run(config, mixed_cohort, 0, tmp_path / "run")
    assert str(refused.value) == (
        "config key model.grid = [48, 48] is none of the cohort's grids 32 x 32, 64 x 64; set "
        "overrides model.grid to the grid data.n_choices are given for, e.g. "
        "model.grid=[32, 32]"
    )
    assert not (tmp_path / "run").exists()


def test_the_ms_ssim_window_must_fit_the_smallest_grid_of_the_cohort(mixed_cohort, tmp_path):
    config = tiny("model.grid=[64, 64]", "loss.ms_ssim_scales=4", "loss.ms_ssim_window=7")
    with pytest.raises(UserError) as refused:
        plan_run(config, mixed_cohort, 0, tmp_path / "run")
    assert str(refused.value).startswith(
        "config key loss.ms_ssim_window = 7 must fit the coarsest MS-SSIM scale of the "
        "cohort's 32-voxel side (its smallest grid)"
    )


@pytest.mark.slow
def test_a_run_on_two_grids_records_them_and_n_scaled(mixed_cohort, tmp_path) -> None:
    seed, fold = both_grids(Cohort.open(mixed_cohort))
    config = tiny("epochs=1", "batch_size=2", "steps_per_epoch=6", seed)
    plan = plan_run(config, mixed_cohort, fold, tmp_path / "r")
    train_set, _ = build_datasets(config, Cohort.open(mixed_cohort), plan.split)
    drawn = {batch_native_grid(train_set, config.seed, 0, b) for b in range(6)}
    assert drawn == {(32, 32), (64, 64)}  # both grids went through a step
    summary = train(plan)
    assert summary["steps"] == 6 and torch.isfinite(torch.tensor(summary["best_val_loss"]))
    _, info = load_model(tmp_path / "r" / "best.safetensors")
    assert info.trained == TrainedRange((8, 8), (32, 32), (32, 32), (32, 32), (64, 64))


# A regression guard: the validation batches of a one-grid cohort are those of main before
# native grids existed (digests computed with the code of main at commit aa31ffd, which
# batched a Subset of the rank's share).
VALIDATION_SHA256 = {
    (0, 1): "9204c2ada532bad51d6713a0d1e847db22d42a9389899420c8b3eb4606248214",
    (1, 2): "cb1426f4d2221d05886a9bae47ef70f2cfb12335a1f9d083516a799d95915c19",
}


def test_validation_batches_of_one_grid_are_those_before_native_grids(tmp_path) -> None:
    cohort = Cohort.open(write_tiny_cohort(tmp_path / "c", patients=4))
    config = tiny()
    _, val = build_datasets(config, cohort, fold_split(cohort.patients, 3, 0, 0))
    fields = ("lr", "t1", "flair", "mask", "hr", "n", "met", "lam", "scale", "patient", "slice")
    for (rank, world), expected in VALIDATION_SHA256.items():
        digest = hashlib.sha256()
        for batch in validation_loader(val, 5, rank, world):
            for name in (*fields, "present", "window"):
                digest.update(getattr(batch, name).numpy().tobytes())
        assert digest.hexdigest() == expected
