"""Writing an evaluation to a folder: samples CSV, markdown summary, JSON record, plots.

Also :func:`machine_info`, the description of the computer every output records.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mrsisr.evaluation.plots import plot_metric_by_n
from mrsisr.machine import machine_info

__all__ = ["REPORT_FILES", "machine_info", "write_json", "write_report"]

log = logging.getLogger(__name__)

REPORT_FILES = ("samples.csv", "summary.md", "evaluation.json")
"""The files :func:`write_report` writes (plus ``<metric>_by_n.png``)."""


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, document: Mapping[str, Any]) -> Path:
    """Write a JSON document (non-finite floats as strings, paths as strings)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(document), indent=2) + "\n", encoding="utf-8")
    return path


def write_report(
    out: str | Path,
    rows: Sequence[Mapping[str, Any]],
    metric_notes: Mapping[str, str],
    record: Mapping[str, Any],
    reference: str | None = None,
    title: str = "Evaluation",
) -> list[Path]:
    """Write ``samples.csv``, ``summary.md``, ``evaluation.json`` and per-n plots to ``out``.

    Args:
        out: the folder (created).
        rows: result rows of :func:`mrsisr.evaluation.evaluate.evaluate`.
        metric_notes: metric definitions (:meth:`MetricSettings.describe`).
        record: what was run (data, patients, models, command, machine, time), as JSON.
        reference: the entry of the Wilcoxon tests; default the first.
        title: heading of the summary.

    Returns:
        The files written.
    """
    from mrsisr.evaluation.tables import entries, margins, summary_markdown, write_samples_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [write_samples_csv(out / "samples.csv", rows)]
    summary = summary_markdown(rows, metric_notes, reference, title)
    (out / "summary.md").write_text(summary, encoding="utf-8")
    written.append(out / "summary.md")
    document = {**record, "metrics": metric_notes}
    names = entries(rows)
    if "zero_fill" in names:  # the margins of summary.md, machine-readable
        document["psnr_margin_over_zero_fill"] = {
            name: margins(rows, name) for name in names if name != "zero_fill"
        }
    written.append(write_json(out / "evaluation.json", document))
    for metric in ("psnr", "ssim", "lpips"):
        if any(math.isfinite(float(r[metric])) for r in rows):
            path = out / f"{metric}_by_n.png"
            written.append(plot_metric_by_n(rows, metric, path, title=f"{title}: {metric}"))
    log.info("wrote %s", ", ".join(p.name for p in written))
    return written
