"""Table 1 over networks: one mean per (fold, seed), Welch tests over those, never over maps."""

from __future__ import annotations

import numpy as np

from mrsisr.experiments.table1 import run_means, table1_markdown


def _rows(method, seed_offsets, maps=4):
    return [
        {
            "method": method,
            "lam": None,
            "fold": 0,
            "seed": seed,
            "patient": "P1",
            "slice": k,
            "metabolite": "Gln",
            "n": 16,
            "psnr": 20.0 + offset + 0.1 * k,
            "ssim": 0.8 + offset / 100,
        }
        for seed, offset in enumerate(seed_offsets)
        for k in range(maps)
    ]


def test_run_means_are_one_per_fold_and_seed() -> None:
    rows = _rows("filter_scaling_met", [0.0, 1.0, 2.0])
    np.testing.assert_allclose(run_means(rows, "filter_scaling_met", "psnr"), [20.15, 21.15, 22.15])


def test_one_network_per_row_gets_no_p_value_however_many_maps() -> None:
    rows = _rows("single_scale", [0.0], maps=500) + _rows("filter_scaling_met", [1.0], maps=500)
    text = table1_markdown(rows, {}, {}, folds_run=1, seeds=[0])
    line = next(x for x in text.splitlines() if x.startswith("| Filter Scaling with Met |"))
    assert "– (1 network)" in line


def test_p_values_test_the_network_means() -> None:
    from scipy.stats import ttest_ind

    a, b = [0.0, 0.2, 0.1], [1.0, 1.3, 0.9]
    rows = _rows("single_scale", a) + _rows("filter_scaling_met", b)
    text = table1_markdown(rows, {}, {}, folds_run=1, seeds=[0, 1, 2])
    line = next(x for x in text.splitlines() if x.startswith("| Filter Scaling with Met |"))
    p = ttest_ind(np.add(b, 20.15), np.add(a, 20.15), equal_var=False).pvalue
    assert f"{p:.3f}" in line or f"{p:.2e}" in line
    assert f"{np.mean(b) + 20.15:.2f} ± {np.std(np.add(b, 20.15), ddof=1):.2f}" in line


def test_the_tests_are_holm_adjusted_over_every_comparison_reported() -> None:
    """Regression (issue 26): Table 1's p-values were uncorrected although 7 tests were made."""
    from mrsisr.experiments.table1 import seed_tests
    from mrsisr.metrics.stats import holm

    rows = _rows("single_scale", [0.0, 0.2, 0.1]) + _rows("filter_scaling_met", [1.0, 1.3, 0.9])
    rows += _rows("hypernetwork", [0.9, 1.2, 1.0]) + _rows("amlayer", [-0.1, 0.0, 0.3])
    tests = seed_tests(rows)
    pairs = [(t["first"], t["second"]) for t in tests]
    assert ("filter_scaling_met", "hypernetwork") in pairs and len(pairs) == 4
    raw = [t["psnr"]["p"] for t in tests]
    np.testing.assert_allclose([t["psnr"]["holm"] for t in tests], holm(raw))
    text = table1_markdown(rows, {}, {}, folds_run=1, seeds=[0, 1, 2])
    assert "unit: the training seed" in text and "adjusted over the 4 comparisons" in text
