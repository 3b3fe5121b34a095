"""Benchmarks of the networks and the training step (``mrsisr bench``, ``docs/benchmarks.md``).

Everything is timed round-robin in one process so that ratios between configurations hold on
a shared, noisy machine; see :mod:`mrsisr.benchmarking.suite`.
"""

from mrsisr.benchmarking.measure import TimingStats, interleaved_times, summarise
from mrsisr.benchmarking.suite import BenchSettings, run_suite, to_markdown
from mrsisr.benchmarking.workloads import Case, Workload

__all__ = [
    "BenchSettings",
    "Case",
    "TimingStats",
    "Workload",
    "interleaved_times",
    "run_suite",
    "summarise",
    "to_markdown",
]
