"""Several cohorts made one, each keeping its own test patients out of it if asked.

A model trained on two simulated cohorts together (the randomised simulator's and the
realistic preset's) is still tested on each of them alone. :func:`plan_merge` and
:func:`write_merge` make its training cohort, and can leave out of it the test patients of one
fold of each source's own split, the :func:`~mrsisr.data.splits.fold_split` that training and
evaluation make on that source alone, so that they stay a test set of it::

    plan = plan_merge(["randomised/", "realistic/"], "mixed/", leave_out=LeaveOut(10, 0))
    plan.sources[0].left_out     # == fold_split(<randomised ids>, 10, 0, 0).test
    write_merge(plan)            # mixed/, whole or not at all

The merged folder is a cohort like any other (docs/cohort-format.md): the patient folders of
the sources, copied (or linked), the first source's patients first, and a ``cohort.json``
whose provenance names each source, the SHA-256 of its ``cohort.json`` and what was left
out. Sources must agree on what ``cohort.json`` says of the maps (metabolites, units, field
strength, ``anatomy_upsample``) and on the in-plane field of view of every patient's maps;
their in-plane grids may differ (e.g. a 64 x 64 cohort at 3.4 mm and a 128 x 128 one at
1.7 mm over the same 217.6 mm), which training serves one grid per batch
(docs/data-pipeline.md, "Cohorts of several grids"); their patient ids must differ.
Everything is checked before anything is written (:func:`plan_merge`), and the folder is
written whole or not at all (:func:`mrsisr.atomic.staged_folder`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mrsisr import __version__
from mrsisr.atomic import staged_folder
from mrsisr.data.cohort import check_new_cohort_folder
from mrsisr.data.manifest import (
    MANIFEST_FILE,
    MASK_FILE,
    Manifest,
    noiseless_file,
    read_manifest,
    write_manifest,
)
from mrsisr.data.nifti import in_plane_voxel_mm, read_header
from mrsisr.data.splits import fold_split
from mrsisr.errors import UserError, argument

__all__ = ["LeaveOut", "MergePlan", "MergedSource", "plan_merge", "write_merge"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaveOut:
    """Which patients to leave out of each source: the test patients of one fold of its split.

    Args:
        folds: number of folds of the split (:func:`~mrsisr.data.splits.kfold_splits`), >= 3.
        fold: the fold whose test patients are left out, ``0 <= fold < folds``.
        split_seed: seed of the split (training's ``data.split_seed``), >= 0.

    Raises:
        UserError: a value out of range, naming its argument.
    """

    folds: int
    fold: int
    split_seed: int = 0

    def __post_init__(self) -> None:
        if self.folds < 3:
            raise UserError(
                f"{argument('folds')} {self.folds}: must be at least 3 "
                "(a test, a validation and a training fold)"
            )
        if not 0 <= self.fold < self.folds:
            raise UserError(
                f"{argument('fold')} {self.fold}: must be in 0..{self.folds - 1} "
                f"({argument('folds')} {self.folds})"
            )
        if not 0 <= self.split_seed < 2**63:
            raise UserError(f"{argument('split_seed')} {self.split_seed}: must be in 0..2**63 - 1")

    def __str__(self) -> str:
        fold, folds, seed = self.fold, self.folds, self.split_seed
        return f"the test patients of fold {fold} of {folds}, split seed {seed}"


@dataclass(frozen=True)
class MergedSource:
    """What a merge takes from one source cohort.

    Args:
        root: the source folder, absolute.
        manifest: its manifest.
        manifest_sha256: SHA-256 of its ``cohort.json``, as read.
        kept: the patients merged, in the source's order.
        left_out: the patients left out (empty without a :class:`LeaveOut`).
    """

    root: Path
    manifest: Manifest
    manifest_sha256: str
    kept: tuple[str, ...]
    left_out: tuple[str, ...]


@dataclass(frozen=True)
class MergePlan:
    """A checked merge: the sources, what each gives, and the merged manifest.

    Args:
        out: the merged cohort's folder.
        sources: one entry per source, in order.
        manifest: the merged ``cohort.json``.
        leave_out: what was left out of each source, or None.
        link: link the patient folders instead of copying them.
        overwrite: replace an existing cohort at ``out``.
    """

    out: Path
    sources: tuple[MergedSource, ...]
    manifest: Manifest
    leave_out: LeaveOut | None
    link: bool = False
    overwrite: bool = False

    @property
    def left_out(self) -> tuple[str, ...]:
        """Every patient left out, source by source."""
        return tuple(pid for source in self.sources for pid in source.left_out)


def _open_source(root: Path, leave_out: LeaveOut | None) -> MergedSource:
    """Read a source's manifest and split off the patients to leave out."""
    manifest = read_manifest(root)  # UserError naming the folder or its cohort.json
    digest = hashlib.sha256((root / MANIFEST_FILE).read_bytes()).hexdigest()
    left_out: tuple[str, ...] = ()
    if leave_out is not None:
        try:
            split = fold_split(
                manifest.patients, leave_out.folds, leave_out.split_seed, leave_out.fold
            )
        except ValueError:  # LeaveOut checked the rest: too few patients
            count = len(manifest.patients)
            raise UserError(
                f"{root}: {count} patients, too few for {argument('folds')} {leave_out.folds}; "
                f"a split of it has at most {count} folds"
            ) from None
        left_out = split.test
    kept = tuple(pid for pid in manifest.patients if pid not in set(left_out))
    return MergedSource(root.resolve(), manifest, digest, kept, left_out)


def _check_out(out: Path, sources: Sequence[MergedSource], overwrite: bool) -> None:
    """``out`` must be neither inside a source nor around one, and free (or a cohort to
    replace with ``overwrite``)."""
    where = out.resolve()
    for source in sources:
        if where == source.root or source.root in where.parents:
            raise UserError(
                f"{argument('out')} {out}: inside the source {source.root}; "
                "choose a folder outside every cohort merged"
            )
        if where in source.root.parents:
            raise UserError(
                f"{argument('out')} {out}: holds the source {source.root}; "
                "choose a folder outside every cohort merged"
            )
    check_new_cohort_folder(out, overwrite)


def _check_compatible(sources: Sequence[MergedSource]) -> None:
    """The sources must describe their maps alike and share no patient id."""
    first = sources[0]
    facts: dict[str, Callable[[Manifest], str]] = {
        "metabolites": lambda m: ", ".join(sorted(x.value for x in m.metabolites)),
        "units": lambda m: repr(m.units),
        "field strength": lambda m: (
            "unknown" if m.field_strength_t is None else f"{m.field_strength_t:g} T"
        ),
        "anatomy_upsample": lambda m: str(m.anatomy_upsample),
    }
    seen = {pid: first.root for pid in first.manifest.patients}
    for number, source in enumerate(sources[1:], start=1):
        if source.root in {s.root for s in sources[:number]}:
            raise UserError(f"{source.root}: given twice; give each cohort once")
        for name, fact in facts.items():
            theirs, ours = fact(source.manifest), fact(first.manifest)
            if theirs != ours:
                raise UserError(
                    f"{source.root}: {name} {theirs}, but {first.root} has {ours}; "
                    f"merge cohorts whose cohort.json agree on the {name}"
                )
        shared = [pid for pid in source.manifest.patients if pid in seen]
        if shared:
            more = f" (and {len(shared) - 3} more)" if len(shared) > 3 else ""
            raise UserError(
                f"{source.root}: patient ids {', '.join(shared[:3])}{more} are also in "
                f"{seen[shared[0]]}; the merged cohort needs each id once (cohorts of different "
                "simulators have different id letters)"
            )
        seen.update(dict.fromkeys(source.manifest.patients, source.root))


FOV_TOLERANCE_MM = 0.01
"""In-plane fields of view that differ by less than this (mm) are the same (NIfTI stores
float32 voxel sizes)."""


def _field_of_view(path: Path, root: Path) -> tuple[str, tuple[float, float]]:
    """A description of the in-plane grid of a mask (read from its header alone) and its
    field of view ``(X, Y)`` in mm: grid size times voxel size per axis."""
    try:
        shape, affine = read_header(path)
        voxel = in_plane_voxel_mm(affine)
    except (OSError, ValueError) as err:  # nibabel's ImageFileError is a ValueError
        raise UserError(
            f"{path}: cannot be read ({err}); run `mrsisr cohort check {root}`"
        ) from None
    fov = (float(shape[0] * voxel[0]), float(shape[1] * voxel[1]))
    grid = f"{shape[0]} x {shape[1]} grid of {voxel[0]:.4g} x {voxel[1]:.4g} mm voxels"
    return f"{fov[0]:.4g} x {fov[1]:.4g} mm ({grid})", fov


def _check_field_of_view(sources: Sequence[MergedSource]) -> None:
    """Every merged patient has its maps (its mask's header) over one in-plane field of view:
    their grids may differ (a finer grid of the same extent), their extent may not, since
    training scales the acquisition size with the grid (:func:`mrsisr.data.dataset.scale_n`)
    and the sizes of the network's input with them."""
    reference: tuple[Path, str, tuple[float, float]] | None = None
    for source in sources:
        for pid in source.kept:
            path = source.root / pid / MASK_FILE
            label, fov = _field_of_view(path, source.root)
            if reference is None:
                reference = (path, label, fov)
            elif max(abs(a - b) for a, b in zip(fov, reference[2])) > FOV_TOLERANCE_MM:
                raise UserError(
                    f"{path}: maps over {label}, {reference[0]} over {reference[1]}; merge "
                    "cohorts of one in-plane field of view (their grids may differ)"
                )


def _warn_mixed_noiseless(sources: Sequence[MergedSource]) -> None:
    """A noiseless target (``data.target = "noiseless"``) needs noiseless maps on every patient."""
    without = [
        f"{source.root.name}/{pid}"
        for source in sources
        for pid in source.kept
        if not (source.root / pid / noiseless_file(source.manifest.metabolites[0])).exists()
    ]
    total = sum(len(source.kept) for source in sources)
    if 0 < len(without) < total:
        log.warning(
            "%d of %d merged patients have no noiseless maps (%s%s): train on this cohort with "
            'data.target = "measured"',
            len(without),
            total,
            ", ".join(without[:3]),
            ", ..." if len(without) > 3 else "",
        )


def _provenance(sources: Sequence[MergedSource], leave_out: LeaveOut | None) -> str:
    parts = []
    for source in sources:
        whole = len(source.manifest.patients)
        taken = f"{len(source.kept)} of {whole} patients"
        if leave_out is not None:
            taken += f", left out {leave_out}: {', '.join(source.left_out)}"
        parts.append(
            f"{source.root} (cohort.json SHA-256 {source.manifest_sha256}; "
            f'"{source.manifest.provenance}"; {taken})'
        )
    return f"merged by mrsisr {__version__} from {len(sources)} cohorts: " + "; ".join(parts)


def plan_merge(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    leave_out: LeaveOut | None = None,
    link: bool = False,
    overwrite: bool = False,
) -> MergePlan:
    """Check a merge and say what it would write; writes nothing.

    Args:
        sources: the cohort folders, at least two; the merged patients follow their order.
        out: the merged cohort's folder, outside every source.
        leave_out: leave out of each source the test patients of this fold of its own split.
        link: link the patient folders (absolute symbolic links) instead of copying them.
        overwrite: replace an existing cohort at ``out``, as ``mrsisr phantom`` does.

    Raises:
        UserError: a source that is not a cohort (or given twice), sources that disagree on
            metabolites, units, field strength, ``anatomy_upsample`` or in-plane field of
            view or share a patient id, too few patients for the folds, or an ``out`` that exists
            (without ``overwrite``, or not a cohort) or lies inside a source. One line,
            naming the folder and what is accepted.
    """
    if len(sources) < 2:
        raise UserError(f"{argument('sources')}: give at least two cohorts, got {len(sources)}")
    opened = [_open_source(Path(source), leave_out) for source in sources]
    _check_out(Path(out), opened, overwrite)
    _check_compatible(opened)
    _check_field_of_view(opened)
    first = opened[0].manifest
    manifest = Manifest(
        patients=tuple(pid for source in opened for pid in source.kept),
        metabolites=first.metabolites,
        units=first.units,
        field_strength_t=first.field_strength_t,
        provenance=_provenance(opened, leave_out),
        anatomy_upsample=first.anatomy_upsample,
    )
    return MergePlan(Path(out), tuple(opened), manifest, leave_out, link, overwrite)


def write_merge(plan: MergePlan) -> Path:
    """Write a planned merge: the patient folders, then ``cohort.json``, all or nothing.

    Returns:
        The merged cohort's folder.
    """
    _warn_mixed_noiseless(plan.sources)
    how = "linking" if plan.link else "copying"
    with staged_folder(plan.out, replace=plan.overwrite) as staging:
        for source in plan.sources:
            log.info(
                "%s %d of %d patients of %s%s",
                how,
                len(source.kept),
                len(source.manifest.patients),
                source.root,
                f" (left out {plan.leave_out})" if plan.leave_out is not None else "",
            )
            for pid in source.kept:
                folder = source.root / pid
                if plan.link:
                    os.symlink(folder.resolve(), staging / pid, target_is_directory=True)
                else:
                    shutil.copytree(folder, staging / pid)
        write_manifest(staging, plan.manifest)
    log.info("merged %d patients into %s", len(plan.manifest.patients), plan.out)
    return plan.out
