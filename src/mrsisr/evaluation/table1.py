"""The markdown of the reproduced Table 1, side by side with the paper's numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mrsisr.evaluation.paper import PAPER_CITATION, PAPER_TABLE1
from mrsisr.evaluation.runs import format_duration
from mrsisr.evaluation.tables import (
    entry_of,
    format_mean_std,
    format_p,
    markdown_table,
    paired_scores,
)

__all__ = ["ordering", "table1_markdown"]


def _values(rows: Sequence[Mapping[str, Any]], name: str, metric: str) -> np.ndarray:
    return np.array([float(r[metric]) for r in rows if entry_of(r) == name], dtype=np.float64)


def ordering(scores: Mapping[str, float]) -> list[str]:
    """Names from the best (highest) score to the worst."""
    return sorted(scores, key=lambda k: -scores[k])


def _p_value(rows: Sequence[Mapping[str, Any]], name: str, metric: str) -> str:
    from mrsisr.metrics import paired_wilcoxon

    if name == "single_scale" or "single_scale" not in {entry_of(r) for r in rows}:
        return "–"
    pair = paired_scores(rows, metric, [name, "single_scale"])
    p = paired_wilcoxon(pair[name], pair["single_scale"]).p_value
    return format_p(p)


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
) -> str:
    """Table 1 with our PSNR / SSIM (mean ± std over maps of every fold and n), p-values
    against single-scale, training time and parameters, next to the paper's.

    Args:
        rows: evaluation rows of every fold (method names are variants, plus baselines).
        params: trainable parameters per variant (the nine networks summed for single-scale).
        train_hours: training time per variant, summed over the folds run.
        folds_run: number of folds evaluated.
    """
    names = list(dict.fromkeys(entry_of(r) for r in rows))
    body = []
    mean_psnr, mean_ssim = {}, {}
    for name in names:
        psnr, ssim = _values(rows, name, "psnr"), _values(rows, name, "ssim")
        mean_psnr[name] = float(np.nanmean(np.where(np.isfinite(psnr), psnr, np.nan)))
        mean_ssim[name] = float(np.nanmean(ssim))
        paper = PAPER_TABLE1.get(name)
        cells = [
            paper.label if paper else name,
            format_mean_std(psnr, "psnr"),
            format_mean_std(ssim, "ssim"),
            _p_value(rows, name, "psnr"),
            _p_value(rows, name, "ssim"),
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
        "PSNR",
        "SSIM",
        "p PSNR vs single-scale",
        "p SSIM vs single-scale",
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
        f"Ours: mean ± std over every map (patient, slice, metabolite, n) of the {folds_run} "
        "fold(s) run, inside the quality mask, data range = ground-truth max − min inside the "
        "mask; train time summed over those folds (training epochs only, this machine). "
        "p: two-sided paired Wilcoxon signed-rank test against Single-scale. "
        f"Paper: {PAPER_CITATION} (5 folds, 15 patients, GPU hours, whole field of view).",
        "",
        markdown_table(header, body),
        "",
        "## Ordering, ours vs the paper",
        "",
    ]
    paper_psnr = {k: v.psnr for k, v in PAPER_TABLE1.items()}
    paper_ssim = {k: v.ssim for k, v in PAPER_TABLE1.items()}
    if sum(1 for n in mean_psnr if n in paper_psnr) >= 2:
        parts.append(_order_sentence("PSNR", mean_psnr, paper_psnr))
        parts.append(_order_sentence("SSIM", mean_ssim, paper_ssim))
    else:
        parts.append("- fewer than two Table 1 methods were run; no ordering to compare.")
    return "\n".join(parts) + "\n"
