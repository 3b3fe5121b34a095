"""Shared fixtures of the data tests: small synthetic cohorts and phantom cohorts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cohort_helpers import write_synthetic_cohort

from mrsisr.data.phantom import make_phantom_cohort


@pytest.fixture
def synthetic_cohort(tmp_path: Path) -> Path:
    """A fresh valid synthetic cohort (a test may break it)."""
    return write_synthetic_cohort(tmp_path / "cohort")


@pytest.fixture(scope="session")
def phantom_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two phantom patients on the full 64 x 64 grid, 8 slices through the tumour region."""
    root = tmp_path_factory.mktemp("phantom") / "cohort"
    return make_phantom_cohort(root, patients=2, seed=0, grid=64, slices=8)


@pytest.fixture(scope="session")
def tiny_phantom_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One phantom patient on a 32 x 32 x 4 grid (fast)."""
    root = tmp_path_factory.mktemp("tiny") / "cohort"
    return make_phantom_cohort(root, patients=1, seed=0, grid=32, slices=4)
