"""The simulators of in-silico cohorts, as an option (light: the command line lists them)."""

from __future__ import annotations

from mrsisr.options import StrEnum

__all__ = ["FINAL_TEST_DIGEST", "FINAL_TEST_PATIENTS", "FINAL_TEST_SEED", "Simulator"]

FINAL_TEST_SEED = 20261207
"""The seed of the final test set (``mrsisr phantom --simulator final``), used for nothing else."""
FINAL_TEST_PATIENTS = 20
"""Patients of the final test set (F01 ... F20)."""
FINAL_TEST_DIGEST = "1d4eda2d70747771f333017316595a52ef2531e458bcd55ac9cfa7b9aae0ac78"
""":func:`mrsisr.sim.cohort.cohort_digest` of the final test set as generated on 2026-12-07
(Python 3.11, numpy 2, torch 2.13 CPU; the same with 1 and 2 workers)."""


_PREFIX = {
    "paper": "P",
    "randomised": "R",
    "shifted": "S",
    "final": "F",
    "real-like": "L",
    "realistic": "W",
}


class Simulator(StrEnum):
    """Which simulator makes the patients.

    ``paper``: the glioma phantom of the paper's reproduction (:mod:`mrsisr.sim.glioma`);
    ``randomised`` and ``shifted``: the randomised simulator (:mod:`mrsisr.sim.randomised`)
    with the ``training`` or the ``shifted`` preset of :mod:`mrsisr.sim.presets`;
    ``final``: the final test set, the ``training`` preset with a generator stream and patient
    ids (F01, ...) of its own, scored once per shipped model and used for no design choice
    (docs/evaluation.md, "The final test set");
    ``real-like``: the shifted preset with maps given the statistics of real ones
    (:mod:`mrsisr.sim.real_like`), a test set;
    ``realistic``: training data, the ``realistic`` preset (the ``training`` ranges plus maps
    that depart from the tissue model as real ones do, :mod:`mrsisr.sim.realistic`).
    """

    paper = "paper"
    randomised = "randomised"
    shifted = "shifted"
    final = "final"
    real_like = "real-like"
    realistic = "realistic"  # new simulators go last: ``code`` is the position

    @property
    def prefix(self) -> str:
        """First letter of the patient ids (P, R, S, F, L, W), so cohorts of different
        simulators never share ids and a model's recorded split cannot match another cohort's."""
        return _PREFIX[self.value]

    @property
    def code(self) -> int:
        """The simulator's entry in the seed of each patient's generator (the order of
        definition: a new simulator is added last, so no existing cohort changes)."""
        return list(Simulator).index(self)
