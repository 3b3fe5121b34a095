"""The metrics an evaluation reports, as data: what evaluation, tables and plots read.

Each :class:`MetricSpec` names a column of the evaluation's results (``samples.csv``), its
functional core, whether higher is better, the decimals tables print and the label plots
draw. Code that needs any of these reads :data:`METRICS` instead of spelling metric names;
adding a metric is one entry here and its scoring call in
:func:`mrsisr.evaluation.evaluate.score` (``docs/ARCHITECTURE.md``, "How to add a metric").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mrsisr.metrics.lpips import lpips
from mrsisr.metrics.pixel import nrmse, psnr
from mrsisr.metrics.ssim import ms_ssim, ssim

__all__ = ["METRICS", "MetricSpec", "metric_spec"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of an evaluation.

    Args:
        name: the result column (``"psnr"``).
        function: the functional core, ``(pred, target, ...) -> (B,)`` (its own signature:
            the data range and mask arguments differ between metrics).
        higher_is_better: ``True`` for similarities (PSNR, SSIM), ``False`` for distances
            (NRMSE, LPIPS); picks the best entry, λ or cell of a table or plot.
        digits: decimals of a mean in a table.
        label: the axis label of a plot, units included (``"PSNR (dB)"``).
    """

    name: str
    function: Callable[..., Any]
    higher_is_better: bool
    digits: int
    label: str

    def best(self, values: Any) -> int:
        """Index of the best finite value of ``values`` (NaN ignored; needs one finite)."""
        pick = np.nanargmax if self.higher_is_better else np.nanargmin
        return int(pick(np.asarray(values, dtype=np.float64)))


METRICS: Mapping[str, MetricSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            MetricSpec("psnr", psnr, higher_is_better=True, digits=2, label="PSNR (dB)"),
            MetricSpec("ssim", ssim, higher_is_better=True, digits=4, label="SSIM"),
            MetricSpec("ms_ssim", ms_ssim, higher_is_better=True, digits=4, label="MS-SSIM"),
            MetricSpec("nrmse", nrmse, higher_is_better=False, digits=4, label="NRMSE"),
            MetricSpec("lpips", lpips, higher_is_better=False, digits=4, label="LPIPS"),
        )
    }
)
"""Every metric of an evaluation, in the order of the result columns."""


def metric_spec(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of ``name``.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None
