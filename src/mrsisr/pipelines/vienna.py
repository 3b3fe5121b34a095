"""Output folders of the Vienna 7T pipeline (the reader ``vienna``).

The layout of ``Part2_EvaluateMRSI.sh -N Nifti`` (korbinian90/mrsi_pipeline_neurodesk)::

    DIR/maps/Orig/<Met>_amp_map.nii       LCModel amplitudes (GPC+PCh, Cr+PCr, NAA+NAAG, …)
    DIR/maps/Orig/<Met>_sd_map.nii        LCModel %SD (CRLB in percent)
    DIR/maps/Orig/<Met>_crlb_map.nii      CRLB in percent (the deep-learning fitting route)
    DIR/maps/Extra/SNR_map.nii            spectrum SNR (or SNR_{NAA,Cr}_PseudoReplica_…)
    DIR/maps/Extra/FWHM_map.nii           spectrum FWHM in ppm
    DIR/maps/mask.nii                     brain mask on the MRSI grid
    DIR/maps/Ratio/, Outlier_Clip/, …     ratios and clipped copies: not read

  The pipeline's own masking script keeps SNR > 2.5, FWHM < 0.15 ppm and CRLB < 40 %.
"""

from __future__ import annotations

from pathlib import Path

from mrsisr.errors import UserError, argument
from mrsisr.metabolites import NotAConcentration, metabolite_from_filename, normalise_name
from mrsisr.pipelines._common import (
    QC,
    Candidate,
    MapRecord,
    PipelineMaps,
    PipelineReader,
    QualityThresholds,
    choose,
    find_nifti,
    load_values,
    nifti_files,
    nifti_stem,
    spectrum_checks,
)

__all__ = ["READER", "read"]

_VIENNA_SNR_MAPS = (
    "SNR_map",
    "SNR_NAA_PseudoReplica_spectral_map",
    "SNR_Cr_PseudoReplica_spectral_map",
)
_VIENNA_NOT_READ = {
    "Ratio": "ratio maps",
    "Ratio_New": "ratio maps",
    "Outlier_Clip": "clipped copies of maps/Orig",
    "QualityAndOutlier_Clip": "masked and clipped copies of maps/Orig (the QC is applied here "
    "as a mask instead)",
}


def read(folder: Path, th: QualityThresholds) -> PipelineMaps:
    """Every LCModel amplitude map of a ``Part2_EvaluateMRSI.sh`` output folder."""
    maps = folder / "maps" if (folder / "maps").is_dir() else folder
    orig = maps / "Orig"
    if not orig.is_dir():
        raise UserError(
            f"{argument('pipeline')} vienna {folder}: no maps/Orig folder; give the output "
            "folder of "
            "Part2_EvaluateMRSI.sh"
        )
    skipped: list[tuple[Path, str]] = []
    files = nifti_files(orig, skipped)
    if not files and not skipped:
        raise UserError(
            f"{argument('pipeline')} vienna {orig}: no NIfTI maps; run Part2_EvaluateMRSI.sh "
            "with -N Nifti "
            "(or convert the .mnc files with mnc2nii)"
        )
    skipped += [
        (maps / name, why) for name, why in _VIENNA_NOT_READ.items() if (maps / name).is_dir()
    ]
    candidates = []
    for path in files:
        stem = nifti_stem(path)
        if stem.endswith(("_sd_map", "_crlb_map")):
            continue  # read with their map
        if stem.endswith("_interpol"):
            skipped.append(
                (path, "resampled by the pipeline; the map at the acquisition grid is used")
            )
            continue
        if not stem.endswith("_amp_map"):
            skipped.append((path, "not an amplitude map (<Met>_amp_map)"))
            continue
        label = stem[: -len("_amp_map")]
        try:
            metabolite_from_filename(path)  # refuses ratio-like names such as <Met>_RatTo…
        except NotAConcentration as err:
            skipped.append((path, str(err)))
            continue
        except ValueError:
            pass  # judged by its label
        try:
            candidates.append(Candidate(path, normalise_name(label)))
        except ValueError:
            skipped.append((path, f"{label} is not a metabolite the model knows"))
    extra = maps / "Extra"
    snr_path = next((p for p in (find_nifti(extra, s) for s in _VIENNA_SNR_MAPS) if p), None)
    brain = find_nifti(maps, "mask")
    records = []
    for c in choose(candidates, skipped):
        values = load_values(c.path)
        label = nifti_stem(c.path)[: -len("_amp_map")]
        sd = find_nifti(orig, f"{label}_sd_map")
        crlb = find_nifti(orig, f"{label}_crlb_map") or sd
        qc = QC(values.shape, skipped)
        quality, source = spectrum_checks(qc, snr_path, find_nifti(extra, "FWHM_map"), crlb, th)
        records.append(
            MapRecord(
                path=c.path,
                metabolite=c.match.metabolite,
                label=c.match.label,
                units="arbitrary units (LCModel amplitude)",
                sd=sd or crlb,
                sd_percent=True,
                quality=quality,
                quality_source=source,
                brain_mask=brain,
                notes=c.match.notes,
            )
        )
    return PipelineMaps(tuple(records), tuple(skipped))


READER = PipelineReader(
    name="vienna",
    read=read,
)
