"""Figures of evaluation results (PNG); matplotlib is imported inside each function.

* :func:`plot_metric_by_n`: a metric against the acquisition size, one line per entry.
* :func:`plot_matrix`: a matrix of scores with the best cell of each row marked (Fig. 2).
* :func:`plot_lambda_curves`: metrics against λ with ± std bands (Fig. 4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr.metrics.registry import METRICS, metric_spec

__all__ = ["plot_lambda_curves", "plot_matrix", "plot_metric_by_n"]


def _label(metric: str) -> str:
    spec = METRICS.get(metric)
    return spec.label if spec is not None else metric


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Any, path: str | Path, dpi: int = 150) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_metric_by_n(
    rows: Sequence[Mapping[str, Any]], metric: str, path: str | Path, title: str = ""
) -> Path:
    """Mean of ``metric`` over maps against ``n``, one line per entry.

    Args:
        rows: result rows (:func:`mrsisr.evaluation.evaluate.evaluate`).
        metric: a metric column, e.g. ``"psnr"``.
        path: output PNG.
        title: optional axes title.
    """
    from mrsisr.evaluation.tables import entries, entry_of

    ns = sorted({int(r["n"]) for r in rows})
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    for name in entries(rows):
        means = []
        for n in ns:
            values = [float(r[metric]) for r in rows if entry_of(r) == name and int(r["n"]) == n]
            finite = [v for v in values if math.isfinite(v)]
            means.append(np.mean(finite) if finite else np.nan)
        ax.plot(ns, means, marker="o", markersize=3, label=name)
    ax.set_xlabel("acquisition size n")
    ax.set_ylabel(_label(metric))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_matrix(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
    value_format: str = "{:.4f}",
) -> Path:
    """A heat map of ``matrix[row, col]`` with each row's maximum outlined.

    Args:
        matrix: ``(R, C)`` scores (higher is better).
        row_labels: ``R`` labels (e.g. the input's n).
        col_labels: ``C`` labels (e.g. the condition's n).
        path: output PNG.
        xlabel: label of the columns.
        ylabel: label of the rows.
        title: optional title.
        value_format: format of the numbers written in the cells.
    """
    from matplotlib.patches import Rectangle

    matrix = np.asarray(matrix, dtype=np.float64)
    rows, cols = matrix.shape
    fig = _figure(1.0 + 0.62 * cols, 0.9 + 0.42 * rows)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.8)
    for r in range(rows):
        finite = np.isfinite(matrix[r])
        if finite.any():
            best = int(np.nanargmax(np.where(finite, matrix[r], -np.inf)))
            ax.add_patch(Rectangle((best - 0.5, r - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
        for c in range(cols):
            if np.isfinite(matrix[r, c]):
                ax.text(
                    c,
                    r,
                    value_format.format(matrix[r, c]),
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white",
                )
    ax.set_xticks(range(cols), [str(c) for c in col_labels], fontsize=7)
    ax.set_yticks(range(rows), [str(r) for r in row_labels], fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_lambda_curves(
    lams: Sequence[float],
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    title: str = "",
) -> Path:
    """One panel per metric: mean ± std against λ, the best λ marked.

    Args:
        lams: the λ values (x axis).
        curves: metric -> (means, stds), one value per λ; the best λ is the registry's
            (:attr:`~mrsisr.metrics.registry.MetricSpec.higher_is_better`).
        path: output PNG.
        title: optional title.
    """
    names = list(curves)
    fig = _figure(3.2 * max(len(names), 1), 3.0)
    axes = fig.subplots(1, max(len(names), 1), squeeze=False)[0]
    x = np.asarray(lams, dtype=np.float64)
    for ax, name in zip(axes, names):
        mean, std = (np.asarray(v, dtype=np.float64) for v in curves[name])
        ax.plot(x, mean, marker="o", markersize=3)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
        if np.isfinite(mean).any():
            best = metric_spec(name).best(mean)
            ax.axvline(x[best], color="red", lw=0.8, ls="--")
        ax.set_xlabel("λ")
        ax.set_ylabel(_label(name))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)
