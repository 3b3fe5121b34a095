"""The final test set: its own seed, stream and ids, and a content digest that pins it."""

from __future__ import annotations

import pytest

from mrsisr.cli import main
from mrsisr.data.manifest import read_manifest
from mrsisr.sim.cohort import cohort_digest, make_phantom_cohort
from mrsisr.sim.final_test import FINAL_TEST_SEED
from mrsisr.sim.simulators import Simulator


def test_it_has_patient_ids_no_other_cohort_uses() -> None:
    prefixes = {s: s.prefix for s in Simulator}
    assert prefixes[Simulator.final] == "F"
    assert len(set(prefixes.values())) == len(prefixes)


def test_two_generations_have_one_digest_and_differ_from_the_training_simulator(tmp_path):
    kwargs = dict(seed=FINAL_TEST_SEED, grid=16, slices=3)
    a = make_phantom_cohort(tmp_path / "a", 2, simulator="final", **kwargs)
    b = make_phantom_cohort(tmp_path / "b", 2, simulator="final", workers=2, **kwargs)
    r = make_phantom_cohort(tmp_path / "r", 2, simulator="randomised", **kwargs)
    assert read_manifest(a).patients == ("F01", "F02")
    assert cohort_digest(a) == cohort_digest(b)  # gzip time stamps do not count
    assert cohort_digest(a) != cohort_digest(r)
    (a / "F01" / "extra.txt").write_text("x")
    assert cohort_digest(a) != cohort_digest(b)


@pytest.mark.parametrize("extra", [["--seed", "0"], ["--patients", "5"], ["--first-patient", "2"]])
def test_the_command_refuses_any_other_seed_or_size(tmp_path, extra) -> None:
    argv = ["phantom", "--simulator", "final", "--out", str(tmp_path / "f"), *extra]
    assert main(argv) == 2
    assert not (tmp_path / "f").exists()
