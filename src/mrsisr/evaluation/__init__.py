"""Evaluation of super-resolution methods on a cohort: ``mrsisr evaluate`` and ``calibrate``.

* :mod:`~mrsisr.evaluation.plan`: what an evaluation scores, checked before anything runs.
* :mod:`~mrsisr.evaluation.evaluate`: the evaluation set and the per-map scores.
* :mod:`~mrsisr.evaluation.methods`: trained generators and baselines as methods.
* :mod:`~mrsisr.evaluation.baselines`: zero-filling, bicubic, anatomy-guided filtering.
* :mod:`~mrsisr.evaluation.tables`: CSV, mean ± std, Wilcoxon tests, markdown.
* :mod:`~mrsisr.evaluation.report`: an evaluation written to a folder.
* :mod:`~mrsisr.evaluation.ceiling`: the bound a noisy simulated truth puts on any margin.
* :mod:`~mrsisr.evaluation.plots`: figures (matplotlib imported when drawing).
* :mod:`~mrsisr.evaluation.calibration`: are the SD maps calibrated, is bf16 as good.
* :mod:`~mrsisr.evaluation.selfcheck`: the self-check protocol on a cohort.

The paper's experiments (Table 1, Figs. 2-4, the n-conditioning ablation) are built on this
package in :mod:`mrsisr.experiments`.

Submodules are imported where used; this package imports nothing heavy on its own.
"""
