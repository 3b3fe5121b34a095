"""Fixtures of the evaluation tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_cohort import write_cohort


@pytest.fixture(scope="session")
def eval_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only 3-patient cohort, 32 x 32 x 3, NAA and Gln."""
    return write_cohort(tmp_path_factory.mktemp("eval") / "cohort")
