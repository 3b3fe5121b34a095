"""Shared fixtures of the training tests: a tiny cohort written in the cohort format."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_cohort import write_tiny_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid 3-patient cohort, 32 x 32 x 4, two metabolites (read-only for tests)."""
    return write_tiny_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="session")
def mixed_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 32 x 32 patients (p0..p2) and three 64 x 64 ones (q0..q2) over one 96 mm field of
    view, merged into one cohort (read-only for tests)."""
    from mrsisr.data.merge import plan_merge, write_merge

    root = tmp_path_factory.mktemp("mixed")
    coarse = write_tiny_cohort(root / "coarse")
    fine = write_tiny_cohort(root / "fine", grid=64, prefix="q")
    return write_merge(plan_merge([coarse, fine], root / "mixed"))
