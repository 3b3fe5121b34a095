"""Shared fixtures of the training tests: a tiny cohort written in the cohort format."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_cohort import write_tiny_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid 3-patient cohort, 32 x 32 x 4, two metabolites (read-only for tests)."""
    return write_tiny_cohort(tmp_path_factory.mktemp("cohort"))
