"""Test-suite settings shared by every test folder.

Hypothesis draws its examples from a fixed seed by default, so ``make test`` and CI give the
same verdict on the same code; ``HYPOTHESIS_PROFILE=explore`` draws fresh examples (and more
of them) to look for new failures.

Under pytest-xdist (``make test``, ``make test-fast``: ``-n 2``) each worker is one process per
core, so each gets one OpenMP thread unless ``OMP_NUM_THREADS`` says otherwise: with torch's
default of one thread per core, two workers on two cores oversubscribe them, and the fast
suite took 2.2 times the CPU time (136 s against 62 s, 2026-12-07). Set before any test
module imports torch, which reads it once.

The phantom cohorts are shared by the simulator tests (tests/sim/) and the Dataset's test on
a cohort on disk (tests/data/), made once per session.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def phantom_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two phantom patients on the full 64 x 64 grid, 8 slices through the tumour region."""
    from mrsisr.sim.cohort import make_phantom_cohort

    root = tmp_path_factory.mktemp("phantom") / "cohort"
    return make_phantom_cohort(root, patients=2, seed=0, grid=64, slices=8)


@pytest.fixture(scope="session")
def tiny_phantom_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One phantom patient on a 32 x 32 x 4 grid (fast)."""
    from mrsisr.sim.cohort import make_phantom_cohort

    root = tmp_path_factory.mktemp("tiny") / "cohort"
    return make_phantom_cohort(root, patients=1, seed=0, grid=32, slices=4)
