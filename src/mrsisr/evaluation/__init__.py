"""Evaluation of super-resolution methods and reproduction of the paper's experiments.

* :mod:`~mrsisr.evaluation.evaluate`: the evaluation set and the per-map scores.
* :mod:`~mrsisr.evaluation.methods`: trained generators and baselines as methods.
* :mod:`~mrsisr.evaluation.baselines`: zero-filling, bicubic, anatomy-guided filtering.
* :mod:`~mrsisr.evaluation.tables`: CSV, mean ± std, Wilcoxon tests, markdown.
* :mod:`~mrsisr.evaluation.ceiling`: the bound a noisy simulated truth puts on any margin.
* :mod:`~mrsisr.evaluation.plots`: figures (matplotlib imported when drawing).
* :mod:`~mrsisr.evaluation.reproduce`: Table 1 and Figs. 2-4 of Dong et al. (MICCAI 2022).

Submodules are imported where used; this package imports nothing heavy on its own.
"""
