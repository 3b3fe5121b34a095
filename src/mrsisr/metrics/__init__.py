"""Image-quality metrics for super-resolved maps and paired statistics between methods.

Functional core (every function takes ``(B, C, H, W)`` tensors, an explicit data range where
the metric needs one, an optional mask, and returns ``(B,)``):

* :func:`psnr`, :func:`mse`, :func:`nrmse` (:mod:`mrsisr.metrics.pixel`), and
  :func:`psnr_in_mask` for NumPy maps of any shape
* :func:`ssim`, :func:`ms_ssim` (:mod:`mrsisr.metrics.ssim`)
* :func:`lpips`, :class:`LPIPS` (:mod:`mrsisr.metrics.lpips`; needs ``mrsisr lpips-weights``)
* :func:`paired_wilcoxon`, :func:`wilcoxon_table`, :func:`pairwise_wilcoxon`
  (:mod:`mrsisr.metrics.stats`)

The registry :data:`METRICS` (:mod:`mrsisr.metrics.registry`) says, per metric of an
evaluation, its function, whether higher is better, its table digits and plot label.
"""

from mrsisr.metrics._common import masked_data_range, masked_extrema, masked_mean
from mrsisr.metrics.lpips import LPIPS, LPIPSUnavailable, lpips, lpips_available
from mrsisr.metrics.pixel import mse, nrmse, psnr, psnr_in_mask
from mrsisr.metrics.registry import METRICS, MetricSpec, metric_spec
from mrsisr.metrics.ssim import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_weights, ssim
from mrsisr.metrics.stats import (
    WilcoxonResult,
    ZeroMethod,
    paired_wilcoxon,
    pairwise_wilcoxon,
    wilcoxon_table,
)

__all__ = [
    "LPIPS",
    "METRICS",
    "MS_SSIM_WEIGHTS",
    "LPIPSUnavailable",
    "MetricSpec",
    "WilcoxonResult",
    "ZeroMethod",
    "lpips",
    "lpips_available",
    "masked_data_range",
    "masked_extrema",
    "masked_mean",
    "metric_spec",
    "ms_ssim",
    "ms_ssim_weights",
    "mse",
    "nrmse",
    "paired_wilcoxon",
    "pairwise_wilcoxon",
    "psnr",
    "psnr_in_mask",
    "ssim",
    "wilcoxon_table",
]
