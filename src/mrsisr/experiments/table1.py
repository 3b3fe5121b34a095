"""The markdown of the reproduced Table 1, side by side with the paper's numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mrsisr.evaluation.tables import (
    entry_of,
    format_mean_std,
    format_p,
    markdown_table,
)
from mrsisr.experiments.paper import PAPER_CITATION, PAPER_TABLE1
from mrsisr.experiments.runs import format_duration
from mrsisr.metrics.registry import metric_spec

__all__ = [
    "TABLE1_CONTRASTS",
    "ordering",
    "run_means",
    "seed_tests",
    "seed_tests_markdown",
    "table1_markdown",
]

TABLE1_CONTRASTS: tuple[tuple[str, str], ...] = (
    ("unconditioned", "single_scale"),
    ("amlayer", "single_scale"),
    ("hypernetwork", "single_scale"),
    ("filter_scaling", "single_scale"),
    ("filter_scaling_met", "single_scale"),
    ("full", "single_scale"),
    ("full", "filter_scaling_met"),
    ("filter_scaling_met", "hypernetwork"),
    ("filter_scaling_met", "filter_scaling"),
)
"""The family of comparisons Table 1 reports (each row against single-scale, and the pairs
its text discusses); Holm's adjustment runs over all of them, per metric."""


def _values(rows: Sequence[Mapping[str, Any]], name: str, metric: str) -> np.ndarray:
    return np.array([float(r[metric]) for r in rows if entry_of(r) == name], dtype=np.float64)


def ordering(scores: Mapping[str, float]) -> list[str]:
    """Names from the best (highest) score to the worst."""
    return sorted(scores, key=lambda k: -scores[k])


def run_means(rows: Sequence[Mapping[str, Any]], name: str, metric: str) -> np.ndarray:
    """One mean per trained network of an entry: over its maps, per ``(fold, seed)``.

    These are the independent units of the comparison: the maps of one network share its
    training and their patients, so they are not independent samples.
    """
    groups: dict[tuple[Any, Any], list[float]] = {}
    for row in rows:
        value = float(row[metric])
        if entry_of(row) == name and np.isfinite(value):
            groups.setdefault((row.get("fold"), row.get("seed")), []).append(value)
    return np.array([np.mean(v) for _, v in sorted(groups.items(), key=str)], dtype=np.float64)


def seed_tests(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("psnr", "ssim")
) -> list[dict[str, Any]]:
    """Welch's t-test over trained networks (one per seed and fold) for every pair of
    :data:`TABLE1_CONTRASTS` that ran with at least 2 networks a side, Holm-adjusted over
    those pairs, per metric.

    Returns:
        One dict per pair: ``first``, ``second``, ``networks`` (per side) and per metric
        ``{"difference", "p", "holm"}``.
    """
    from mrsisr.metrics.stats import holm, welch_ttest

    names = {entry_of(r) for r in rows}
    out: list[dict[str, Any]] = []
    for first, second in TABLE1_CONTRASTS:
        if first not in names or second not in names:
            continue
        row: dict[str, Any] = {"first": first, "second": second}
        for metric in metrics:
            a, b = run_means(rows, first, metric), run_means(rows, second, metric)
            if a.size < 2 or b.size < 2:
                break
            test = welch_ttest(a, b)
            row["networks"] = (int(a.size), int(b.size))
            row[metric] = {"difference": test.difference, "p": test.p_value}
        else:
            out.append(row)
    for metric in metrics:
        for row, adjusted in zip(out, holm([r[metric]["p"] for r in out])):
            row[metric]["holm"] = float(adjusted)
    return out


def seed_tests_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """:func:`seed_tests` as a markdown section that states the unit and the correction."""
    tests = seed_tests(rows)
    if not tests:
        return "No test: fewer than 2 networks per row (one seed); maps are not independent.\n"
    patients = sorted({str(r["patient"]) for r in rows})
    body = []
    for t in tests:
        cells = [f"{t['first']} vs {t['second']}", f"{t['networks'][0]} vs {t['networks'][1]}"]
        for metric, digits in (("psnr", 3), ("ssim", 4)):
            x = t[metric]
            cells += [f"{x['difference']:+.{digits}f}", format_p(x["p"]), format_p(x["holm"])]
        body.append(cells)
    header = ["comparison", "networks", "Δ PSNR (dB)", "p", "Holm p", "Δ SSIM", "p", "Holm p"]
    return "\n".join(
        [
            "## Tests over networks (unit: the training seed)",
            "",
            "Each network (one per seed and fold) is one observation: its mean over the maps "
            f"of the test patients ({', '.join(patients)}, the same for every network). "
            "Two-sided Welch t-test (`scipy.stats.ttest_ind`, `equal_var=False`); Holm: "
            f"adjusted over the {len(tests)} comparisons of this table, per metric. These "
            "p-values measure training noise on these patients only; with "
            f"{len(patients)} test patients nothing is shown about other patients.",
            "",
            markdown_table(header, body),
            "",
        ]
    )


def _p_value(rows: Sequence[Mapping[str, Any]], name: str, other: str, metric: str) -> str:
    """``p (Holm p)`` of ``name`` against ``other`` from :func:`seed_tests`."""
    for t in seed_tests(rows, (metric,)):
        if (t["first"], t["second"]) == (name, other):
            return f"{format_p(t[metric]['p'])} ({format_p(t[metric]['holm'])})"
    if name == other or other not in {entry_of(r) for r in rows}:
        return "–"
    return "– (1 network)"


def _over_runs(values: np.ndarray, metric: str) -> str:
    if values.size < 2:
        return format_mean_std(values, metric) if values.size else "n/a"
    digits = metric_spec(metric).digits
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def _order_sentence(metric: str, ours: Mapping[str, float], paper: Mapping[str, float]) -> str:
    from scipy.stats import spearmanr

    names = [n for n in ours if n in paper]
    mine, theirs = ordering({n: ours[n] for n in names}), ordering({n: paper[n] for n in names})
    rho = spearmanr([ours[n] for n in names], [paper[n] for n in names]).statistic
    same_best = mine[0] == theirs[0]
    return (
        f"- {metric}: ours {' > '.join(mine)}; paper {' > '.join(theirs)}. Spearman rank "
        f"correlation {rho:+.2f}; best method {'agrees' if same_best else 'differs'}."
    )


def table1_markdown(
    rows: Sequence[Mapping[str, Any]],
    params: Mapping[str, int],
    train_hours: Mapping[str, float],
    folds_run: int,
    seeds: Sequence[int] = (0,),
) -> str:
    """Table 1 with our PSNR / SSIM, tests at the level of trained networks, training time
    and parameters, next to the paper's.

    Args:
        rows: evaluation rows of every fold and seed (method names are variants, plus
            baselines; the columns ``fold`` and ``seed`` tell the networks apart).
        params: trainable parameters per variant (the nine networks summed for single-scale).
        train_hours: training time per variant, summed over the folds and seeds run.
        folds_run: number of folds evaluated.
        seeds: the training seeds (one network per variant, fold and seed).
    """
    names = list(dict.fromkeys(entry_of(r) for r in rows))
    body = []
    mean_psnr, mean_ssim = {}, {}
    for name in names:
        psnr, ssim = _values(rows, name, "psnr"), _values(rows, name, "ssim")
        mean_psnr[name] = float(np.nanmean(np.where(np.isfinite(psnr), psnr, np.nan)))
        mean_ssim[name] = float(np.nanmean(ssim))
        paper = PAPER_TABLE1.get(name)
        units_psnr, units_ssim = run_means(rows, name, "psnr"), run_means(rows, name, "ssim")
        cells = [
            paper.label if paper else name,
            _over_runs(units_psnr, "psnr"),
            _over_runs(units_ssim, "ssim"),
            format_mean_std(psnr, "psnr"),
            _p_value(rows, name, "single_scale", "psnr"),
            _p_value(rows, name, "single_scale", "ssim"),
            format_duration(train_hours[name] * 3600) if name in train_hours else "–",
            f"{params[name] / 1e6:.2f}M" if name in params else "–",
        ]
        if paper:
            cells += [
                f"{paper.psnr:.2f} ± {paper.psnr_std:.2f}",
                f"{paper.ssim:.4f} ± {paper.ssim_std:.4f}",
                f"{paper.train_hours:g} h",
                f"{paper.params_millions:g}M",
            ]
        else:
            cells += ["–"] * 4
        body.append(cells)
    header = [
        "method",
        "PSNR (over networks)",
        "SSIM (over networks)",
        "PSNR (over maps)",
        "p (Holm) PSNR vs single-scale",
        "p (Holm) SSIM vs single-scale",
        "train time",
        "params",
        "paper PSNR",
        "paper SSIM",
        "paper train",
        "paper params",
    ]
    parts = [
        "# Table 1: multi-scale super-resolution strategies (λ = 0)",
        "",
        f"Ours: {folds_run} fold(s) × seeds {list(seeds)}, one network per fold and seed. "
        "'Over networks': mean ± SD of each network's mean over its maps (the independent "
        "units); 'over maps': mean ± SD over every map (patient, slice, metabolite, n), which "
        "shows the spread of the maps, not the uncertainty of the mean. Inside the quality "
        "mask, data range = ground-truth max − min inside the mask; train time summed over "
        "the networks (training epochs only, this machine). p: two-sided Welch t-test over "
        "networks (unit: the training seed) against Single-scale, Holm-adjusted in brackets "
        "over the comparisons of the tests section (none with one network per row: maps of "
        f"one network are not independent). Paper: {PAPER_CITATION} (5 folds, 15 patients, "
        "GPU hours, whole field of view).",
        "",
        markdown_table(header, body),
        "",
    ]
    if "full" in names and "filter_scaling_met" in names:
        parts += [
            "The full model (trained with the adversarial term, evaluated at λ = 0) against "
            "Filter Scaling with Met (trained without it, as many steps): p PSNR "
            f"{_p_value(rows, 'full', 'filter_scaling_met', 'psnr')}, p SSIM "
            f"{_p_value(rows, 'full', 'filter_scaling_met', 'ssim')} (Welch over networks, "
            "Holm in brackets).",
            "",
        ]
    parts.append(seed_tests_markdown(rows))
    parts += ["## Ordering, ours vs the paper", ""]
    paper_psnr = {k: v.psnr for k, v in PAPER_TABLE1.items()}
    paper_ssim = {k: v.ssim for k, v in PAPER_TABLE1.items()}
    if sum(1 for n in mean_psnr if n in paper_psnr) >= 2:
        parts.append(_order_sentence("PSNR", mean_psnr, paper_psnr))
        parts.append(_order_sentence("SSIM", mean_ssim, paper_ssim))
    else:
        parts.append("- fewer than two Table 1 methods were run; no ordering to compare.")
    return "\n".join(parts) + "\n"
