"""Does the conditioning on n matter? The n-encoding and head-initialisation ablation.

Every design is one :class:`~mrsisr.nn.config.GeneratorConfig` option set of the same
network, trained on the same data, fold and number of steps with several seeds:

=====================  =====================================================================
design                 how ``n`` reaches the filter-scaling trunks, how the heads start
=====================  =====================================================================
``grid_identity``      ``n / N`` (0.25-0.5), scales start at 1 (the configuration so far)
``range_identity``     ``(n - 16) / 16`` (0-1 over the trained sizes), scales start at 1
``fourier_identity``   the range value and its sines and cosines at 4 octaves, scales at 1
``grid_linear``        ``n / N``, heads start as ``nn.Linear`` does (the authors' code)
``no_n``               the trunks see a constant (the control: no n-conditioning at all)
``no_n_linear``        a constant, heads start as ``nn.Linear`` does: the control of
                       ``grid_linear`` (random filter scales, the same for every n)
=====================  =====================================================================

Each run is scored on its fold's test patients with every input size of :data:`FIG2_SIZES`
given every condition of the same list, as in Fig. 2a (data consistency at the input's true
``n``): the matching pairs give PSNR and SSIM, the others the Fig. 2a diagonal. Designs are
compared at the level of seeds, the independent unit of training noise: one mean per run,
Welch's t-test, and a contrast that pools several designs averages them within each seed
first (runs that share a seed share their data order and initial draws, so they are not
independent of one another). Holm's adjustment runs over the tests of each table and metric.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr.experiments.reproduce import Protocol, experiment_dataset, mean_matrix, test_patients
from mrsisr.experiments.runs import ProtocolRecord, TrainedRun, ensure_run
from mrsisr.metrics.stats import holm, welch_ttest
from mrsisr.train.config import TrainConfig

__all__ = [
    "CONTRASTS",
    "DESIGNS",
    "FIG2_SIZES",
    "contrast_tests",
    "design_config",
    "reference_tests",
    "reproduce_ncond",
    "run_summary",
]

log = logging.getLogger(__name__)

_GRID, _RANGE = 'model.n_encoding="grid"', 'model.n_encoding="range"'
_FOURIER, _NONE = 'model.n_encoding="fourier"', 'model.n_encoding="none"'
_IDENTITY, _LINEAR = 'model.filter_head_init="identity"', 'model.filter_head_init="linear"'

DESIGNS: dict[str, tuple[str, ...]] = {
    "grid_identity": (_GRID, _IDENTITY),
    "range_identity": (_RANGE, _IDENTITY),
    "fourier_identity": (_FOURIER, _IDENTITY),
    "grid_linear": (_GRID, _LINEAR),
    "no_n": (_NONE, _IDENTITY),
    "no_n_linear": (_NONE, _LINEAR),
}
"""Design name -> configuration overrides (``model.*`` keys of the generator). Every design
sets both keys, so it is the same network whatever the base recipe says."""

CONTRASTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("n given, identity heads", ("grid_identity",), ("no_n",)),
    ("n given, nn.Linear heads", ("grid_linear",), ("no_n_linear",)),
    ("n encoded over the trained range", ("range_identity",), ("grid_identity",)),
    ("Fourier n encoding", ("fourier_identity",), ("grid_identity",)),
    (
        "nn.Linear vs identity heads (with and without n)",
        ("grid_linear", "no_n_linear"),
        ("grid_identity", "no_n"),
    ),
)
"""Comparisons reported when all their designs ran: label, designs, designs compared with."""

REFERENCE = "grid_identity"
"""The design the others are tested against (the shipped configuration before this study)."""

FIG2_SIZES = (16, 24, 32)
"""Input sizes and conditions of the evaluation: every input with every condition."""

EVAL_FILE = "ncond_eval.csv"
"""Per-map scores of a run, cached in its folder."""


def design_config(protocol: Protocol, design: str, seed: int) -> TrainConfig:
    """The configuration of one design and seed: λ = 0, no adversarial term."""
    variant = (protocol.variants or ("full",))[0]
    return protocol.train_config(
        "paper_noadv",
        f'variant="{variant}"',
        "adversarial.enabled=false",
        "data.lam_range=[0.0, 0.0]",
        *DESIGNS[design],
        f"seed={seed}",
    )


def _evaluate_run(
    run: TrainedRun, config: TrainConfig, data: Path, batch_size: int
) -> list[dict[str, Any]]:
    """Per-map scores of a run, every input n with every condition, cached in its folder."""
    from mrsisr.checkpoint import load_model
    from mrsisr.evaluation.evaluate import MetricSettings, evaluate
    from mrsisr.evaluation.methods import ModelMethod
    from mrsisr.evaluation.tables import read_samples_csv, write_samples_csv

    cache = run.folder / EVAL_FILE
    if cache.is_file():
        return read_samples_csv(cache)
    model, _ = load_model(run.model)
    dataset = experiment_dataset(data, test_patients(config, data, run.fold), FIG2_SIZES)
    settings = MetricSettings.for_grid(dataset.grid, lpips=False)
    swapped = [
        ModelMethod(f"cond_n={c}", {None: model}, n_condition=c, tags={"cond_n": c})
        for c in FIG2_SIZES
    ]
    rows = evaluate(dataset, swapped, [0.0], settings, batch_size)
    write_samples_csv(cache.with_suffix(".tmp"), rows).replace(cache)
    return rows


def run_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """One run's numbers: PSNR/SSIM at the matching condition and the Fig. 2a diagonal.

    ``fig2a_wins``: inputs whose matching condition gives the best SSIM; ``fig2a_margin``:
    mean over inputs of SSIM at the matching condition minus the mean SSIM at the others;
    ``fig2a_spread``: mean over inputs of the SSIM range across conditions (how much the
    condition moves the output at all).
    """
    matched = [r for r in rows if r["cond_n"] == r["n"]]
    out = {
        metric: float(np.mean([r[metric] for r in matched if np.isfinite(r[metric])]))
        for metric in ("psnr", "ssim")
    }
    matrix, inputs, conditions = mean_matrix(rows, "n", "cond_n", "ssim")
    wins, margins, spreads = 0, [], []
    for i, n in enumerate(inputs):
        j = conditions.index(n)
        others = np.delete(matrix[i], j)
        wins += int(np.nanargmax(matrix[i]) == j)
        margins.append(matrix[i, j] - np.nanmean(others))
        spreads.append(np.nanmax(matrix[i]) - np.nanmin(matrix[i]))
    out.update(
        fig2a_wins=float(wins),
        fig2a_inputs=float(len(inputs)),
        fig2a_margin=float(np.mean(margins)),
        fig2a_spread=float(np.mean(spreads)),
    )
    return out


def _mean_sd(values: Sequence[float], digits: int) -> str:
    x = np.asarray(values, dtype=np.float64)
    sd = x.std(ddof=1) if x.size > 1 else float("nan")
    return f"{x.mean():.{digits}f} ± {sd:.{digits}f}"


_METRICS = (("psnr", 1.0, 3), ("ssim", 1.0, 4), ("fig2a_margin", 1e3, 2))


def _per_seed(
    summaries: dict[str, list[dict[str, Any]]], designs: Sequence[str], metric: str
) -> list[float] | None:
    """One value per seed: the mean over ``designs`` of that seed's runs (``None`` if a run
    is missing)."""
    by_seed: dict[Any, list[float]] = {}
    for design in designs:
        for run in summaries.get(design, []):
            by_seed.setdefault(run.get("seed"), []).append(float(run[metric]))
    if not by_seed or any(len(v) != len(designs) for v in by_seed.values()):
        return None
    return [float(np.mean(v)) for _, v in sorted(by_seed.items(), key=str)]


def reference_tests(summaries: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each design against :data:`REFERENCE`: Welch over seeds, Holm over the designs.

    Returns:
        ``{design: {metric: {"p": p, "holm": adjusted p}}}`` (designs with < 2 runs left out).
    """
    ref = summaries.get(REFERENCE, [])
    names = [d for d, runs in summaries.items() if d != REFERENCE and len(runs) >= 2]
    out: dict[str, dict[str, Any]] = {d: {} for d in names}
    if len(ref) < 2:
        return {}
    for metric, _, _ in _METRICS:
        ps = [
            welch_ttest([r[metric] for r in summaries[d]], [r[metric] for r in ref]).p_value
            for d in names
        ]
        for d, p, h in zip(names, ps, holm(ps)):
            out[d][metric] = {"p": p, "holm": float(h)}
    return out


def contrast_tests(summaries: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The :data:`CONTRASTS` whose designs all ran, at the unit of seeds (see the module
    notes), with Holm's adjustment over the contrasts of each metric.

    Returns:
        One dict per contrast: ``label``, ``first``, ``second``, ``seeds`` (units per side)
        and per metric ``{"difference", "p", "holm"}``.
    """
    rows: list[dict[str, Any]] = []
    for label, first, second in CONTRASTS:
        row: dict[str, Any] = {"label": label, "first": first, "second": second}
        for metric, _, _ in _METRICS:
            a, b = _per_seed(summaries, first, metric), _per_seed(summaries, second, metric)
            if a is None or b is None or len(a) < 2 or len(b) < 2:
                break
            test = welch_ttest(a, b)
            row["seeds"] = (len(a), len(b))
            row[metric] = {"difference": test.difference, "p": test.p_value}
        else:
            rows.append(row)
    for metric, _, _ in _METRICS:
        for row, h in zip(rows, holm([r[metric]["p"] for r in rows])):
            row[metric]["holm"] = float(h)
    return rows


def report_markdown(
    summaries: dict[str, list[dict[str, Any]]], seeds: Sequence[int], protocol_markdown: str
) -> str:
    """The ablation's report: the designs, the tests against the reference, the contrasts.

    Args:
        summaries: design -> one :func:`run_summary` per run (with its ``seed``).
        seeds: the training seeds.
        protocol_markdown: the protocol section (:meth:`ProtocolRecord.markdown`).
    """
    from mrsisr.evaluation.tables import format_p, markdown_table

    lines = [
        "# Does the n-conditioning matter? (n encoding and head initialisation)",
        "",
        f"Mean ± SD over seeds {list(seeds)}; each seed is one training run, scored on its "
        f"fold's test patients at n = {list(FIG2_SIZES)} (PSNR, SSIM: the condition matches the "
        "input). Fig. 2a: SSIM with the condition swapped, data consistency at the input's "
        f"true n (every input and condition of {list(FIG2_SIZES)}); "
        "margin = SSIM at the matching condition minus the mean SSIM at the others (×1e3); "
        "spread = SSIM range over the conditions (×1e3). **Unit of every test: the training "
        f"seed** (one mean per run; the maps of a run are not independent). p: Welch's t-test "
        f"over seeds against `{REFERENCE}`; Holm: adjusted over the designs of the table, per "
        "metric. The test patients are the same for every run: the tests measure training "
        "noise, not how the designs would do on other patients.",
        "",
    ]
    header = ["design", "seeds", "PSNR (dB)", "SSIM", "Fig. 2a wins", "margin ×1e3", "spread ×1e3"]
    header += ["p (Holm) PSNR", "p (Holm) SSIM", "p (Holm) margin"]
    tests = reference_tests(summaries)
    body = []
    for design, runs in summaries.items():
        wins = sum(int(r["fig2a_wins"]) for r in runs)
        inputs = sum(int(r["fig2a_inputs"]) for r in runs)
        cells = [
            design,
            str(len(runs)),
            _mean_sd([r["psnr"] for r in runs], 3),
            _mean_sd([r["ssim"] for r in runs], 4),
            f"{wins} of {inputs}",
            _mean_sd([1e3 * r["fig2a_margin"] for r in runs], 2),
            _mean_sd([1e3 * r["fig2a_spread"] for r in runs], 2),
        ]
        for metric, _, _ in _METRICS:
            t = tests.get(design, {}).get(metric)
            cells.append(f"{format_p(t['p'])} ({format_p(t['holm'])})" if t else "")
        body.append(cells)
    lines += [markdown_table(header, body), ""]
    rows = []
    for c in contrast_tests(summaries):
        cells = [c["label"], f"{' + '.join(c['first'])} vs {' + '.join(c['second'])}"]
        cells.append(f"{c['seeds'][0]} vs {c['seeds'][1]}")
        for metric, scale, digits in _METRICS:
            t = c[metric]
            cells.append(
                f"{scale * t['difference']:+.{digits}f} (p {format_p(t['p'])}, "
                f"Holm {format_p(t['holm'])})"
            )
        rows.append(cells)
    if rows:
        lines += [
            "## Contrasts (Welch's t-test over seeds)",
            "",
            "A side that pools two designs is their mean within each seed, so each seed "
            "counts once. Holm: over the contrasts of this table, per metric.",
            "",
            markdown_table(
                ["contrast", "designs", "seeds", "Δ PSNR (dB)", "Δ SSIM", "Δ margin ×1e3"], rows
            ),
            "",
        ]
    lines.append(protocol_markdown)
    return "\n".join(lines)


def reproduce_ncond(protocol: Protocol, designs: Sequence[str] | None = None) -> Path:
    """Train (or reuse) every design x seed on the first fold, score them, write the report.

    Args:
        protocol: cohort, budget (epochs, steps per epoch) and folders; the variant is
            ``protocol.variants[0]`` (default ``full``, trained at λ = 0).
        designs: names of :data:`DESIGNS`; ``None``: all. Each runs once per seed of
            ``protocol.seeds``.

    Returns:
        ``OUT/ncond.md``, next to ``runs.csv`` (one line per run), ``training/`` (each run's
        ``metrics.csv``) and ``protocol.json``.
    """
    from mrsisr.evaluation.tables import write_samples_csv

    names = list(designs or DESIGNS)
    unknown = [d for d in names if d not in DESIGNS]
    if unknown:
        raise ValueError(f"designs: unknown {', '.join(unknown)}; valid: {', '.join(DESIGNS)}")
    seeds = protocol.seeds
    fold = protocol.fold_ids()[0]
    options = {**protocol.options(), "folds_run": [fold], "designs": names}
    record = ProtocolRecord("ncond", options)
    summaries: dict[str, list[dict[str, float]]] = {d: [] for d in names}
    lines: list[dict[str, Any]] = []
    for seed in seeds:  # seed-major: an interrupted study has every design at the first seeds
        for design in names:
            config = design_config(protocol, design, seed)
            run = ensure_run(config, protocol.data, fold, protocol.runs)
            record.add_run(run, config)
            summary = run_summary(_evaluate_run(run, config, protocol.data, protocol.batch_size))
            summaries[design].append({"seed": seed, **summary})
            lines.append({"design": design, "seed": seed, "run": run.folder.name, **summary})
    out = protocol.out
    out.mkdir(parents=True, exist_ok=True)
    write_samples_csv(out / "runs.csv", lines)
    path = out / "ncond.md"
    path.write_text(report_markdown(summaries, seeds, record.markdown()), encoding="utf-8")
    record.write(out)
    return path
