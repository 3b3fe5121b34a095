"""Planning a training run: the run folder, and every check before anything is written.

A run folder holds::

    config.toml             the resolved configuration (reusable as a run's configuration)
    split.json              the patients of the fold (train / val / test)
    run.json                data folder, fold, variant, world size
    checkpoint.safetensors  everything a resumed run needs (weights, optimisers, RNG, history)
    best.safetensors        the generator with the lowest validation loss (mrsisr predict)
    last.safetensors        the generator after the last epoch
    metrics.csv             one row per epoch; loss_curves.png at the end
    tensorboard/            events, if the tensorboard package is installed

:func:`plan_run` checks everything and writes nothing, so a user error leaves no files;
:func:`mrsisr.train.run.train` runs the plan (:mod:`mrsisr.train.loop`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mrsisr.checkpoint import TrainedRange, save_model
from mrsisr.data.check import check_cohort
from mrsisr.data.cohort import Cohort
from mrsisr.data.splits import Split, fold_split
from mrsisr.errors import UserError, argument
from mrsisr.metabolites import parse_metabolite
from mrsisr.provenance import FileHashes
from mrsisr.scales import coarsest_side
from mrsisr.train.builders import check_model
from mrsisr.train.config import TrainConfig, check_config
from mrsisr.train.config_io import config_from_dict, config_hash, config_to_dict, diff_configs
from mrsisr.train.state import read_state_header
from mrsisr.untrusted import read_json, read_toml

__all__ = ["RunFiles", "RunPlan", "checkpoint_matches", "plan_run", "save_generator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFiles:
    """The paths of a run folder."""

    root: Path

    @property
    def config(self) -> Path:
        """The resolved configuration (TOML)."""
        return self.root / "config.toml"

    @property
    def split(self) -> Path:
        """The patients of the fold (JSON, :func:`mrsisr.data.splits.load_splits`)."""
        return self.root / "split.json"

    @property
    def run(self) -> Path:
        """Data folder, fold, variant and world size (JSON)."""
        return self.root / "run.json"

    @property
    def checkpoint(self) -> Path:
        """The training state that a resumed run reads."""
        return self.root / "checkpoint.safetensors"

    @property
    def best(self) -> Path:
        """The generator with the lowest validation loss (a model file)."""
        return self.root / "best.safetensors"

    @property
    def last(self) -> Path:
        """The generator after the last epoch (a model file)."""
        return self.root / "last.safetensors"

    @property
    def metrics(self) -> Path:
        """One row per epoch (CSV)."""
        return self.root / "metrics.csv"

    @property
    def curves(self) -> Path:
        """Loss curves (PNG), drawn at the end of the run."""
        return self.root / "loss_curves.png"

    @property
    def tensorboard(self) -> Path:
        """TensorBoard event folder."""
        return self.root / "tensorboard"


@dataclass(frozen=True)
class RunPlan:
    """A checked run: what to train, on what, where."""

    config: TrainConfig
    data: Path
    fold: int
    files: RunFiles
    split: Split
    resume: bool


def _stored_config(files: RunFiles) -> TrainConfig:
    data = read_toml(files.config, "the run's configuration (TOML)")
    return config_from_dict(data, str(files.config))


def _stored_run(files: RunFiles) -> dict[str, Any]:
    """``run.json``, checked: the run's cohort folder and fold."""
    run = read_json(files.run, "the run's run.json")
    if not isinstance(run, dict):
        raise UserError(f"{files.run}: must hold a JSON object")
    if not isinstance(run.get("data"), str) or not run["data"]:
        raise UserError(f"{files.run}: field 'data' must be the cohort folder (a string)")
    fold = run.get("fold")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < 1000:
        raise UserError(f"{files.run}: field 'fold' must be an integer in 0..999, got {fold!r}")
    return run


def plan_run(
    config: TrainConfig | None,
    data: str | Path | None,
    fold: int | None,
    out: str | Path,
    resume: bool = False,
) -> RunPlan:
    """Check a run before anything is written.

    Args:
        config: the configuration; ``None`` when resuming takes the run's own.
        data: cohort folder; ``None`` when resuming takes the run's own.
        fold: cross-validation fold, ``0 <= fold < config.data.folds``; ``None`` when resuming.
        out: the run folder.
        resume: continue the run in ``out`` from its last checkpoint.

    Raises:
        UserError: invalid cohort, fold, variant, an existing run without ``resume``, or a
            resume with a different configuration, cohort or fold.
    """
    files = RunFiles(Path(out))
    stored_run: dict[str, Any] = {}
    if resume:
        if not files.run.is_file():
            raise UserError(
                f"{argument('out')} {out}: no run to resume here (no run.json); drop "
                f"{argument('resume')}"
            )
        stored_run = _stored_run(files)
        stored = _stored_config(files)
        config = config if config is not None else stored
        changed = diff_configs(stored, config)
        if changed:
            raise UserError(
                f"{argument('resume')}: the configuration differs from the run's "
                f"({'; '.join(changed[:4])}); resume with the same configuration or start a new "
                f"{argument('out')}"
            )
        data = data if data is not None else stored_run["data"]
        fold = fold if fold is not None else stored_run["fold"]
        if int(fold) != int(stored_run["fold"]):
            raise UserError(
                f"{argument('fold')} {fold}: the run in {out} trains fold {stored_run['fold']}"
            )
    elif files.checkpoint.exists() or files.run.exists():
        raise UserError(
            f"{argument('out')} {out}: already holds a run; pass {argument('resume')} or choose "
            f"a new {argument('out')}"
        )
    if config is None or data is None or fold is None:
        raise UserError(
            f"{argument('config')}, {argument('data')} and {argument('fold')} are required for "
            "a new run"
        )
    check_config(config)
    check_model(config)
    data = Path(data)
    problems = check_cohort(data)
    if problems:
        more = (
            f" (and {len(problems) - 1} more; run `mrsisr cohort check`)"
            if len(problems) > 1
            else ""
        )
        raise UserError(f"{argument('data')} {data}: invalid cohort: {problems[0]}{more}")
    if resume and Path(stored_run["data"]).resolve() != data.resolve():
        log.warning("resuming on %s; the run started on %s", data, stored_run["data"])
    cohort = Cohort.open(data)
    _check_data_fits(config, cohort)
    patients = cohort.patients
    folds = config.data.folds
    if not 0 <= int(fold) < folds:
        raise UserError(
            f"{argument('fold')} {fold}: must be in 0..{folds - 1} (data.folds = {folds})"
        )
    try:
        split = fold_split(patients, folds, config.data.split_seed, int(fold))
    except ValueError as err:
        raise UserError(f"{argument('data')} {data}: cannot make {folds} folds ({err})") from None
    return RunPlan(
        config=config, data=data, fold=int(fold), files=files, split=split, resume=resume
    )


def _check_data_fits(config: TrainConfig, cohort: Cohort) -> None:
    """The configured metabolites must be the cohort's, ``model.grid`` the in-plane grid of
    some of its patients (the one ``data.n_choices`` are given for), and the MS-SSIM window
    must fit the smallest of its grids."""

    available = [m.value for m in cohort.manifest.metabolites]
    for name in config.data.metabolites:
        try:
            known = parse_metabolite(name).value in available
        except ValueError as err:
            raise UserError(f"config key data.metabolites: {err}") from None
        if not known:
            raise UserError(
                f"config key data.metabolites: {name} is not in the cohort {cohort.root}; "
                f"it has {', '.join(available)}"
            )
    grids = sorted({shape[:2] for shape in cohort.map_shapes().values()})
    if tuple(config.model.grid) not in grids:
        if len(grids) == 1:
            (shape,) = grids
            raise UserError(
                f"config key model.grid = {list(config.model.grid)} does not match the cohort's "
                f"{shape[0]} x {shape[1]} maps; set {argument('overrides')} "
                f"model.grid=[{shape[0]}, {shape[1]}]"
            )
        raise UserError(
            f"config key model.grid = {list(config.model.grid)} is none of the cohort's grids "
            f"{', '.join(f'{g[0]} x {g[1]}' for g in grids)}; set {argument('overrides')} "
            f"model.grid to the grid data.n_choices are given for, e.g. "
            f"model.grid=[{grids[0][0]}, {grids[0][1]}]"
        )
    smallest, loss = min(min(g) for g in grids), config.loss
    if loss.ms_ssim_window > coarsest_side(smallest, loss.ms_ssim_scales):
        raise UserError(
            f"config key loss.ms_ssim_window = {loss.ms_ssim_window} must fit the coarsest "
            f"MS-SSIM scale of the cohort's {smallest}-voxel side (its smallest grid); lower "
            "loss.ms_ssim_scales or the window"
        )


_HASHES = FileHashes()
"""The init model is hashed once per process, not at every epoch's export."""


def save_generator(
    path: Path,
    generator: torch.nn.Module,
    plan: RunPlan,
    facts: dict,
    native_grids: Sequence[Sequence[int]] = (),
) -> None:
    """Export the generator as a model file for ``mrsisr predict`` (architecture + recipe);
    ``native_grids``, the training patients' grids (empty: ``model.grid``), enter the
    trained range."""
    config = plan.config
    metadata = {
        "fold": plan.fold,
        "split": plan.split.to_dict(),
        "n_choices": list(config.data.n_choices),
        "lam_range": list(config.lam_range),
        "train_config": config_to_dict(config),
        **facts,
    }
    if config.init_model:
        metadata["init_model_sha256"] = _HASHES(config.init_model)
    model_config = config_to_dict(config.model)
    trained = TrainedRange.from_n_choices(
        config.data.n_choices, config.model.grid, config.data.grids, native_grids
    )
    save_model(path, generator, config.variant, model_config, metadata, trained=trained)


def checkpoint_matches(plan: RunPlan) -> dict[str, Any] | None:
    """The metadata of the run's checkpoint if resuming from one, checked against the plan."""
    if not (plan.resume and plan.files.checkpoint.exists()):
        return None
    meta = read_state_header(plan.files.checkpoint)
    if meta.get("config_hash") != config_hash(plan.config):
        raise UserError(
            f"{plan.files.checkpoint}: written with another configuration; resume with the "
            f"run's config.toml or start a new {argument('out')}"
        )
    return meta
