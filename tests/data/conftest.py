"""Shared fixtures of the data tests: small synthetic cohorts."""

from __future__ import annotations

from pathlib import Path

import pytest
from cohort_helpers import write_synthetic_cohort


@pytest.fixture
def synthetic_cohort(tmp_path: Path) -> Path:
    """A fresh valid synthetic cohort (a test may break it)."""
    return write_synthetic_cohort(tmp_path / "cohort")
