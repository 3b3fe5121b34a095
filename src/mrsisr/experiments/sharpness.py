"""Reproduce Figs. 3 and 4 of Dong et al. (MICCAI 2022): the sharpness weight λ at work.

Both use the full model trained with the adversarial loss: model files given by the user
(each evaluated on the test patients recorded in it), or runs trained and cached through
:func:`mrsisr.experiments.runs.ensure_run` with the paper's recipe (``paper`` configuration).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr.evaluation.plots import plot_lambda_curves
from mrsisr.experiments.paper import PAPER_FIG4
from mrsisr.experiments.reproduce import (
    Protocol,
    experiment_dataset,
    model_files,
    test_patients,
)
from mrsisr.experiments.runs import ProtocolRecord, ensure_run
from mrsisr.figures import FIG3_METABOLITES, plot_panel, sharpness_row
from mrsisr.metrics.registry import metric_spec

__all__ = ["FIG3_LAMS", "FIG4_LAMS", "full_models", "reproduce_fig3", "reproduce_fig4"]

log = logging.getLogger(__name__)

FIG3_LAMS: tuple[float, ...] = (0.0, 0.03, 0.06, 0.09)
"""The λ columns of the paper's Fig. 3."""

FIG4_LAMS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(11))
"""λ from 0 to 0.1 in steps of 0.01 (the paper's Fig. 4 range)."""


def full_models(
    protocol: Protocol, record: ProtocolRecord, models: Sequence[Path] = ()
) -> list[tuple[Path, list[str], list[int]]]:
    """``(model file, test patients, n values)`` per fold: the given files or trained runs."""
    out = model_files(models, protocol.data)
    if out:
        return out
    for fold in protocol.fold_ids():
        config = protocol.train_config("paper")
        if not config.uses_critic:
            log.warning("the configuration trains no critic: λ has no effect")
        run = ensure_run(config, protocol.data, fold, protocol.runs)
        record.add_run(run, config)
        test = test_patients(config, protocol.data, fold)
        out.append((run.model, test, list(config.data.n_choices)))
    return out


def reproduce_fig4(
    protocol: Protocol, models: Sequence[Path] = (), lams: Sequence[float] = FIG4_LAMS
) -> Path:
    """Fig. 4: PSNR, SSIM and LPIPS (mean ± std over maps, folds and n) against λ.

    Returns:
        ``OUT/fig4.md`` next to ``fig4_lambda.png``, ``samples.csv`` and ``protocol.json``.
    """
    from mrsisr.evaluation.evaluate import MetricSettings, evaluate
    from mrsisr.evaluation.methods import load_model_methods
    from mrsisr.evaluation.tables import markdown_table, write_samples_csv

    record = ProtocolRecord("fig4", {**protocol.options(models), "lams": list(lams)})
    rows: list[dict[str, Any]] = []
    settings = None
    for fold, (path, patients, ns) in enumerate(full_models(protocol, record, models)):
        (method,) = load_model_methods([path])
        method.name, method.tags = "full", {"fold": fold}
        dataset = experiment_dataset(protocol.data, patients, ns)
        settings = MetricSettings.for_grid(dataset.grid, lpips=protocol.lpips)
        rows += evaluate(dataset, [method], lams, settings, protocol.batch_size)
    out = protocol.out
    write_samples_csv(out / "samples.csv", rows)
    metrics = ["psnr", "ssim", "lpips"]
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for metric in metrics:
        means, stds = [], []
        for lam in lams:
            values = np.array([r[metric] for r in rows if r["lam"] == lam], dtype=np.float64)
            finite = values[np.isfinite(values)]
            means.append(float(finite.mean()) if finite.size else np.nan)
            stds.append(float(finite.std()) if finite.size else np.nan)
        curves[metric] = (means, stds)
    plot_lambda_curves(lams, curves, out / "fig4_lambda.png", "full model, mean ± std over maps")
    body = [
        [f"{lam:g}", *(f"{curves[m][0][i]:.4f} ± {curves[m][1][i]:.4f}" for m in metrics)]
        for i, lam in enumerate(lams)
    ]
    lpips_means = np.array(curves["lpips"][0])
    best = (
        f"best LPIPS at λ = {lams[metric_spec('lpips').best(lpips_means)]:g}"
        if np.isfinite(lpips_means).any()
        else "LPIPS not computed (turned off, or no weights: run `mrsisr lpips-weights`)"
    )
    notes = settings.describe() if settings is not None else {}
    parts = [
        "# Fig. 4: fidelity and perceptual distance against λ",
        "",
        "![fig4_lambda.png](fig4_lambda.png)",
        "",
        markdown_table(["λ", "PSNR", "SSIM", "LPIPS"], body),
        "",
        f"Ours: {best}; PSNR {_trend(curves['psnr'][0])}, SSIM {_trend(curves['ssim'][0])} "
        "as λ grows.",
        f"Paper: {PAPER_FIG4}.",
        "",
        *(f"- **{k}**: {v}" for k, v in notes.items()),
        "",
        record.markdown(),
    ]
    path = out / "fig4.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    record.write(out)
    return path


def _trend(values: Sequence[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).all() or len(v) < 2:
        return "undetermined"
    slope = np.polyfit(np.arange(len(v)), v, 1)[0]
    return "falls" if slope < 0 else "rises"


def _case(dataset: Any) -> Any:
    """The case whose ground truth peaks highest inside the mask (a hot spot, often tumour)."""
    cases = (dataset.case(index) for index in range(len(dataset)))
    return max(cases, key=lambda case: float((case.target * case.mask).max()))


def reproduce_fig3(
    protocol: Protocol, models: Sequence[Path] = (), lams: Sequence[float] = FIG3_LAMS
) -> Path:
    """Fig. 3: zero-filling, the full model at several λ, ground truth and FLAIR.

    One row per metabolite (tCho, Gln, Ins where present), each at a different n (the three
    smallest the model was trained for), on a test patient of the first fold, on the slice
    where the metabolite peaks inside the mask; PSNR / SSIM under each map.

    Returns:
        ``OUT/fig3_sharpness.png``.
    """
    from mrsisr.evaluation.evaluate import evaluation_dataset
    from mrsisr.evaluation.methods import EvalBatch, load_model_methods

    record = ProtocolRecord("fig3", {**protocol.options(models), "lams": list(lams)})
    path, patients, ns = full_models(protocol, record, models)[0]
    (method,) = load_model_methods([path])
    rows = []
    ns = sorted(ns)[:3]
    for i, met in enumerate(FIG3_METABOLITES):
        n = ns[i % len(ns)]
        try:
            dataset = evaluation_dataset(protocol.data, patients[:1], [n], [met])
        except ValueError:
            log.warning("fig3: no %s maps in the cohort; row skipped", met)
            continue
        case = _case(dataset)
        batch = EvalBatch.of([case])
        outputs = [method.predict(batch, lam)[0, 0].numpy() for lam in lams]
        label = f"{met}, n = {n}, {patients[0]} z={case.slice}"
        flair = batch.flair[0, 0].numpy()
        rows.append(sharpness_row(label, case.zero_filled, outputs, case.target, flair, case.mask))
    titles = ["zero-filling", *(f"λ = {lam:g}" for lam in lams), "ground truth", "FLAIR"]
    figure = plot_panel(
        rows, titles, protocol.out / "fig3_sharpness.png", title="PSNR (dB) / SSIM inside the mask"
    )
    record.write(protocol.out)
    return figure
