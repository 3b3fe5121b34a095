"""Self-contained HTML reports of ``mrsisr predict`` outputs (``mrsisr report``).

:mod:`mrsisr.report.collect` reads an output folder, :mod:`mrsisr.report.html` renders the
page; :func:`write_report` writes it atomically.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from mrsisr.errors import UserError, argument
from mrsisr.report.html import MapSeries, ReportData, render_html

__all__ = ["MapSeries", "ReportData", "render_html", "write_report"]


def write_report(data: ReportData, out: Path, overwrite: bool = False) -> Path:
    """Render ``data`` and write it to ``out`` (``.html``) in one rename; returns ``out``.

    Raises:
        UserError: ``out`` does not end in ``.html``, exists (without ``overwrite``) or is a
            folder.
    """
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"{argument('out')} {out}: must end in .html")
    if out.is_dir():
        raise UserError(f"{argument('out')} {out}: is a folder; give an .html file name")
    if out.exists() and not overwrite:
        raise UserError(f"{out}: exists; pass {argument('overwrite')} to replace it")
    page = render_html(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        temp.write_text(page, encoding="utf-8")
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return out
