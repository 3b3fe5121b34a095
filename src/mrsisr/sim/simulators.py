"""The simulators of in-silico cohorts, as an option (light: the command line lists them).

Each value is one simulator of :mod:`mrsisr.sim`; :func:`mrsisr.sim.cohort.make_phantom_cohort`
runs the one chosen."""

from __future__ import annotations

from mrsisr.options import StrEnum

__all__ = ["Simulator"]

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
    (:mod:`mrsisr.sim.final_test`);
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
