"""The final test set (the simulator ``final`` of ``mrsisr phantom``): its seed, size and digest.

The ``training`` preset of the randomised simulator (:mod:`mrsisr.sim.randomised`) with a
generator stream and patient ids (F01, ...) of its own (``Simulator.final``), written by
:func:`mrsisr.sim.cohort.make_phantom_cohort`; scored once per shipped model and used for no
design choice (docs/evaluation.md, "The final test set"). Light: the command line reads these
numbers for its help.
"""

from __future__ import annotations

__all__ = ["FINAL_TEST_DIGEST", "FINAL_TEST_PATIENTS", "FINAL_TEST_SEED"]

FINAL_TEST_SEED = 20261207
"""The seed of the final test set, used for nothing else."""
FINAL_TEST_PATIENTS = 20
"""Patients of the final test set (F01 ... F20)."""
FINAL_TEST_DIGEST = "1d4eda2d70747771f333017316595a52ef2531e458bcd55ac9cfa7b9aae0ac78"
""":func:`mrsisr.sim.cohort.cohort_digest` of the final test set as generated on 2026-12-07
(Python 3.11, numpy 2, torch 2.13 CPU; the same with 1 and 2 workers)."""
