"""The thread policy: explicit counts win, else the idle share of the usable CPUs."""

from __future__ import annotations

import pytest

import mrsisr.machine as machine


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(machine, "usable_cpus", lambda: 4)
    return monkeypatch


@pytest.mark.parametrize(
    ("load", "processes", "expected"),
    [(0.2, 1, 4), (1.2, 1, 3), (2.6, 1, 1), (9.0, 1, 1), (0.0, 2, 2), (2.6, 2, 1),
     (float("nan"), 1, 4)],
)  # fmt: skip
def test_automatic_threads_are_the_idle_share_of_the_cpus(
    four_cpus: pytest.MonkeyPatch, load: float, processes: int, expected: int
) -> None:
    four_cpus.setattr(machine, "load_average", lambda: load)
    assert machine.cpu_threads(None, processes) == expected


def test_an_explicit_count_or_omp_num_threads_wins(four_cpus: pytest.MonkeyPatch) -> None:
    four_cpus.setattr(machine, "load_average", lambda: 9.0)
    assert machine.cpu_threads(3) == 3
    four_cpus.setenv("OMP_NUM_THREADS", "2")
    assert machine.cpu_threads(None) == 2
    assert machine.cpu_threads(5, processes=2) == 5


@pytest.mark.parametrize(("requested", "processes"), [(0, 1), (-1, 1), (None, 0)])
def test_bad_counts_are_refused(requested: int | None, processes: int) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        machine.cpu_threads(requested, processes)
