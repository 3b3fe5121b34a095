"""Result tables: the per-map CSV, mean ± std summaries and paired Wilcoxon tests, as markdown.

An *entry* is a method at one λ (``full@0.03``) or a λ-free method (``zero_fill``). Two
entries are compared on the maps both scored, paired by (patient, slice, metabolite, n); the
Wilcoxon signed-rank test of :mod:`mrsisr.metrics.stats` then pairs patients (each one's mean
over those maps), since one patient's maps are not independent. Means and standard deviations
are over maps; a non-finite score (the +inf PSNR of an exact prediction, a NaN from an empty
mask) is left out and the number left out is reported.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr.errors import argument
from mrsisr.evaluation.evaluate import METRICS, TRUTH_METRICS, TRUTH_SUFFIX
from mrsisr.metrics.registry import metric_spec

__all__ = [
    "KEY_COLUMNS",
    "entries",
    "entry_of",
    "format_mean_std",
    "margin_table",
    "margins",
    "markdown_table",
    "paired_scores",
    "patient_means",
    "read_samples_csv",
    "summary_markdown",
    "wilcoxon_rows",
    "write_samples_csv",
]

KEY_COLUMNS: tuple[str, ...] = ("patient", "slice", "metabolite", "n")
"""The columns that identify one map; samples are paired on them."""

_INT_COLUMNS = {"slice", "n", "fold", "seed", "cond_n"}


def _digits(metric: str) -> int:
    """Decimals of ``metric`` in a table (the registry's; 4 for a column it does not hold)."""
    try:
        return metric_spec(metric).digits
    except ValueError:
        return 4


def entry_name(method: str, lam: float | None) -> str:
    """The name of an entry: ``method@lam`` for a λ-conditioned method, else ``method``."""
    return method if lam is None else f"{method}@{float(lam):g}"


def entry_of(row: Mapping[str, Any]) -> str:
    """The entry a row belongs to: ``method`` or ``method@lam``."""
    lam = row.get("lam")
    if lam is None or lam == "" or (isinstance(lam, float) and math.isnan(lam)):
        return entry_name(str(row["method"]), None)
    return entry_name(str(row["method"]), float(lam))


def entries(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The entries of ``rows`` in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.setdefault(entry_of(row), None)
    return list(seen)


def write_samples_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write one line per scored map; columns are the union of the rows' keys."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return value


def read_samples_csv(path: str | Path) -> list[dict[str, Any]]:
    """Read a file of :func:`write_samples_csv` back (numbers as numbers, empty λ as None);
    a ``.gz`` file (as results/ keeps them) is decompressed on the way."""
    rows = []
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                if key in ("method", "patient", "metabolite"):
                    row[key] = text
                elif text == "":
                    row[key] = None
                elif key in _INT_COLUMNS:
                    row[key] = int(text)
                else:
                    try:
                        row[key] = float(text)
                    except ValueError:
                        row[key] = text
            rows.append(row)
    return rows


def _aligned(
    rows: Iterable[Mapping[str, Any]], metric: str, names: Sequence[str] | None
) -> tuple[list[tuple], dict[str, np.ndarray]]:
    """The maps every listed entry scored (their keys, sorted) and each entry's scores on them."""
    by_entry: dict[str, dict[tuple, float]] = {}
    for row in rows:
        key = tuple(row[k] for k in KEY_COLUMNS)
        by_entry.setdefault(entry_of(row), {})[key] = float(row[metric])
    names = list(by_entry) if names is None else list(names)
    missing = [n for n in names if n not in by_entry]
    if missing:
        raise ValueError(f"names: no rows for {', '.join(missing)}; have {', '.join(by_entry)}")
    common = set.intersection(*(set(by_entry[n]) for n in names)) if names else set()
    order = sorted(common, key=lambda k: tuple(str(v) for v in k))
    scores = {n: np.array([by_entry[n][k] for k in order], dtype=np.float64) for n in names}
    return order, scores


def paired_scores(
    rows: Iterable[Mapping[str, Any]], metric: str, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Each entry's scores on the maps every listed entry scored, in one common order.

    Args:
        rows: result rows.
        metric: a column of :data:`METRICS`.
        names: entries to align; ``None``: all.

    Returns:
        Entry -> ``(S,)`` float64, element ``s`` being the same map for every entry.
    """
    return _aligned(rows, metric, names)[1]


def patient_means(
    rows: Iterable[Mapping[str, Any]], metric: str, names: Sequence[str]
) -> tuple[dict[str, np.ndarray], int]:
    """Each entry's mean score per patient, over the maps every listed entry scored finitely.

    The slices, metabolites and n of one patient are not independent samples; its mean is
    one observation.

    Returns:
        Entry -> ``(P,)`` float64 in one patient order, and the number of maps averaged.
    """
    keys, scores = _aligned(rows, metric, names)
    column = KEY_COLUMNS.index("patient")
    patient = np.array([str(k[column]) for k in keys])
    finite = np.logical_and.reduce([np.isfinite(scores[n]) for n in names])
    order = sorted(set(patient[finite]))
    means = {n: np.array([scores[n][finite & (patient == p)].mean() for p in order]) for n in names}
    return means, int(finite.sum())


def format_mean_std(values: np.ndarray, metric: str) -> str:
    """``mean ± std`` of the finite values, with the count of left-out ones if any."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "n/a"
    digits = _digits(metric)
    text = f"{finite.mean():.{digits}f} ± {finite.std():.{digits}f}"
    left_out = values.size - finite.size
    return text + (f" ({left_out} non-finite left out)" if left_out else "")


def markdown_table(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in body)
    return "\n".join(lines)


def format_p(p: float) -> str:
    """A p-value for a table: 3 decimals, scientific below 1e-3, a bound below float range."""
    if not math.isfinite(p):
        return "n/a"
    if p < 1e-300:  # scipy returns exactly 0 when the normal approximation underflows
        return "< 1e-300"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


def wilcoxon_rows(
    rows: Sequence[Mapping[str, Any]], metric: str, reference: str
) -> list[tuple[str, int, int, float, float]]:
    """Two-sided paired Wilcoxon test of every entry against ``reference``, over patients.

    Each patient contributes its mean over the maps both entries scored (:func:`patient_means`),
    so the test counts patients, not maps; with fewer than 6 patients no two-sided p-value
    can fall below 0.05.

    Returns:
        ``(entry, patients, maps, median over patients of the mean difference entry −
        reference, p-value)`` per other entry.
    """
    from mrsisr.metrics import paired_wilcoxon

    out = []
    for name in entries(rows):
        if name == reference:
            continue
        means, maps = patient_means(rows, metric, [name, reference])
        a, b = means[name], means[reference]
        if a.size == 0:
            out.append((name, 0, 0, math.nan, math.nan))
            continue
        p = paired_wilcoxon(a, b).p_value if a.size > 1 else math.nan
        out.append((name, int(a.size), maps, float(np.median(a - b)), p))
    return out


def margins(
    rows: Sequence[Mapping[str, Any]], entry: str, baseline: str = "zero_fill", metric: str = "psnr"
) -> dict[str, dict[int, float]]:
    """Mean paired difference ``entry - baseline`` per metabolite and n, and over all metabolites.

    Args:
        rows: result rows.
        entry: the entry to compare (e.g. ``full@0``).
        baseline: the entry it is compared with.
        metric: a column of :data:`METRICS`.

    Returns:
        ``{metabolite or "all": {n: mean difference}}`` over the maps both scored (finite
        scores only); metabolites in first-seen order, then ``"all"``.
    """
    out: dict[str, dict[int, float]] = {}
    groups = [*dict.fromkeys(str(r["metabolite"]) for r in rows), "all"]
    ns = sorted({int(r["n"]) for r in rows})
    for group in groups:
        for n in ns:
            subset = [
                r
                for r in rows
                if int(r["n"]) == n
                and group in ("all", str(r["metabolite"]))
                and entry_of(r) in (entry, baseline)
            ]
            if {entry_of(r) for r in subset} != {entry, baseline}:
                continue
            pair = paired_scores(subset, metric, [entry, baseline])
            diff = pair[entry] - pair[baseline]
            diff = diff[np.isfinite(diff)]
            if diff.size:
                out.setdefault(group, {})[n] = float(diff.mean())
    return out


def margin_table(
    rows: Sequence[Mapping[str, Any]], entry: str, baseline: str = "zero_fill", metric: str = "psnr"
) -> str:
    """:func:`margins` as a markdown table (metabolites down, n across, the minimum last)."""
    table = margins(rows, entry, baseline, metric)
    ns = sorted({n for values in table.values() for n in values})
    digits = _digits(metric)
    body = []
    for group, values in table.items():
        cells = [f"{values[n]:+.{digits}f}" if n in values else "n/a" for n in ns]
        worst = min(values.values()) if values else math.nan
        body.append([f"**{group}**" if group == "all" else group, *cells, f"{worst:+.{digits}f}"])
    return markdown_table(["metabolite", *(f"n={n}" for n in ns), "min"], body)


def _by_n_table(rows: Sequence[Mapping[str, Any]], metric: str) -> str:
    ns = sorted({int(r["n"]) for r in rows})
    body = []
    for name in entries(rows):
        cells = [name]
        for n in ns:
            values = [r[metric] for r in rows if entry_of(r) == name and int(r["n"]) == n]
            finite = np.array([v for v in values if v is not None and math.isfinite(v)])
            cells.append(f"{finite.mean():.{_digits(metric)}f}" if finite.size else "n/a")
        body.append(cells)
    return markdown_table(["entry", *(f"n={n}" for n in ns)], body)


def _by_metabolite_table(rows: Sequence[Mapping[str, Any]], metric: str) -> str:
    mets = list(dict.fromkeys(str(r["metabolite"]) for r in rows))
    body = []
    for name in entries(rows):
        cells = [name]
        for met in mets:
            values = [r[metric] for r in rows if entry_of(r) == name and r["metabolite"] == met]
            finite = np.array([v for v in values if v is not None and math.isfinite(v)])
            cells.append(f"{finite.mean():.{_digits(metric)}f}" if finite.size else "n/a")
        body.append(cells)
    return markdown_table(["entry", *mets], body)


def summary_markdown(
    rows: Sequence[Mapping[str, Any]],
    metric_notes: Mapping[str, str],
    reference: str | None = None,
    title: str = "Evaluation",
) -> str:
    """The markdown report of an evaluation: how it was measured, means, per-n means, p-values.

    Args:
        rows: result rows of :func:`mrsisr.evaluation.evaluate.evaluate`.
        metric_notes: metric definitions (:meth:`MetricSettings.describe`).
        reference: entry the Wilcoxon tests compare against; default the first entry.
        title: heading.
    """
    names = entries(rows)
    if not names:
        raise ValueError("rows: nothing to summarise")
    reference = reference or names[0]
    maps = len({tuple(r[k] for k in KEY_COLUMNS) for r in rows})
    patients = sorted({str(r["patient"]) for r in rows})
    parts = [f"# {title}", ""]
    parts.append(f"{maps} maps (patient, slice, metabolite, n) of patients {', '.join(patients)}.")
    parts += ["", "## How it was measured", ""]
    parts += [f"- **{k}**: {v}" for k, v in metric_notes.items()]
    parts += ["", "## Mean ± std over maps", ""]
    body = []
    for name in names:
        mine = [r for r in rows if entry_of(r) == name]
        cells = [name, str(len(mine))]
        cells += [format_mean_std(np.array([r[m] for r in mine], dtype=float), m) for m in METRICS]
        body.append(cells)
    parts.append(markdown_table(["entry", "maps", *(m.upper() for m in METRICS)], body))
    if f"psnr{TRUTH_SUFFIX}" in rows[0]:
        parts += ["", "## Distance to the true maps beside the distance to the measured ones", ""]
        parts.append(
            f"`{argument('truth')} noiseless`: each output scored against the cohort's "
            "noiseless map (the true concentrations before quantification noise) as well as "
            "against the measured map, inside the same mask. Mean ± std over maps."
        )
        parts.append("")
        body = []
        for name in names:
            mine = [r for r in rows if entry_of(r) == name]
            cells = [name]
            for metric in TRUTH_METRICS:
                for column in (metric, f"{metric}{TRUTH_SUFFIX}"):
                    values = np.array([r[column] for r in mine], dtype=float)
                    cells.append(format_mean_std(values, metric))
            body.append(cells)
        header = ["entry"]
        for metric in TRUTH_METRICS:
            header += [f"{metric.upper()} vs measured", f"{metric.upper()} vs true"]
        parts.append(markdown_table(header, body))
    for metric in ("psnr", "ssim", "lpips"):
        if all(not math.isfinite(float(r[metric])) for r in rows):
            continue
        parts += ["", f"## {metric.upper()} by acquisition size n (mean over maps)", ""]
        parts.append(_by_n_table(rows, metric))
        parts += ["", f"## {metric.upper()} by metabolite (mean over maps)", ""]
        parts.append(_by_metabolite_table(rows, metric))
    if "zero_fill" in names:
        for name in names:
            if name == "zero_fill":
                continue
            parts += [
                "",
                f"## PSNR margin of `{name}` over zero-filling (dB), by metabolite and n",
                "",
            ]
            parts.append(
                "Mean over maps of the paired difference; **all**: every metabolite; min: the "
                "smallest margin of the row."
            )
            parts += ["", margin_table(rows, name)]
    if len(names) > 1:
        parts += ["", f"## Paired Wilcoxon signed-rank tests against `{reference}`", ""]
        parts.append(
            "Two-sided, paired over patients: each patient's mean over its maps is one "
            "observation (its slices, metabolites and n are not independent samples). Pratt's "
            "treatment of zero differences; with fewer than 6 patients no p-value can fall "
            "below 0.05. Holm: adjusted for the tests of the same metric (one per entry)."
        )
        from mrsisr.metrics.stats import holm

        for metric in ("psnr", "ssim", "ms_ssim", "lpips"):
            tests = wilcoxon_rows(rows, metric, reference)
            if all(t[1] == 0 for t in tests):
                continue
            adjusted = holm([t[4] for t in tests])
            lines = [
                (t[0], t[1], t[2], f"{t[3]:+.4g}", format_p(t[4]), format_p(h))
                for t, h in zip(tests, adjusted)
            ]
            parts += ["", f"**{metric.upper()}**", ""]
            header = ["entry", "patients", "maps", "median diff. (patient means)", "p-value"]
            parts.append(markdown_table([*header, "Holm p"], lines))
    return "\n".join(parts) + "\n"
