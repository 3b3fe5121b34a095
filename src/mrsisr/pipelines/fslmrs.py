"""FSL-MRS ``fsl_mrsi`` output folders (the reader ``fsl-mrs``).

The layout, as ``fsl_mrs/scripts/fsl_mrsi.py`` (wtclarke/fsl_mrs) writes it::

    DIR/concs/<scaling>/<Met>.nii.gz      raw, internal, molarity, molality
    DIR/uncertainties/<Met>_sd.nii.gz     SD in percent of the concentration (capped at 999)
    DIR/qc/<Met>_snr.nii.gz               peak SNR, basis metabolites only
    DIR/qc/<Met>_fwhm.nii.gz              peak FWHM in Hz, basis metabolites only
    DIR/fit/fit.nii.gz                    NIfTI-MRS: its header gives the spectrometer MHz

  ``--combine PCho GPC`` writes ``PCho+GPC`` (the names joined in the order typed). There is
  no fit-failure map: values that are NaN, infinite or below 1e-10 are written as 0, and a
  NaN uncertainty as 999 %. ``internal`` holds ratios to the internal reference (Cr+PCr by
  default), so it is refused like any ratio map.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from mrsisr.errors import UserError, argument
from mrsisr.metabolites import normalise_name
from mrsisr.pipelines._common import (
    QC,
    Candidate,
    MapRecord,
    PipelineMaps,
    PipelineReader,
    QualityThresholds,
    all_of,
    any_of,
    choose,
    find_nifti,
    load_values,
    nifti_files,
    nifti_stem,
)

__all__ = ["FSL_MRS_SCALINGS", "READER", "read"]

log = logging.getLogger(__name__)

FSL_MRS_SCALINGS = {"molarity": "mM", "molality": "mmol/kg", "raw": "arbitrary units"}
"""The ``concs/`` sub-folders that hold concentrations, in the order of preference."""


def _spectrometer_mhz(folder: Path) -> float | None:
    """The spectrometer frequency (MHz) from the NIfTI-MRS header of ``fit/fit.nii.gz``."""
    import nibabel as nib

    path = find_nifti(folder / "fit", "fit")
    if path is None:
        return None
    try:
        header = nib.load(str(path)).header
        if not isinstance(header, nib.Nifti1Header):  # NIfTI-2 headers are NIfTI-1 ones
            return None
        for ext in header.extensions:
            if ext.get_code() == 44:  # NIfTI-MRS JSON header extension
                value = json.loads(ext.get_content()).get("SpectrometerFrequency")
                value = value[0] if isinstance(value, list) and value else value
                mhz = float(value)
                return mhz if math.isfinite(mhz) and mhz > 0 else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return None


def _fsl_scaling(folder: Path, scaling: str | None) -> tuple[str, Path]:
    concs = folder / "concs"
    if not concs.is_dir():
        raise UserError(
            f"{argument('pipeline')} fsl-mrs {folder}: no concs/ folder; give the --output "
            "folder of fsl_mrsi"
        )
    present = sorted(p.name for p in concs.iterdir() if p.is_dir())
    if scaling is None:
        scaling = next((s for s in FSL_MRS_SCALINGS if s in present), None)
        if scaling is None:
            raise UserError(f"{concs}: none of {', '.join(FSL_MRS_SCALINGS)} found")
        others = [s for s in present if s != scaling]
        if others:
            log.info(
                "%s fsl-mrs: using concs/%s (also there: %s; %s chooses)",
                argument("pipeline"),
                scaling,
                ", ".join(others),
                argument("scaling"),
            )
    elif scaling == "internal":
        raise UserError(
            f"{argument('scaling')} internal: FSL-MRS's internal scaling is a ratio to the "
            f"internal reference, not a concentration; choose {', '.join(FSL_MRS_SCALINGS)}"
        )
    elif scaling not in FSL_MRS_SCALINGS or scaling not in present:
        accepted = ", ".join(s for s in FSL_MRS_SCALINGS if s in present)
        raise UserError(
            f"{argument('scaling')} {scaling}: not in {concs}; accepted here: {accepted}"
        )
    return scaling, concs / scaling


def read(folder: Path, th: QualityThresholds, scaling: str | None = None) -> PipelineMaps:
    """Every concentration map of an ``fsl_mrsi`` output folder (``scaling``: the ``concs/``
    sub-folder; default molarity, else molality, else raw)."""
    scaling, concs = _fsl_scaling(folder, scaling)
    skipped: list[tuple[Path, str]] = []
    candidates = []
    for path in nifti_files(concs, skipped):
        try:
            candidates.append(Candidate(path, normalise_name(nifti_stem(path))))
        except ValueError:
            skipped.append((path, f"{nifti_stem(path)} is not a metabolite the model knows"))
    mhz = _spectrometer_mhz(folder)
    if mhz is None:
        skipped.append(
            (
                folder / "fit",
                "no valid spectrometer frequency (a positive number of MHz in the NIfTI-MRS "
                "header of fit/fit.nii.gz): "
                "FWHM in Hz cannot be compared with a limit in ppm, not applied",
            )
        )
    fwhm_hz = th.fwhm_max_ppm * mhz if mhz else 0.0
    fwhm_unit = f" Hz ({th.fwhm_max_ppm:g} ppm at {mhz:g} MHz)" if mhz else ""
    records = []
    for c in choose(candidates, skipped):
        values = load_values(c.path)
        qc = QC(values.shape, skipped)
        stem = nifti_stem(c.path)
        sd = find_nifti(folder / "uncertainties", f"{stem}_sd")
        # A combined map (PCho+GPC) has QC maps only for its parts: it passes where one does.
        parts = [
            all_of(
                [
                    qc.check(find_nifti(folder / "qc", f"{basis}_snr"), ">=", th.snr_min),
                    qc.check(
                        find_nifti(folder / "qc", f"{basis}_fwhm") if mhz else None,
                        "<=",
                        fwhm_hz,
                        fwhm_unit,
                    ),
                ]
            )
            for basis in stem.split("+")
        ]
        checks = [any_of(parts)]
        if sd is not None:
            # FSL-MRS writes 999 % where the uncertainty is undetermined (a failed fit).
            checks.append(qc.check(sd, "<", 999.0, " %"))
            if th.crlb_max is not None:
                checks.append(qc.check(sd, "<=", th.crlb_max, " %"))
        quality, source = all_of(checks)
        records.append(
            MapRecord(
                path=c.path,
                metabolite=c.match.metabolite,
                label=c.match.label,
                units=FSL_MRS_SCALINGS[scaling],
                sd=sd,
                sd_percent=True,
                quality=quality,
                quality_source=source,
                notes=c.match.notes,
            )
        )
    return PipelineMaps(tuple(records), tuple(skipped))


READER = PipelineReader(
    name="fsl-mrs",
    read=read,
    options={"scaling": "FSL-MRS's concs/ sub-folders"},
)
