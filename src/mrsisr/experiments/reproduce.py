"""Reproduce Table 1 and Fig. 2 of Dong et al. (MICCAI 2022); Figs. 3-4: :mod:`.sharpness`.

Each experiment trains what it needs through :func:`mrsisr.experiments.runs.ensure_run` (so
runs are shared and reused), evaluates every fold's held-out patients with
:func:`mrsisr.evaluation.evaluate.evaluate`, and writes tables, figures and ``protocol.json``.
The paper's protocol (5 folds, 100 epochs) is the default; :class:`Protocol` reduces it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrsisr.data.splits import fold_split
from mrsisr.errors import UserError, argument
from mrsisr.evaluation.plots import plot_matrix
from mrsisr.evaluation.report import write_report
from mrsisr.experiments.runs import ProtocolRecord, TrainedRun, ensure_run
from mrsisr.metabolites import METABOLITES
from mrsisr.nn.config import Variant
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import load_config

__all__ = [
    "TABLE1_EXTRA",
    "TABLE1_VARIANTS",
    "Protocol",
    "experiment_dataset",
    "mean_matrix",
    "model_files",
    "reproduce_fig2",
    "reproduce_table1",
    "test_patients",
]

if TYPE_CHECKING:
    from mrsisr.data.dataset import MRSIDataset

log = logging.getLogger(__name__)

TABLE1_VARIANTS: tuple[Variant, ...] = tuple(v for v in Variant if v is not Variant.full)
"""The rows of the paper's Table 1, as variants."""


@dataclass(frozen=True)
class Protocol:
    """What to run: the cohort, the training recipe and how much of the cross-validation.

    Args:
        data: cohort folder.
        out: output folder of the experiment.
        runs: folder of the training runs (shared between experiments).
        config: base configuration (a TOML file or a shipped name); ``None``: the paper's
            (``paper_noadv`` for Table 1 and Fig. 2, ``paper`` for Figs. 3-4).
        overrides: ``key=value`` overrides of the configuration.
        epochs: epochs per run; ``None``: the configuration's (100 in the paper's).
        max_steps: optimisation steps per epoch; ``None``: whole epochs.
        folds: folds of the patient-wise split (5 in the paper).
        max_folds: run only the first folds; ``None``: all of them.
        variants: Table 1 rows to run; ``None``: all six and ``full``.
        seeds: training seeds; Table 1 trains every network once per seed.
        lpips: compute LPIPS where its weights are installed.
        batch_size: maps per evaluation batch.
    """

    data: Path
    out: Path
    runs: Path
    config: str | None = None
    overrides: tuple[str, ...] = ()
    epochs: int | None = None
    max_steps: int | None = None
    folds: int = 5
    max_folds: int | None = None
    variants: tuple[str, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    lpips: bool = True
    batch_size: int = 32
    extra: dict[str, Any] = field(default_factory=dict)

    def fold_ids(self) -> list[int]:
        """The folds to run (at least one)."""
        count = self.folds if self.max_folds is None else min(self.max_folds, self.folds)
        if count < 1:
            raise ValueError(f"max_folds must be >= 1, got {self.max_folds}")
        return list(range(count))

    def train_config(self, default: str, *overrides: str) -> TrainConfig:
        """The base configuration with the protocol's and the experiment's overrides."""

        extra = [f"data.folds={self.folds}"]
        if self.epochs is not None:
            extra.append(f"epochs={self.epochs}")
        if self.max_steps is not None:
            extra.append(f"steps_per_epoch={self.max_steps}")
        config = load_config(self.config or default, [*self.overrides, *extra, *overrides])
        config.progress = False
        return config

    def options(self, models: Sequence[Path] = ()) -> dict[str, Any]:
        """The options as JSON-ready values (for ``protocol.json``).

        With ``models`` (files used instead of training), no fold is run: each file is
        evaluated on the test patients it records, and ``folds_run`` is empty.
        """
        return {
            "data": str(self.data.resolve()),
            "runs": str(self.runs.resolve()),
            "config": self.config,
            "overrides": list(self.overrides),
            "epochs": self.epochs,
            "max_steps": self.max_steps,
            "folds": self.folds,
            "folds_run": [] if models else self.fold_ids(),
            "models": [str(m) for m in models],
            "variants": list(self.variants) if self.variants else None,
            "seeds": list(self.seeds),
            **self.extra,
        }


def test_patients(config: TrainConfig, data: Path, fold: int) -> list[str]:
    """The held-out patients of ``fold`` under the configuration's split."""
    from mrsisr.data.cohort import Cohort

    patients = Cohort.open(data).patients
    return list(fold_split(patients, config.data.folds, config.data.split_seed, fold).test)


def experiment_dataset(data: Path, patients: Sequence[str], n_values: Sequence[int]) -> MRSIDataset:
    """The evaluation set of an experiment's test patients in the cohort ``data``
    (:func:`mrsisr.evaluation.evaluate.evaluation_dataset`).

    Raises:
        UserError: what that refuses, e.g. test patients on several in-plane grids (a model
            trained on a merged cohort of two grids), as one line naming the data argument.
    """
    from mrsisr.evaluation.evaluate import evaluation_dataset

    try:
        return evaluation_dataset(data, patients, n_values)
    except ValueError as err:
        raise UserError(f"{argument('data')} {data}: {err}") from None


def model_files(models: Sequence[Path], data: Path) -> list[tuple[Path, list[str], list[int]]]:
    """``(model file, test patients, trained n values)`` of each file, from its metadata.

    Raises:
        UserError: a file that records no test patients (metadata ``split``), or whose test
            patients are not in the cohort ``data`` (it was trained on another cohort).
    """
    from mrsisr.checkpoint import read_info
    from mrsisr.data.cohort import Cohort

    cohort = set(Cohort.open(data).patients) if models else set()
    out = []
    for path in models:
        info = read_info(path)
        test = list((info.metadata.get("split") or {}).get("test") or [])
        if not test:
            raise UserError(
                f"{argument('models')} {path}: records no test patients (metadata 'split')"
            )
        missing = [p for p in test if p not in cohort]
        if missing:
            raise UserError(
                f"{argument('models')} {path}: its test patients {', '.join(missing[:5])}"
                f"{' …' if len(missing) > 5 else ''} are not in {argument('data')} {data}; give "
                "the cohort "
                "the model was trained on (its split names the patients it was tested on)"
            )
        out.append((Path(path), test, list(info.metadata.get("n_choices") or [])))
    return out


TABLE1_EXTRA: tuple[str, ...] = ("full",)
"""Rows beyond the paper's: the full model (trained with the adversarial term, λ ~ U[0, 0.1]),
evaluated at λ = 0, against Filter Scaling with Met trained without it for as many steps."""

_NO_ADVERSARIAL = ("adversarial.enabled=false", "data.lam_range=[0.0, 0.0]")
_ADVERSARIAL = ("adversarial.enabled=true", "data.lam_range=[0.0, 0.1]")


def table1_runs(
    protocol: Protocol, record: ProtocolRecord, fold: int
) -> tuple[dict[str, dict[int, list[TrainedRun]]], TrainConfig]:
    """Train (or reuse) every Table 1 network of one fold, once per seed.

    Every row trains without the adversarial term except ``full`` (:data:`TABLE1_EXTRA`),
    which trains with it for the same number of steps.

    Returns:
        ``({variant: {seed: runs}}, base configuration)``; ``runs`` holds the nine networks of
        ``single_scale`` and one network otherwise.
    """
    base = protocol.train_config("paper_noadv", *_NO_ADVERSARIAL)
    runs: dict[str, dict[int, list[TrainedRun]]] = {}
    for seed in protocol.seeds:
        for variant in protocol.variants or (*TABLE1_VARIANTS, *TABLE1_EXTRA):
            ns = base.data.n_choices if variant == Variant.single_scale else [None]
            terms = _ADVERSARIAL if variant in TABLE1_EXTRA else _NO_ADVERSARIAL
            for n in ns:
                extra = [f'variant="{variant}"', f"seed={seed}"]
                extra += [f"data.n_choices=[{n}]"] if n else []
                config = protocol.train_config("paper_noadv", *terms, *extra)
                run = ensure_run(config, protocol.data, fold, protocol.runs)
                record.add_run(run, config)
                runs.setdefault(variant, {}).setdefault(seed, []).append(run)
    return runs, base


def _params(run_list: Sequence[TrainedRun]) -> int:
    from mrsisr.checkpoint import load_model
    from mrsisr.nn.variants import count_parameters

    return sum(count_parameters(load_model(r.model)[0]) for r in run_list)


def reproduce_table1(protocol: Protocol) -> Path:
    """Table 1: PSNR / SSIM of the six multi-scale strategies over the folds, vs the paper.

    Returns:
        The markdown table written to ``OUT/table1.md`` (next to ``samples.csv``,
        ``summary.md``, ``protocol.json`` and per-n plots).
    """
    from mrsisr.evaluation.evaluate import MetricSettings, evaluate
    from mrsisr.evaluation.methods import BaselineMethod, Method, load_model_methods
    from mrsisr.experiments.table1 import table1_markdown

    record = ProtocolRecord("table1", protocol.options())
    rows: list[dict[str, Any]] = []
    all_runs: dict[str, list[TrainedRun]] = {}
    settings = None
    for fold in protocol.fold_ids():
        runs, base = table1_runs(protocol, record, fold)
        methods: list[Method] = []
        for variant, by_seed in runs.items():
            for seed, run_list in by_seed.items():
                all_runs.setdefault(variant, []).extend(run_list)
                (method,) = load_model_methods([r.model for r in run_list])
                method.name = variant
                method.lam_conditioned = False  # one evaluation, at λ = 0
                method.tags.update(fold=fold, seed=seed)
                methods.append(method)
        dataset = experiment_dataset(
            protocol.data, test_patients(base, protocol.data, fold), base.data.n_choices
        )
        settings = MetricSettings.for_grid(dataset.grid, lpips=protocol.lpips)
        methods.append(BaselineMethod(_zero_fill(), tags={"fold": fold}))
        rows += evaluate(dataset, methods, [0.0], settings, protocol.batch_size)
    networks = len(protocol.fold_ids()) * len(protocol.seeds)
    params = {v: _params(r[: len(r) // networks]) for v, r in all_runs.items()}
    train_h = {v: sum(r.train_seconds for r in rl) / 3600 for v, rl in all_runs.items()}
    reference = Variant.single_scale if Variant.single_scale in all_runs else None
    write_report(
        protocol.out,
        rows,
        settings.describe() if settings is not None else {},
        {"experiment": "table1", "code": record.code},
        reference,
        "Table 1: multi-scale strategies (λ = 0)",
    )
    text = table1_markdown(rows, params, train_h, len(protocol.fold_ids()), protocol.seeds)
    text += "\n" + record.markdown()
    path = protocol.out / "table1.md"
    path.write_text(text, encoding="utf-8")
    record.write(protocol.out)
    return path


def _zero_fill() -> Any:
    from mrsisr.evaluation.baselines import Baseline

    return Baseline.zero_fill


def mean_matrix(rows: Sequence[dict[str, Any]], row_key: str, col_key: str, metric: str) -> tuple:
    """``(matrix, row_ids, col_ids)``: the mean finite ``metric`` of each (row, column) pair."""
    row_ids = sorted({r[row_key] for r in rows}, key=str)
    col_ids = sorted({r[col_key] for r in rows}, key=str)
    if all(isinstance(v, (int, np.integer)) for v in row_ids):
        row_ids, col_ids = sorted(row_ids), sorted(col_ids)
    matrix = np.full((len(row_ids), len(col_ids)), np.nan)
    for i, a in enumerate(row_ids):
        for j, b in enumerate(col_ids):
            values = [float(r[metric]) for r in rows if r[row_key] == a and r[col_key] == b]
            finite = [v for v in values if np.isfinite(v)]
            matrix[i, j] = np.mean(finite) if finite else np.nan
    return matrix, row_ids, col_ids


def reproduce_fig2(
    protocol: Protocol, models: Sequence[Path] = (), sizes: Sequence[int] | None = None
) -> Path:
    """Fig. 2: SSIM when the condition (n; metabolite) given to the network matches the input.

    The swapped n reaches only the conditioning; data consistency keeps the input's true n
    (as in the authors' code), so a network that ignores n scores the same at every condition.

    Args:
        protocol: cohort, budget and folders; without ``models``, the Table 1
            ``filter_scaling_met`` runs of its folds and first seed are used (trained if
            absent).
        models: model files to study instead, each on the test patients it records.
        sizes: input sizes and n conditions; ``None``: the trained ones.

    Returns:
        ``OUT/fig2.md``, next to ``fig2a_resolution.png``, ``fig2b_metabolite.png``,
        ``samples_*.csv``, ``protocol.json`` and ``training/`` (the runs' ``metrics.csv``).
    """
    from mrsisr.checkpoint import load_model
    from mrsisr.evaluation.evaluate import MetricSettings, evaluate
    from mrsisr.evaluation.methods import ModelMethod
    from mrsisr.evaluation.tables import markdown_table, write_samples_csv

    record = ProtocolRecord("fig2", protocol.options(models))
    cases: list[tuple[Path, list[str], list[int], int | str]] = []
    if models:
        for path, patients, ns in model_files(models, protocol.data):
            cases.append((path, patients, ns, path.name))
    else:
        first_seed = protocol.seeds[:1]
        one = Protocol(
            **{**protocol.__dict__, "variants": ("filter_scaling_met",), "seeds": first_seed}
        )
        for fold_id in protocol.fold_ids():
            runs, base = table1_runs(one, record, fold_id)
            patients = test_patients(base, protocol.data, fold_id)
            first = runs["filter_scaling_met"][protocol.seeds[0]][0]
            cases.append((first.model, patients, base.data.n_choices, fold_id))
    rows_n: list[dict[str, Any]] = []
    rows_m: list[dict[str, Any]] = []
    for path, patients, ns, fold in cases:
        model, _ = load_model(path)
        ns = list(sizes or ns)
        dataset = experiment_dataset(protocol.data, patients, ns)
        settings = MetricSettings.for_grid(dataset.grid, lpips=False)
        by_n = [
            ModelMethod(
                f"cond_n={c}", {None: model}, n_condition=c, tags={"cond_n": c, "fold": fold}
            )
            for c in ns
        ]
        rows_n += evaluate(dataset, by_n, [0.0], settings, protocol.batch_size)
        by_m = [
            ModelMethod(
                f"cond_met={m.value}",
                {None: model},
                met_condition=METABOLITES.index(m),
                tags={"cond_met": m.value, "fold": fold},
            )
            for m in dataset.metabolites
        ]
        rows_m += evaluate(dataset, by_m, [0.0], settings, protocol.batch_size)
    out = protocol.out
    write_samples_csv(out / "samples_resolution.csv", rows_n)
    write_samples_csv(out / "samples_metabolite.csv", rows_m)
    parts = ["# Fig. 2: does the network use its conditions?", ""]
    for rows, key, col, label, png in (
        (rows_n, "n", "cond_n", "resolution n", "fig2a_resolution.png"),
        (rows_m, "metabolite", "cond_met", "metabolite", "fig2b_metabolite.png"),
    ):
        matrix, row_ids, col_ids = mean_matrix(rows, key, col, "ssim")
        plot_matrix(
            matrix,
            row_ids,
            col_ids,
            out / png,
            f"{label} given as condition",
            f"{label} of the input",
            f"mean SSIM ({'model file' if models else 'filter_scaling_met'}, λ = 0)",
        )
        matched = sum(
            1
            for i, a in enumerate(row_ids)
            if a in col_ids and int(np.nanargmax(matrix[i])) == col_ids.index(a)
        )
        parts += [f"## Input {label} vs condition (mean SSIM over maps and folds)", ""]
        parts.append(f"![{png}]({png})")
        spread = max(float(np.nanmax(row) - np.nanmin(row)) for row in matrix)
        leads = [
            float(matrix[i, col_ids.index(a)] - np.nanmax(np.delete(matrix[i], col_ids.index(a))))
            for i, a in enumerate(row_ids)
            if a in col_ids and len(col_ids) > 1
        ]
        lead = (
            f" The matching condition's SSIM minus the best other condition's ranges from "
            f"{min(leads):+.4f} to {max(leads):+.4f} over the inputs (negative: another "
            "condition is better)."
            if leads
            else ""
        )
        parts += [
            "",
            f"The matching condition gives the best SSIM for {matched} of {len(row_ids)} inputs; "
            f"the largest SSIM range over the conditions of one input is {spread:.4f} (the gap "
            f"from the best condition to the worst).{lead}",
            "",
        ]
        body = [[str(a), *(f"{v:.4f}" for v in matrix[i])] for i, a in enumerate(row_ids)]
        parts.append(markdown_table(["input \\ condition", *map(str, col_ids)], body))
        parts.append("")
    parts.append(
        "Paper (Fig. 2): the matching n always gives the best SSIM; the matching "
        "metabolite does for every metabolite but NAA."
    )
    parts += [
        "",
        "The swapped n is given to the conditioning only; data consistency uses the input's "
        "true n.",
        "",
        record.markdown(),
    ]
    path = out / "fig2.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    record.write(out)
    return path
