"""Training against the noiseless target: its configuration key and a run on a cohort with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from tiny_cohort import write_tiny_cohort

from mrsisr.errors import UserError
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import apply_overrides, config_hash, load_config
from mrsisr.train.run import plan_run, train

NOISELESS = ['data.target="noiseless"']


def test_the_key_keeps_the_fingerprint_of_older_runs_until_set():
    base = config_hash(TrainConfig())
    assert config_hash(apply_overrides(TrainConfig(), ['data.target="measured"'])) == base
    assert config_hash(apply_overrides(TrainConfig(), NOISELESS)) != base


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(['data.target="clean"'], "data.target.*must be 'measured' or 'noiseless'")],
)
def test_a_bad_target_is_a_one_line_user_error(overrides, message, tiny_cohort, tmp_path):
    with pytest.raises(UserError, match=message) as err:
        plan_run(load_config("tiny", overrides), tiny_cohort, 0, tmp_path / "run")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_cohort_without_noiseless_maps_is_a_one_line_user_error(tiny_cohort, tmp_path):
    config = load_config("tiny", NOISELESS)
    with pytest.raises(UserError, match=r"^data: .*has no noiseless maps") as err:
        train(plan_run(config, tiny_cohort, 0, tmp_path / "run"))
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_a_noiseless_run_trains_and_records_its_target(tmp_path: Path):
    cohort = write_tiny_cohort(tmp_path / "cohort", noiseless=True)
    config = load_config("tiny", [*NOISELESS, "epochs=1", "steps_per_epoch=2"])
    summary = train(plan_run(config, cohort, 0, tmp_path / "run"))
    assert summary["steps"] == 2
    recorded = tomllib.loads((tmp_path / "run" / "config.toml").read_text())
    assert recorded["data"]["target"] == "noiseless"
