"""Read the metabolite maps that MRSI pipelines write, with their SD maps and their own QC.

``mrsisr predict`` reads a pipeline's output folder directly: :func:`read_pipeline` returns
one :class:`MapRecord` per concentration map it can use and says which files it skipped and
why (also in the log). One module per pipeline reads its layout, documented with the source
it was read from (the tools' code at the commits named in docs/predict.md); :data:`READERS`
names them:

* :mod:`~mrsisr.pipelines.fslmrs`: FSL-MRS ``fsl_mrsi`` (``fsl-mrs``).
* :mod:`~mrsisr.pipelines.vienna`: the Vienna 7T pipeline (``vienna``).
* :mod:`~mrsisr.pipelines.mrsiprep`: MRSIPrep's BIDS derivatives (``mrsiprep``).

What they share (records, the QC thresholds and the quality mask they make, finding files,
one map per metabolite, QC maps against limits) is in :mod:`~mrsisr.pipelines._common`. A new
reader is a module that defines ``READER`` (a :class:`PipelineReader`) and one line in
:data:`READERS`; the command line and a test of the docs read the names from there.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from mrsisr.errors import UserError, argument
from mrsisr.pipelines import fslmrs, mrsiprep, vienna
from mrsisr.pipelines._common import (
    MapRecord,
    PipelineMaps,
    PipelineReader,
    QualityThresholds,
    sd_in_map_units,
)

__all__ = [
    "READERS",
    "MapRecord",
    "PipelineMaps",
    "PipelineReader",
    "QualityThresholds",
    "read_pipeline",
    "sd_in_map_units",
]

log = logging.getLogger(__name__)

READERS: Mapping[str, PipelineReader] = MappingProxyType(
    {
        reader.name: reader
        for reader in (
            fslmrs.READER,
            vienna.READER,
            mrsiprep.READER,
        )
    }
)
"""The pipelines :func:`read_pipeline` reads, by name, in the order the command line lists
them."""
_PAPER_FILTER = QualityThresholds()


def _log_result(pipeline: str, folder: Path, result: PipelineMaps) -> None:
    pipeline = f"{argument('pipeline')} {pipeline}"
    for record in result.maps:
        where = f"sub-{record.subject} " if record.subject else ""
        where += f"ses-{record.session} " if record.session else ""
        log.info(
            "%s: %s%s <- %s (SD: %s; quality: %s)",
            pipeline,
            where,
            record.metabolite.value,
            record.path.relative_to(folder),
            record.sd.name if record.sd else "none",
            record.quality_source or "no pipeline QC",
        )
        for note in record.notes:
            log.info("%s: note: %s", pipeline, note)
    for path, reason in result.skipped:
        rel = path.relative_to(folder) if path.is_relative_to(folder) else path
        log.info("%s: skipped %s: %s", pipeline, rel, reason)


def _check_options(reader: PipelineReader, options: Mapping[str, str | None]) -> None:
    """Refuse an option the reader does not take, naming the readers that do."""
    for option, value in options.items():
        if value is None or option in reader.options:
            continue
        takers = [r for r in READERS.values() if option in r.options]
        names = " or ".join(f"{argument('pipeline')} {r.name}" for r in takers)
        raise UserError(f"{argument(option)}: only for {names} ({takers[0].options[option]})")


def read_pipeline(
    pipeline: str,
    folder: str | Path,
    *,
    scaling: str | None = None,
    thresholds: QualityThresholds = _PAPER_FILTER,
    variant: str | None = None,
) -> PipelineMaps:
    """Read every usable concentration map of a pipeline's output folder.

    Args:
        pipeline: a name of :data:`READERS` (``"fsl-mrs"``, ``"vienna"``, ``"mrsiprep"``).
        folder: the pipeline's output folder (see each reader's module for its layout).
        scaling: FSL-MRS only: the ``concs/`` sub-folder (default: molarity, else
            molality, else raw).
        thresholds: the QC filter for the quality masks.
        variant: MRSIPrep only: read the ``desc-signal_<variant>`` maps (e.g. the spatially
            filtered ``filtbiharmonic``) instead of the measured ``desc-signal`` ones.

    Returns:
        The maps (one per metabolite and subject) and the files skipped, with reasons;
        both are also logged.

    Raises:
        UserError: unknown pipeline, missing folder or layout, a bad ``scaling``,
            ``variant`` or threshold, or no usable map; the message names the folder or
            option and what is accepted.
    """
    reader = READERS.get(pipeline)
    if reader is None:
        known = ", ".join(READERS)
        raise UserError(f"{argument('pipeline')} {pipeline}: unknown pipeline; known: {known}")
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(
            f"{argument('pipeline')} {pipeline} {folder}: not a folder; give the pipeline's output"
        )
    options = {"scaling": scaling, "variant": variant}
    _check_options(reader, options)
    thresholds.check()
    given = {option: value for option, value in options.items() if value is not None}
    result = reader.read(folder, thresholds, **given)
    result = dataclasses.replace(
        result, maps=tuple(dataclasses.replace(r, pipeline=reader.name) for r in result.maps)
    )
    _log_result(reader.name, folder, result)
    if not result.maps:
        reasons = "; ".join(f"{p.name}: {r}" for p, r in result.skipped[:5]) or "no NIfTI files"
        raise UserError(
            f"{argument('pipeline')} {pipeline} {folder}: no concentration map of a known "
            "metabolite found "
            f"({reasons})"
        )
    return result
