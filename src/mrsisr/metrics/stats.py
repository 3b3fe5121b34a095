"""Paired Wilcoxon signed-rank tests between methods, as in the paper's Table 1.

Samples are paired: the same slice, metabolite and resolution scored by two methods. The
test is :func:`scipy.stats.wilcoxon` on the differences ``a − b``, two-sided by default.

Choices (all explicit arguments):

* Zero differences (two methods giving the same score) use Pratt's method by default: they
  take part in the ranking and are then dropped, so they neither count as evidence nor
  inflate the ranks of the non-zero differences (scipy's default ``"wilcox"`` drops them
  before ranking; ``"zsplit"`` splits their ranks between the signs).
* Tied non-zero differences get average ranks. The p-value is computed as scipy's
  ``method="auto"`` decides; with scipy 1.17: the exact null distribution for up to 50 pairs
  without ties or zeros, an exact permutation enumeration for up to 13 pairs with ties or
  zeros, and the tie-corrected normal approximation (no continuity correction) otherwise.
* Pairs where either score is not finite (e.g. the +inf PSNR of a perfect prediction, or a
  NaN from an empty mask) are dropped, with a warning giving their number.
* If no non-zero difference is left, the methods are indistinguishable: statistic 0 and
  p-value 1, without calling scipy (whose statistic is undefined there).

Where several tests are made on one result, :func:`holm` adjusts their p-values (Holm's
step-down method, which controls the family-wise error rate without assuming independence);
the tables say which tests form the family.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from mrsisr.options import StrEnum

__all__ = [
    "WelchResult",
    "WilcoxonResult",
    "ZeroMethod",
    "holm",
    "paired_wilcoxon",
    "pairwise_wilcoxon",
    "welch_ttest",
    "wilcoxon_table",
]

logger = logging.getLogger(__name__)


class ZeroMethod(StrEnum):
    """How zero differences enter the signed-rank test (``scipy.stats.wilcoxon``)."""

    pratt = "pratt"
    wilcox = "wilcox"
    zsplit = "zsplit"


class WilcoxonResult(NamedTuple):
    """The outcome of one paired test."""

    statistic: float
    """scipy's statistic: the smaller of the positive- and negative-rank sums (two-sided)."""
    p_value: float


_ALTERNATIVES = ("two-sided", "greater", "less")


def paired_wilcoxon(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    zero_method: str | ZeroMethod = ZeroMethod.pratt,
    alternative: str = "two-sided",
) -> WilcoxonResult:
    """Wilcoxon signed-rank test of paired samples ``a`` and ``b`` (see the module notes).

    Args:
        a: scores of one method, shape ``(S,)``.
        b: scores of the other method on the same samples, shape ``(S,)``.
        zero_method: ``"pratt"`` (default), ``"wilcox"`` or ``"zsplit"``.
        alternative: ``"two-sided"``, or ``"greater"`` / ``"less"`` for ``a − b``.

    Returns:
        ``(statistic, p_value)``.

    Raises:
        ValueError: for samples of different lengths or not 1-D, or an unknown option.
    """
    from scipy.stats import wilcoxon

    method = ZeroMethod.parse(zero_method, "zero_method")
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {', '.join(_ALTERNATIVES)}; got {alternative!r}"
        )
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"a and b must be 1-D and of the same length, got shapes {x.shape} and {y.shape}"
        )
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():
        logger.warning(
            "Wilcoxon test: dropping %d of %d pairs with a non-finite score",
            int((~finite).sum()),
            x.size,
        )
    diff = x[finite] - y[finite]
    if not np.any(diff != 0):
        return WilcoxonResult(0.0, 1.0)
    result = wilcoxon(diff, zero_method=method.value, alternative=alternative, method="auto")
    return WilcoxonResult(float(result.statistic), float(result.pvalue))


def wilcoxon_table(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    reference: str,
    zero_method: str | ZeroMethod = ZeroMethod.pratt,
) -> dict[str, WilcoxonResult]:
    """Two-sided paired tests of every method against a reference method.

    Args:
        scores: method name -> its scores ``(S,)`` on the same, identically ordered samples.
        reference: the method the others are compared with (a key of ``scores``).
        zero_method: as in :func:`paired_wilcoxon`.

    Returns:
        Method name -> ``(statistic, p_value)``, in the order of ``scores``, without the
        reference.
    """
    if reference not in scores:
        raise ValueError(f"reference must be one of {', '.join(scores)}; got {reference!r}")
    return {
        name: paired_wilcoxon(values, scores[reference], zero_method)
        for name, values in scores.items()
        if name != reference
    }


def pairwise_wilcoxon(
    scores: Mapping[str, Sequence[float] | np.ndarray],
    zero_method: str | ZeroMethod = ZeroMethod.pratt,
) -> dict[tuple[str, str], WilcoxonResult]:
    """Two-sided paired tests for each unordered pair of methods (the paper's Table 1).

    Args:
        scores: method name -> its scores ``(S,)`` on the same, identically ordered samples.
        zero_method: as in :func:`paired_wilcoxon`.

    Returns:
        ``(first, second)`` in the order of ``scores`` -> ``(statistic, p_value)``.
    """
    names = list(scores)
    return {
        (first, second): paired_wilcoxon(scores[first], scores[second], zero_method)
        for i, first in enumerate(names)
        for second in names[i + 1 :]
    }


class WelchResult(NamedTuple):
    """Result of :func:`welch_ttest`."""

    statistic: float
    p_value: float
    difference: float
    """``mean(a) - mean(b)``."""


def welch_ttest(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> WelchResult:
    """Two-sided Welch t-test of two independent groups (e.g. one score per training seed).

    For comparisons at the level of independent units, such as the seeds of two designs:
    each unit gives one number (its mean over the test maps), so maps that share a patient,
    a slice or a network are not counted as independent evidence. With 3 units per group a
    rank test cannot reach p < 0.1; the t-test assumes normal unit means.

    Args:
        a: ``(S_a,)`` one value per unit of the first group, ``S_a >= 2``.
        b: ``(S_b,)`` one value per unit of the second group, ``S_b >= 2``.

    Returns:
        ``(statistic, p_value, difference)``; p = 1 when both groups are constant and equal.

    Raises:
        ValueError: a group with fewer than 2 finite values.
    """
    from scipy.stats import ttest_ind

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size < 2 or y.size < 2:
        raise ValueError(f"each group needs >= 2 finite values, got {x.size} and {y.size}")
    difference = float(x.mean() - y.mean())
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return WelchResult(
            0.0 if difference == 0 else np.copysign(np.inf, difference),
            1.0 if difference == 0 else 0.0,
            difference,
        )
    result = ttest_ind(x, y, equal_var=False)
    return WelchResult(float(result.statistic), float(result.pvalue), difference)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (family-wise error rate).

    The ``k``-th smallest of ``m`` p-values is multiplied by ``m − k + 1``, the running
    maximum taken so the order is kept, and the result capped at 1. Non-finite p-values
    (tests not made) are left as they are and do not count in ``m``.

    Args:
        p_values: ``(m,)`` the p-values of the tests of one family.

    Returns:
        ``(m,)`` adjusted p-values in the input order: reject at level α where ``<= α``.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = p.copy()
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    running = 0.0
    for k, index in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[index]))
        out[index] = running
    return out
