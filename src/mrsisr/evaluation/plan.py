"""What an evaluation scores, checked before anything is computed (``mrsisr evaluate``).

:func:`plan_evaluation` turns the choices of a user (cohort, models, patients or fold, n,
λ, baselines) into an :class:`EvaluationPlan`: the patients (:func:`select_patients`), the
acquisition sizes (the models' training n unless given), the methods and the entries of the
tables, each checked against the others (grid, held-out patients, the single-scale networks'
n). :func:`mrsisr.evaluation.evaluate.evaluate` then runs the plan.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrsisr.checkpoint import ModelInfo
from mrsisr.data.check import check_cohort
from mrsisr.data.cohort import Cohort
from mrsisr.data.dataset import DEFAULT_N_CHOICES, MRSIDataset
from mrsisr.data.splits import fold_split
from mrsisr.errors import UserError, argument
from mrsisr.evaluation.baselines import Baseline
from mrsisr.evaluation.evaluate import MetricSettings, evaluation_dataset
from mrsisr.evaluation.methods import (
    BaselineMethod,
    Method,
    ModelMethod,
    check_held_out,
    load_model_methods,
)
from mrsisr.evaluation.tables import entry_name
from mrsisr.inference import model_grid
from mrsisr.options import Device, resolve_device

__all__ = [
    "EvaluationPlan",
    "default_n",
    "plan_evaluation",
    "select_patients",
    "with_image_sets",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationPlan:
    """A checked evaluation: what to score, on which maps, with which metrics.

    Args:
        data: the cohort folder.
        patients: the patients scored.
        n_values: the acquisition sizes simulated.
        lams: the λ of the λ-conditioned models.
        models: the trained models (one method per file, single-scale networks grouped).
        baselines: the classical methods.
        dataset: every (patient, slice, metabolite, n) map to score.
        settings: how each metric is computed.
        reference: the entry the Wilcoxon tests compare against.
        fold: the fold whose test patients are scored, or ``None``.
        folds: number of folds of the split.
        seed: seed of the split.
    """

    data: Path
    patients: list[str]
    n_values: list[int]
    lams: list[float]
    models: list[ModelMethod]
    baselines: list[Baseline]
    dataset: MRSIDataset
    settings: MetricSettings
    reference: str
    fold: int | None = None
    folds: int = 5
    seed: int = 0

    @property
    def methods(self) -> list[Method]:
        """Every method, models first."""
        return [*self.models, *(BaselineMethod(b) for b in self.baselines)]

    @property
    def infos(self) -> list[ModelInfo]:
        """The model files' descriptions (once each, whatever the image sets)."""
        unique = {id(info): info for m in self.models for info in m.infos}
        return list(unique.values())

    def record(self) -> dict[str, Any]:
        """What was run, JSON-ready (``evaluation.json`` adds command, machine and time)."""
        return {
            "data": str(self.data.resolve()),
            "patients": self.patients,
            "fold": self.fold,
            "folds": self.folds if self.fold is not None else None,
            "split_seed": self.seed,
            "n": self.n_values,
            "lam": self.lams,
            "images": sorted({str(m.tags.get("images", "both")) for m in self.models}),
            "models": [
                {"path": str(i.path), "variant": i.variant, "fold": i.metadata.get("fold")}
                for i in self.infos
            ],
            "baselines": [b.value for b in self.baselines],
            "reference": self.reference,
        }


def select_patients(
    cohort_ids: Sequence[str],
    *,
    patients: Sequence[str] | None = None,
    fold: int | None = None,
    folds: int = 5,
    seed: int = 0,
) -> list[str]:
    """The patients to score: ``patients``, the test patients of ``fold``, or every one.

    Raises:
        UserError: an unknown patient, a fold out of range or a cohort too small to split.
    """
    ids = list(cohort_ids)
    if patients:
        unknown = [p for p in patients if p not in ids]
        if unknown:
            raise UserError(
                f"{argument('patients')}: unknown {', '.join(unknown)}; the cohort has "
                f"{', '.join(ids)}"
            )
        return list(patients)
    if fold is None:
        return ids
    if not 0 <= fold < folds:
        raise UserError(
            f"{argument('fold')} {fold}: must be in 0..{folds - 1} ({argument('folds')} {folds})"
        )
    try:
        return list(fold_split(ids, folds, seed, fold).test)
    except ValueError as err:
        raise UserError(f"{argument('folds')} {folds}: cannot split the cohort ({err})") from None


def default_n(models: Sequence[ModelMethod]) -> list[int]:
    """The n to evaluate when none is given: the models' common training n, else the
    single-scale networks' n, else :data:`mrsisr.data.dataset.DEFAULT_N_CHOICES`."""
    trained = {tuple(info.metadata.get("n_choices") or ()) for m in models for info in m.infos}
    single = [k for m in models for k in m.models if k is not None]
    common = next(iter(trained)) if len(trained) == 1 and not single else ()
    return list(common or sorted(single) or DEFAULT_N_CHOICES)


def with_image_sets(
    models: Sequence[ModelMethod], images: Mapping[str, tuple[bool, bool]]
) -> list[ModelMethod]:
    """One method per model and image set: ``full`` (both images), ``full[t1]``, ...

    Args:
        models: the model methods.
        images: label -> ``(T1, FLAIR)`` presence, e.g. ``{"both": (True, True),
            "t1": (True, False)}``.

    Raises:
        UserError: an image set without both images for a model that needs both.
    """
    out = []
    for method in models:
        for label, present in images.items():
            tags = {**method.tags, "images": label}
            if all(present):
                out.append(dataclasses.replace(method, tags=tags))
                continue
            for info, model in zip(method.infos, method.models.values()):
                if not getattr(model, "accepts_missing_images", False):
                    raise UserError(
                        f"{argument('images')} {label}: {info.path} needs both T1 and FLAIR "
                        "(it was trained without presence flags)"
                    )
            name = f"{method.name}[{label}]"
            out.append(dataclasses.replace(method, name=name, present=present, tags=tags))
    return out


def plan_evaluation(
    data: str | Path,
    model_files: Sequence[str | Path],
    patients: Sequence[str] | None = None,
    fold: int | None = None,
    folds: int = 5,
    seed: int = 0,
    n_values: Sequence[int] | None = None,
    lams: Sequence[float] = (0.0,),
    baselines: Sequence[str] = ("zero_fill", "bicubic", "guided"),
    metabolites: Sequence[str] | None = None,
    reference: str | None = None,
    lpips: bool = True,
    device: Device | str = Device.auto,
    images: Mapping[str, tuple[bool, bool]] | None = None,
) -> EvaluationPlan:
    """Check an evaluation before anything is computed.

    Args:
        data: cohort folder.
        model_files: model files (single-scale networks are grouped into one method).
        patients: the patients to score; else the test patients of ``fold``; else all.
        fold: a fold of :func:`mrsisr.data.splits.fold_split` (``folds``, ``seed``).
        folds: number of folds of the split.
        seed: seed of the split.
        n_values: acquisition sizes; default :func:`default_n`.
        lams: λ values for the λ-conditioned models.
        baselines: classical methods (:class:`mrsisr.evaluation.baselines.Baseline`).
        metabolites: metabolites to score (default all).
        reference: entry of the Wilcoxon tests (default the first).
        lpips: compute LPIPS.
        device: ``auto``, ``cpu`` or ``cuda``.
        images: label -> ``(T1, FLAIR)`` given to the models, one entry each
            (:func:`with_image_sets`); default both images only.

    Raises:
        UserError: naming the argument and what it accepts.
    """
    data = Path(data)
    problems = check_cohort(data)
    if problems:
        raise UserError(f"{argument('data')} {data}: invalid cohort: {problems[0]}")
    if any(v < 0 for v in lams):
        raise UserError(f"{argument('lams')} {list(lams)}: sharpness weights must be >= 0")
    try:
        chosen = [Baseline.parse(b) for b in baselines]
        dev = str(resolve_device(device))
    except ValueError as err:
        raise UserError(f"{argument('baselines')}/{argument('device')}: {err}") from None
    cohort = Cohort.open(data)
    ids = select_patients(cohort.patients, patients=patients, fold=fold, folds=folds, seed=seed)
    models = with_image_sets(
        load_model_methods(model_files, device=dev), images or {"both": (True, True)}
    )
    if not models and not chosen:
        raise UserError(
            f"{argument('model_files')}/{argument('baselines')}: nothing to evaluate; give a "
            "model or a baseline"
        )
    check_held_out(models, ids)
    ns = list(n_values or default_n(models))
    try:
        dataset = evaluation_dataset(cohort, ids, ns, metabolites)
    except ValueError as err:
        where = "/".join(argument(name) for name in ("data", "n_values", "metabolites"))
        raise UserError(f"{where}: {err}") from None
    for info in (info for m in models for info in m.infos):
        if tuple(model_grid(info.config)) != tuple(dataset.grid):
            # The network runs on any grid with n encoded relative to it (as predict does):
            # a 64 x 64 model scores a 128 x 128 cohort at the cohort's n.
            log.info(
                "%s: configured for %s, scored on the cohort's grid %s",
                info.path,
                "x".join(map(str, model_grid(info.config))),
                "x".join(map(str, dataset.grid)),
            )
    for model in models:
        for n in ns:
            try:
                model.model_for(n)
            except ValueError as err:
                raise UserError(f"{argument('n_values')}: {err}") from None
    methods: list[Method] = [*models, *(BaselineMethod(b) for b in chosen)]
    names = [
        entry_name(m.name, lam if m.lam_conditioned else None)
        for m in methods
        for lam in (lams if m.lam_conditioned else [None])
    ]
    reference = reference or names[0]
    if reference not in names:
        raise UserError(
            f"{argument('reference')} {reference}: not an entry; entries: {', '.join(names)}"
        )
    return EvaluationPlan(
        data=data,
        patients=ids,
        n_values=ns,
        lams=list(lams),
        models=models,
        baselines=chosen,
        dataset=dataset,
        settings=MetricSettings.for_grid(dataset.grid, lpips=lpips),
        reference=reference,
        fold=fold,
        folds=folds,
        seed=seed,
    )
