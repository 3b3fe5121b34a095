"""Training runs of a reproduction, cached by configuration, and the record of what ran.

A run lives in ``RUNS/<variant>[-n<n>]-fold<k>-<hash>``, ``hash`` being
:func:`mrsisr.train.config_io.config_hash` of its configuration (everything that changes the
numbers, not threads or progress bars). A finished run (as many epochs in ``metrics.csv`` as
the configuration asks for) is reused; an interrupted one is resumed; so ``reproduce fig2``
reuses Table 1's runs, and a second invocation trains nothing.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mrsisr.errors import UserError
from mrsisr.evaluation.report import machine_info, write_json
from mrsisr.machine import source_state
from mrsisr.nn.config import Variant
from mrsisr.provenance import write_result_record
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import config_hash, to_toml
from mrsisr.untrusted import read_text

__all__ = [
    "ProtocolRecord",
    "TrainedRun",
    "ensure_run",
    "format_duration",
    "protocol_markdown",
    "run_name",
]

log = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``3.20 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


@dataclass(frozen=True)
class TrainedRun:
    """A finished training run."""

    folder: Path
    model: Path
    """Its best model file (lowest validation loss)."""
    fold: int
    variant: str
    train_seconds: float
    """Sum of the epochs' training time (validation excluded), from ``metrics.csv``."""
    epochs: int
    steps: int
    reused: bool
    config_hash: str


def run_name(config: TrainConfig, fold: int) -> str:
    """``<variant>[-n<n>]-fold<k>-<config hash>``."""

    single = f"-n{config.data.n_choices[0]}" if config.variant == Variant.single_scale else ""
    return f"{config.variant}{single}-fold{fold}-{config_hash(config)}"


def _history(folder: Path) -> list[dict[str, str]]:
    """The rows of a run's ``metrics.csv``, with the numbers a reproduction sums checked."""
    path = folder / "metrics.csv"
    if not path.is_file():
        return []
    try:
        rows = list(csv.DictReader(io.StringIO(read_text(path, "a run's metrics"), newline="")))
    except csv.Error as err:
        raise UserError(f"{path}: not a readable CSV file ({err})") from None
    for line, row in enumerate(rows, start=2):
        for key, default in (("epoch_s", "0"), ("step", None)):
            value = row.get(key) or default
            try:
                ok = value is not None and 0 <= float(value) < math.inf
            except ValueError:
                ok = False
            if not ok:
                raise UserError(
                    f"{path}: line {line}: '{key}' must be a number >= 0, got {row.get(key)!r}"
                )
    return rows


def ensure_run(config: TrainConfig, data: Path, fold: int, runs: Path) -> TrainedRun:
    """Train (or reuse, or resume) the run of ``config`` on ``fold`` of the cohort ``data``.

    Args:
        config: the complete training configuration.
        data: the cohort folder.
        fold: cross-validation fold, ``0 <= fold < config.data.folds``.
        runs: the folder that holds the runs.

    Returns:
        The finished run.
    """
    from mrsisr.train.run import plan_run, train

    folder = runs / run_name(config, fold)
    history = _history(folder)
    reused = len(history) >= config.epochs and (folder / "best.safetensors").is_file()
    if reused:
        log.info("reusing %s", folder)
    else:
        resume = (folder / "run.json").is_file()
        log.info("%s %s", "resuming" if resume else "training", folder)
        train(plan_run(config, data, fold, folder, resume=resume))
        history = _history(folder)
    return TrainedRun(
        folder=folder,
        model=folder / "best.safetensors",
        fold=fold,
        variant=config.variant,
        train_seconds=sum(float(row.get("epoch_s") or 0.0) for row in history),
        epochs=len(history),
        steps=int(float(history[-1]["step"])) if history else 0,
        reused=reused,
        config_hash=config_hash(config),
    )


@dataclass
class ProtocolRecord:
    """What a reproduction ran, on what, for how long (``protocol.json``)."""

    experiment: str
    options: dict[str, Any]
    command: list[str] = field(default_factory=lambda: ["mrsisr", *sys.argv[1:]])
    started: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    runs: list[dict[str, Any]] = field(default_factory=list)
    configs: dict[str, str] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=source_state)
    """The git commit the command ran from and whether the tree was clean, at its start."""
    _start: float = field(default_factory=time.perf_counter, repr=False)
    _folders: list[Path] = field(default_factory=list, repr=False)
    _models: list[Path] = field(default_factory=list, repr=False)

    def add_run(self, run: TrainedRun, config: TrainConfig) -> None:
        """Record a run and its configuration (TOML, by hash).

        The configuration text is the run's own ``config.toml`` (what it was trained with),
        so every record of one run holds the same text whatever code version wrote it.
        """

        self.runs.append(
            {
                "folder": run.folder.name,
                "variant": run.variant,
                "fold": run.fold,
                "seed": config.seed,
                "threads": config.threads,
                "config_hash": run.config_hash,
                "epochs": run.epochs,
                "steps": run.steps,
                "train_seconds": round(run.train_seconds, 1),
                "reused": run.reused,
            }
        )
        own = run.folder / "config.toml"
        text = own.read_text(encoding="utf-8") if own.is_file() else to_toml(config)
        self.configs.setdefault(run.config_hash, text)
        if run.folder not in self._folders:
            self._folders.append(run.folder)
            self._models.append(run.model)

    def keep_training_logs(self, folder: Path) -> list[Path]:
        """Copy each recorded run's ``metrics.csv`` to ``folder/<run>.csv`` (the result's log).

        Returns:
            The files written (runs without a ``metrics.csv`` are skipped with a warning).
        """

        written: list[Path] = []
        if self._folders:
            folder.mkdir(parents=True, exist_ok=True)
        for run in self._folders:
            source = run / "metrics.csv"
            if not source.is_file():
                log.warning("%s has no metrics.csv", run)
                continue
            written.append(Path(shutil.copyfile(source, folder / f"{run.name}.csv")))
        return written

    def finish(self) -> dict[str, Any]:
        """The JSON document, with the machine and the wall time so far."""

        return {
            "experiment": self.experiment,
            "command": self.command,
            "options": self.options,
            "started": self.started,
            "wall_seconds": round(time.perf_counter() - self._start, 1),
            "code": self.code,
            "machine": machine_info(),
            "runs": self.runs,
            "configs": self.configs,
        }

    def write(self, folder: Path) -> Path:
        """Write ``folder/protocol.json`` and ``folder/record.json``; copy the runs' training
        logs to ``folder/training``."""
        self.keep_training_logs(folder / "training")
        given = [Path(m) for m in self.options.get("models", [])]
        write_result_record(
            folder,
            f"mrsisr reproduce {self.experiment}",
            models=[*given, *(m for m in self._models if m.is_file())],
            data=self.options.get("data"),
            seeds={
                "training": sorted({r["seed"] for r in self.runs}),
                "folds_run": self.options.get("folds_run", []),
                "other": "every run's configuration (split seed, data seeds) is in protocol.json",
            },
            command=self.command,
            code=self.code,
        )
        return write_json(folder / "protocol.json", self.finish())

    def markdown(self) -> str:
        """The protocol as a markdown section."""
        return protocol_markdown(self.finish())


def protocol_markdown(doc: dict[str, Any]) -> str:
    """A ``protocol.json`` document as a markdown section."""
    machine = doc["machine"]
    runs = doc.get("runs", [])
    code = doc.get("code") or {}
    trained = sum(r["train_seconds"] for r in runs)
    lines = [
        "## Protocol",
        "",
        f"- command: `{' '.join(doc['command'])}`",
        f"- code: commit {(code.get('commit') or 'unknown')[:12]}"
        f"{'' if code.get('clean') is not False else ' (tree not clean)'}",
        f"- options: `{doc['options']}`",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} "
        f"torch threads, GPU {machine['gpu'] or 'none'}; Python {machine['python']}, "
        f"torch {machine['torch']}, mrsisr {machine['mrsisr']}",
        f"- wall time of this command: {format_duration(doc['wall_seconds'])}; training time "
        f"of its {len(runs)} runs (summed, including reused runs): "
        f"{format_duration(trained)}",
        f"- runs: {sum(not r['reused'] for r in runs)} trained now, "
        f"{sum(r['reused'] for r in runs)} reused; configurations in `protocol.json`",
    ]
    return "\n".join(lines) + "\n"
