"""What a run reports: metrics CSV, TensorBoard events (optional) and a loss-curve figure.

The metrics history lives in the training checkpoint; the CSV is rewritten from it after
every epoch (atomically), so after a resume it matches the checkpoint exactly.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mrsisr.atomic import atomic_write

__all__ = ["TensorBoard", "plot_history", "write_csv"]

log = logging.getLogger(__name__)


def write_csv(path: Path, history: Sequence[dict[str, Any]]) -> None:
    """Write one row per epoch; columns are the union of keys, in first-seen order."""
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue(), encoding="utf-8"))


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


class TensorBoard:
    """Scalars to TensorBoard when the ``tensorboard`` package is installed (else a no-op).

    Args:
        folder: the event folder.
        enabled: ``False`` disables it regardless of the installation.
    """

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self._writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.debug("tensorboard is not installed; metrics go to the CSV file only")
            return
        self._writer = SummaryWriter(log_dir=str(folder))

    def log(self, row: dict[str, Any], step: int) -> None:
        """Add every numeric value of ``row`` at global ``step``."""
        if self._writer is None:
            return
        for key, value in row.items():
            if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                self._writer.add_scalar(key.replace("_", "/", 1), value, step)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self._writer is not None:
            self._writer.close()


def plot_history(path: Path, history: Sequence[dict[str, Any]]) -> None:
    """Save a PNG of the training and validation losses (and the critic's, if any)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    panels = [("loss", ["train_loss", "val_loss"]), ("quality", ["val_psnr"])]
    if any("train_wdist" in row for row in history):
        panels.append(("critic", ["train_wdist", "train_gp"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            values = [row.get(key) for row in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
