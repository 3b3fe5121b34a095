"""The simulators of in-silico cohorts, as an option (light: the command line lists them)."""

from __future__ import annotations

from mrsisr.options import StrEnum

__all__ = ["Simulator"]


class Simulator(StrEnum):
    """Which simulator makes the patients.

    ``paper``: the glioma phantom of the paper's reproduction (:mod:`mrsisr.data.simulate`);
    ``randomised`` and ``shifted``: the randomised simulator (:mod:`mrsisr.data.randomised`)
    with the ``training`` or the ``shifted`` preset of :mod:`mrsisr.data.randomise`;
    ``real-like``: the shifted preset with maps given the statistics of real ones
    (:mod:`mrsisr.data.reallike`), a test set.
    """

    paper = "paper"
    randomised = "randomised"
    shifted = "shifted"
    real_like = "real-like"

    @property
    def prefix(self) -> str:
        """First letter of the patient ids (P, R, S), so cohorts of different simulators
        never share ids and a model's recorded split cannot match another cohort's."""
        return {"paper": "P", "randomised": "R", "shifted": "S", "real-like": "L"}[self.value]

    @property
    def code(self) -> int:
        """The simulator's entry in the seed of each patient's generator."""
        return list(Simulator).index(self)
