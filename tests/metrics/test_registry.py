"""The metric registry: what evaluation, tables and plots read about each metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrsisr import metrics
from mrsisr.evaluation.evaluate import METRICS as RESULT_COLUMNS
from mrsisr.metrics.registry import METRICS, metric_spec


def test_the_registry_holds_the_result_columns_in_order_with_their_functions() -> None:
    assert tuple(METRICS) == RESULT_COLUMNS == ("psnr", "ssim", "ms_ssim", "nrmse", "lpips")
    for name, spec in METRICS.items():
        assert spec.name == name and spec.function is getattr(metrics, name)
        assert spec.digits >= 0 and spec.label


def _score(name: str, pred: torch.Tensor, target: torch.Tensor) -> float:
    calls = {
        "psnr": lambda: metrics.psnr(pred, target, 1.0),
        "ssim": lambda: metrics.ssim(pred, target, 1.0, win_size=7),
        "ms_ssim": lambda: metrics.ms_ssim(
            pred, target, 1.0, weights=metrics.ms_ssim_weights(2), win_size=7
        ),
        "nrmse": lambda: metrics.nrmse(pred, target),
    }
    return float(calls[name]()[0])


@pytest.mark.parametrize("name", ["psnr", "ssim", "ms_ssim", "nrmse"])
def test_higher_is_better_agrees_with_the_function(name: str) -> None:
    """An exact prediction must score better than a noisy one in the registry's direction
    (LPIPS: tests/metrics/test_lpips.py, a distance that is 0 for identical maps)."""
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(1, 1, 33, 37, generator=gen)
    noisy = target + 0.1 * torch.randn(target.shape, generator=gen)
    exact, worse = _score(name, target, target), _score(name, noisy, target)
    spec = metric_spec(name)
    assert spec.best([worse, exact]) == 1  # PSNR: +inf for the exact one


def test_best_ignores_nan_in_the_metric_direction() -> None:
    values = [np.nan, 0.3, 0.1, np.nan, 0.2]
    assert metric_spec("psnr").best(values) == 1
    assert metric_spec("lpips").best(values) == 2


def test_an_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown metric 'mse'; known metrics: psnr, ssim"):
        metric_spec("mse")
