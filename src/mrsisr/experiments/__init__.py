"""The paper's experiments: ``mrsisr reproduce``, built on :mod:`mrsisr.evaluation`.

Dong et al., "Multi-scale Super-resolution Magnetic Resonance Spectroscopic Imaging with
Adjustable Sharpness", MICCAI 2022, and what this reproduction adds to it:

* :mod:`~mrsisr.experiments.reproduce`: Table 1 and Fig. 2 (``reproduce table1``, ``fig2``).
* :mod:`~mrsisr.experiments.sharpness`: Figs. 3 and 4, the sharpness weight λ at work.
* :mod:`~mrsisr.experiments.ncond`: the n-conditioning ablation (``reproduce ncond``).
* :mod:`~mrsisr.experiments.retest`: the statistical tests recomputed from a result folder
  (``reproduce tests``).
* :mod:`~mrsisr.experiments.runs`: training runs cached by configuration, and the record of
  what ran.
* :mod:`~mrsisr.experiments.table1`: the markdown of Table 1 beside the paper's numbers
  (:mod:`~mrsisr.experiments.paper`).

Nothing of the product imports this package (tests/test_architecture.py checks).
Submodules are imported where used; this package imports nothing on its own.
"""
