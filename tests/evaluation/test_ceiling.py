"""The noise ceiling is reached by an oracle that knows the noiseless map, and not beaten."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.evaluation.ceiling import noise_ceiling

N, SD = 64, 0.3


def _psnr(pred: np.ndarray, truth: np.ndarray, inside: np.ndarray) -> float:
    data_range = truth[inside].max() - truth[inside].min()
    return float(10 * np.log10(data_range**2 / np.mean((pred[inside] - truth[inside]) ** 2)))


@pytest.mark.parametrize("n", [16, 24, 32])
def test_an_oracle_with_the_noiseless_map_reaches_the_bound_and_a_worse_guess_stays_below(n):
    rng = np.random.default_rng(n)
    yy, xx = np.mgrid[:N, :N]
    inside = (yy - N / 2) ** 2 + (xx - N / 2) ** 2 < (0.4 * N) ** 2
    oracle, smooth_guess, bounds = [], [], []
    for _ in range(30):
        # Edges (a lesion-like disc) put signal outside every acquisition window.
        cy, cx = rng.uniform(20, 44, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(6, 12) ** 2
        clean = 3.0 + 2.0 * disc + kspace.zero_fill(rng.normal(size=(8, 8)), N)
        truth = clean + rng.normal(0, SD, (N, N))
        measured = kspace.degrade(truth, n)
        zf = kspace.zero_fill(measured, N)
        best = kspace.data_consistency(clean, measured)  # knows everything but the noise
        base = _psnr(zf, truth, inside)
        oracle.append(_psnr(best, truth, inside) - base)
        smooth_guess.append(
            _psnr(kspace.data_consistency(0.5 * (clean + zf), measured), truth, inside) - base
        )
        bounds.append(noise_ceiling(zf, truth, inside, SD, n))
    assert np.mean(oracle) == pytest.approx(np.mean(bounds), abs=0.1)
    assert np.mean(smooth_guess) < np.mean(bounds) - 0.2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(noise_sd=0.0), "noise_sd"),
        (dict(n=64), "whole grid"),
        (dict(mask=np.zeros((8, 8))), "empty"),
        (dict(truth=np.zeros((8, 4))), "one \\(N_y, N_x\\) grid"),
    ],
)
def test_inputs_it_cannot_bound_are_refused(kwargs, message):
    args = dict(
        zero_filled=np.zeros((8, 8)), truth=np.ones((8, 8)), mask=np.ones((8, 8)), noise_sd=0.1, n=4
    )
    args.update(kwargs)
    if "n" in kwargs:
        args.update(zero_filled=np.zeros((64, 64)), truth=np.ones((64, 64)), mask=np.ones((64, 64)))
    with pytest.raises(ValueError, match=message):
        noise_ceiling(**args)
