"""Paired Wilcoxon tests: wiring against scipy, a hand-computed case, and edge cases."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy.stats import wilcoxon

from mrsisr.metrics import ZeroMethod, paired_wilcoxon, pairwise_wilcoxon, wilcoxon_table


def test_hand_computed_exact_case() -> None:
    # d = [1, -2, 3, 4, 5]: negative-rank sum 2; P(W <= 2) = |{∅, {1}, {2}}| / 2^5 = 3/32.
    b = np.array([10.0, 12.0, 7.0, 1.0, 0.5])
    a = b + np.array([1.0, -2.0, 3.0, 4.0, 5.0])
    statistic, p_value = paired_wilcoxon(a, b)
    assert statistic == 2.0
    assert p_value == pytest.approx(2 * 3 / 32)
    assert paired_wilcoxon(a, b, alternative="greater").p_value == pytest.approx(3 / 32)


@pytest.mark.parametrize("zero_method", list(ZeroMethod))
@pytest.mark.parametrize("alternative", ["two-sided", "less"])
def test_matches_scipy_with_ties_and_zeros(zero_method: ZeroMethod, alternative: str) -> None:
    rng = np.random.default_rng(0)
    b = rng.random(40)
    a = b + np.round(rng.normal(0.05, 0.2, 40), 1)  # rounding makes ties and zeros
    assert np.any(a - b == 0)
    expected = wilcoxon(a - b, zero_method=zero_method.value, alternative=alternative)
    got = paired_wilcoxon(a, b, zero_method=zero_method.value, alternative=alternative)
    assert got == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))


@pytest.mark.slow
def test_pratt_is_the_default() -> None:
    d = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, -1.5, 4.0, 5.0, 6.0])
    expected = wilcoxon(d, zero_method="pratt")
    assert paired_wilcoxon(d, np.zeros_like(d)).p_value == pytest.approx(expected.pvalue)
    assert paired_wilcoxon(d, np.zeros_like(d), "wilcox").p_value == pytest.approx(
        wilcoxon(d, zero_method="wilcox").pvalue
    )


def test_identical_methods_give_p_one() -> None:
    a = [30.1, 28.4, 31.0]
    assert paired_wilcoxon(a, a) == (0.0, 1.0)


def test_non_finite_pairs_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(1)
    a, b = rng.random(20), rng.random(20)
    a_bad, b_bad = np.append(a, np.inf), np.append(b, 30.0)
    b_bad = np.append(b_bad, np.nan)
    a_bad = np.append(a_bad, 1.0)
    with caplog.at_level(logging.WARNING, logger="mrsisr.metrics.stats"):
        got = paired_wilcoxon(a_bad, b_bad)
    assert got == paired_wilcoxon(a, b)
    assert "dropping 2 of 22 pairs" in caplog.text


def test_tables_wire_methods_to_paired_tests() -> None:
    rng = np.random.default_rng(2)
    reference = rng.random(30)
    scores = {"full": reference, "unconditioned": reference - rng.random(30) * 0.1}
    scores["amlayer"] = reference + rng.normal(0, 0.05, 30)
    table = wilcoxon_table(scores, reference="full")
    assert list(table) == ["unconditioned", "amlayer"]
    for name, result in table.items():
        expected = wilcoxon(scores[name] - reference, zero_method="pratt")
        assert result.p_value == pytest.approx(expected.pvalue)
    assert table["unconditioned"].p_value < 1e-5  # every difference is negative
    pairs = pairwise_wilcoxon(scores)
    assert list(pairs) == [
        ("full", "unconditioned"),
        ("full", "amlayer"),
        ("unconditioned", "amlayer"),
    ]
    assert pairs[("full", "amlayer")].p_value == pytest.approx(table["amlayer"].p_value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"a": [1.0, 2.0], "b": [1.0]}, "same length"),
        ({"a": [[1.0]], "b": [[1.0]]}, "1-D"),
        ({"a": [1.0], "b": [2.0], "zero_method": "drop"}, "pratt, wilcox, zsplit"),
        ({"a": [1.0], "b": [2.0], "alternative": "bigger"}, "two-sided, greater, less"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        paired_wilcoxon(**kwargs)


def test_table_rejects_unknown_reference() -> None:
    with pytest.raises(ValueError, match="reference must be one of a, b"):
        wilcoxon_table({"a": [1.0], "b": [2.0]}, reference="c")


def test_welch_ttest_matches_the_textbook_formula() -> None:
    from scipy.stats import t as student_t

    from mrsisr.metrics.stats import welch_ttest

    a, b = np.array([24.1, 24.5, 24.3]), np.array([23.8, 24.0, 23.7, 23.9])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    stat = (a.mean() - b.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    result = welch_ttest(a, b)
    assert result.statistic == pytest.approx(stat)
    assert result.p_value == pytest.approx(2 * student_t.sf(abs(stat), dof))
    assert result.difference == pytest.approx(a.mean() - b.mean())


def test_welch_ttest_of_equal_constant_groups_is_not_significant() -> None:
    from mrsisr.metrics.stats import welch_ttest

    assert welch_ttest([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    assert welch_ttest([2.0, 2.0], [1.0, 1.0]).p_value == 0.0
    with pytest.raises(ValueError, match="2 finite"):
        welch_ttest([1.0], [1.0, 2.0])
