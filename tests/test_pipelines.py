"""Reading pipeline output folders: fixture folders in each tool's layout (docs/predict.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr import pipelines
from mrsisr.cli import main
from mrsisr.commands.predict import FLAGS
from mrsisr.errors import UserError, flags
from mrsisr.metabolites import Metabolite
from mrsisr.pipelines import (
    READERS,
    MapRecord,
    PipelineMaps,
    PipelineReader,
    QualityThresholds,
    read_pipeline,
)

SHAPE = (9, 7, 2)  # odd in-plane sizes, two slices
AFFINE = np.diag([6.0, 6.0, 10.0, 1.0])
RNG = np.random.default_rng(12)


def write(path: Path, data: np.ndarray | float, extensions: list | None = None) -> np.ndarray:
    """Write a float32 volume of SHAPE (a constant or an array) and return its values."""
    values = np.broadcast_to(np.asarray(data, dtype=np.float32), SHAPE).copy()
    img = nib.Nifti1Image(values, AFFINE)
    for ext in extensions or []:
        img.header.extensions.append(ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return values


def by_metabolite(records: tuple[MapRecord, ...]) -> dict[str, MapRecord]:
    return {r.metabolite.value: r for r in records}


def skipped_names(result) -> dict[str, str]:
    return {path.name: reason for path, reason in result.skipped}


# --- FSL-MRS -------------------------------------------------------------------------------

MHZ = 297.2  # 7 T: 0.15 ppm = 44.58 Hz


def fsl_mrsi_folder(root: Path, combined_tcr: bool = False, with_fit: bool = True) -> dict:
    """An ``fsl_mrsi --output root`` folder as fsl_mrs/scripts/fsl_mrsi.py writes it."""
    basis = ["Cr", "PCr", "PCho", "GPC", "NAA", "NAAG", "Gln", "Lac"]
    combined = ["PCho+GPC", *(["Cr+PCr"] if combined_tcr else [])]
    values = {}
    for scaling in ("raw", "internal", "molarity"):
        for met in basis + combined:
            values[scaling, met] = write(
                root / "concs" / scaling / f"{met}.nii.gz", RNG.uniform(1, 10, SHAPE)
            )
    for met in basis + combined:
        values["sd", met] = write(
            root / "uncertainties" / f"{met}_sd.nii.gz", RNG.uniform(1, 40, SHAPE)
        )
    for met in basis:  # QC maps exist for basis metabolites only
        values["snr", met] = write(root / "qc" / f"{met}_snr.nii.gz", RNG.uniform(0, 6, SHAPE))
        values["fwhm", met] = write(root / "qc" / f"{met}_fwhm.nii.gz", RNG.uniform(30, 60, SHAPE))
    if with_fit:
        header = json.dumps({"SpectrometerFrequency": [MHZ], "ResonantNucleus": ["1H"]})
        ext = nib.nifti1.Nifti1Extension(44, header.encode())
        write(root / "fit" / "fit.nii.gz", 0.0, [ext])
    return values


def test_fsl_mrs_reads_every_usable_map_and_says_what_it_skipped(tmp_path, caplog) -> None:
    values = fsl_mrsi_folder(tmp_path)
    with caplog.at_level(logging.INFO):
        result = read_pipeline("fsl-mrs", tmp_path)
    maps = by_metabolite(result.maps)
    assert set(maps) == {"tCho", "tCr", "NAA", "Gln"}
    # default scaling: molarity (mM); the combined choline, not its parts
    assert maps["Gln"].path == tmp_path / "concs" / "molarity" / "Gln.nii.gz"
    assert maps["Gln"].units == "mM"
    assert maps["tCho"].label == "PCho+GPC"
    # no Cr+PCr: Cr alone is read as tCr, with a note; PCr is skipped for Cr
    assert maps["tCr"].label == "Cr" and "trained on" in maps["tCr"].notes[0]
    assert maps["NAA"].label == "NAA" and maps["NAA"].notes
    skipped = skipped_names(result)
    assert {"PCr.nii.gz", "PCho.nii.gz", "GPC.nii.gz", "NAAG.nii.gz", "Lac.nii.gz"} <= set(skipped)
    assert "PCho+GPC" in skipped["PCho.nii.gz"] and "not a metabolite" in skipped["Lac.nii.gz"]
    assert "skipped concs/molarity/Lac.nii.gz" in caplog.text
    assert "trained on" in caplog.text
    # the SD map is handed on, in percent of the map: sd_map() gives it in the map's units
    assert maps["Gln"].sd == tmp_path / "uncertainties" / "Gln_sd.nii.gz"
    np.testing.assert_allclose(
        maps["Gln"].sd_map(), values["sd", "Gln"] / 100 * values["molarity", "Gln"], rtol=1e-6
    )


def test_fsl_mrs_quality_mask_is_the_paper_filter_on_the_pipeline_qc(tmp_path) -> None:
    values = fsl_mrsi_folder(tmp_path)
    sd = values["sd", "Gln"]
    sd[0, 0, 0] = 999.0  # FSL-MRS's mark of an undetermined uncertainty
    write(tmp_path / "uncertainties" / "Gln_sd.nii.gz", sd)
    maps = by_metabolite(read_pipeline("fsl-mrs", tmp_path).maps)

    def passes(met: str) -> np.ndarray:
        return (values["snr", met] >= 2.5) & (values["fwhm", met] <= 0.15 * MHZ)

    np.testing.assert_array_equal(maps["Gln"].quality, passes("Gln") & (sd < 999))
    assert not maps["Gln"].quality[0, 0, 0]
    assert "Gln_snr.nii.gz >= 2.5" in maps["Gln"].quality_source
    assert "0.15 ppm at 297.2 MHz" in maps["Gln"].quality_source
    # a combined map passes where one of its parts does
    np.testing.assert_array_equal(maps["tCho"].quality, passes("PCho") | passes("GPC"))
    assert maps["tCho"].quality_source.startswith("((PCho_snr.nii.gz >= 2.5 and PCho_fwhm")
    assert maps["tCho"].quality_source.endswith(") and PCho+GPC_sd.nii.gz < 999 %")
    # the paper's filter keeps some voxels and drops others here, so the test can fail
    assert 0 < maps["Gln"].quality.sum() < maps["Gln"].quality.size


def test_fsl_mrs_crlb_threshold_is_an_option(tmp_path) -> None:
    values = fsl_mrsi_folder(tmp_path)
    th = QualityThresholds(crlb_max=20.0)
    gln = by_metabolite(read_pipeline("fsl-mrs", tmp_path, thresholds=th).maps)["Gln"]
    expected = (
        (values["snr", "Gln"] >= 2.5)
        & (values["fwhm", "Gln"] <= 0.15 * MHZ)
        & (values["sd", "Gln"] <= 20.0)
    )
    np.testing.assert_array_equal(gln.quality, expected)


def test_fsl_mrs_total_creatine_is_preferred_to_creatine_alone(tmp_path) -> None:
    fsl_mrsi_folder(tmp_path, combined_tcr=True)
    result = read_pipeline("fsl-mrs", tmp_path, scaling="raw")
    tcr = by_metabolite(result.maps)["tCr"]
    assert tcr.label == "Cr+PCr" and not tcr.notes
    assert tcr.units == "arbitrary units"
    assert "Cr+PCr is the total" in skipped_names(result)["Cr.nii.gz"]


def test_fsl_mrs_without_the_spectrometer_frequency_skips_the_fwhm_limit(tmp_path) -> None:
    values = fsl_mrsi_folder(tmp_path, with_fit=False)
    result = read_pipeline("fsl-mrs", tmp_path)
    gln = by_metabolite(result.maps)["Gln"]
    np.testing.assert_array_equal(gln.quality, values["snr", "Gln"] >= 2.5)
    assert "FWHM in Hz" in skipped_names(result)["fit"]


@pytest.mark.parametrize(
    ("scaling", "message"),
    [("internal", "ratio to the internal reference"), ("molality", "accepted here: molarity, raw"),
     ("percent", "accepted here")],
)  # fmt: skip
def test_fsl_mrs_bad_scaling_is_refused(tmp_path, scaling: str, message: str) -> None:
    fsl_mrsi_folder(tmp_path)
    with pytest.raises(UserError, match=f"^scaling {scaling}: .*{message}"):
        read_pipeline("fsl-mrs", tmp_path, scaling=scaling)


# --- Vienna 7T pipeline --------------------------------------------------------------------


def vienna_folder(root: Path) -> dict:
    """``Part2_EvaluateMRSI.sh -N Nifti`` output (korbinian90/mrsi_pipeline_neurodesk)."""
    maps = root / "maps"
    values = {}
    for met in ("GPC+PCh", "Cr+PCr", "NAA+NAAG", "Gln", "Ins", "MM_mea"):
        values["amp", met] = write(maps / "Orig" / f"{met}_amp_map.nii", RNG.uniform(1, 9, SHAPE))
        values["sd", met] = write(maps / "Orig" / f"{met}_sd_map.nii", RNG.uniform(2, 60, SHAPE))
    write(maps / "Orig" / "Gln_amp_map_interpol.nii", 1.0)  # a .mncc resampled copy
    write(maps / "Ratio" / "Gln_RatToCr+PCr_map.nii", 1.0)
    write(maps / "QualityAndOutlier_Clip" / "Gln_amp_map.nii", 1.0)
    values["snr"] = write(maps / "Extra" / "SNR_map.nii", RNG.uniform(0, 8, SHAPE))
    values["fwhm"] = write(maps / "Extra" / "FWHM_map.nii", RNG.uniform(0.05, 0.25, SHAPE))
    values["mask"] = write(maps / "mask.nii", RNG.uniform(0, 1, SHAPE) > 0.3)
    return values


def test_vienna_reads_orig_maps_with_their_sd_and_the_spectrum_qc(tmp_path, caplog) -> None:
    values = vienna_folder(tmp_path)
    with caplog.at_level(logging.INFO):
        result = read_pipeline("vienna", tmp_path)
    maps = by_metabolite(result.maps)
    assert set(maps) == {"tCho", "tCr", "NAA", "Gln", "Ins"}
    gln = maps["Gln"]
    assert gln.path == tmp_path / "maps" / "Orig" / "Gln_amp_map.nii"
    assert gln.sd == tmp_path / "maps" / "Orig" / "Gln_sd_map.nii" and gln.sd_percent
    assert gln.brain_mask == tmp_path / "maps" / "mask.nii"
    np.testing.assert_array_equal(gln.quality, (values["snr"] >= 2.5) & (values["fwhm"] <= 0.15))
    assert 0 < gln.quality.sum() < gln.quality.size
    skipped = skipped_names(result)
    assert "resampled" in skipped["Gln_amp_map_interpol.nii"]
    assert "ratio" in skipped["Ratio"] and "not a metabolite" in skipped["MM_mea_amp_map.nii"]
    assert "skipped maps/Ratio: ratio maps" in caplog.text


def test_vienna_crlb_option_uses_the_lcmodel_sd_percent(tmp_path) -> None:
    values = vienna_folder(tmp_path)
    th = QualityThresholds(crlb_max=40.0)
    maps = by_metabolite(read_pipeline("vienna", tmp_path / "maps", thresholds=th).maps)
    expected = (values["snr"] >= 2.5) & (values["fwhm"] <= 0.15) & (values["sd", "Cr+PCr"] <= 40)
    np.testing.assert_array_equal(maps["tCr"].quality, expected)


def test_vienna_minc_only_output_is_refused_with_the_remedy(tmp_path) -> None:
    (tmp_path / "maps" / "Orig").mkdir(parents=True)
    (tmp_path / "maps" / "Orig" / "Gln_amp_map.mnc").write_bytes(b"minc")
    with pytest.raises(UserError, match="-N Nifti"):
        read_pipeline("vienna", tmp_path)


# --- MRSIPrep ------------------------------------------------------------------------------


def mrsiprep_folder(root: Path) -> dict:
    """A BIDS root with ``derivatives/mrsi-orig`` as mrsiprep/io/bids.py looks for it."""
    values = {}
    for sub, ses in (("01", "1"), ("02", None)):
        prefix = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
        folder = root / "derivatives" / "mrsi-orig" / f"sub-{sub}" / (f"ses-{ses}" if ses else "")
        for met in ("NAANAAG", "GPCPCh", "CrPCr", "GluGln", "Ins", "water"):
            values[sub, met] = write(
                folder / f"{prefix}_space-orig_met-{met}_desc-signal_mrsi.nii.gz",
                RNG.uniform(1, 9, SHAPE),
            )
            values[sub, "crlb", met] = write(
                folder / f"{prefix}_space-orig_met-{met}_desc-crlb_mrsi.nii.gz",
                RNG.uniform(2, 40, SHAPE),
            )
        values[sub, "snr"] = write(
            folder / f"{prefix}_space-orig_desc-snr_mrsi.nii.gz", RNG.uniform(0, 8, SHAPE)
        )
        values[sub, "fwhm"] = write(
            folder / f"{prefix}_space-orig_desc-fwhm_mrsi.nii.gz", RNG.uniform(0.05, 0.25, SHAPE)
        )
        write(folder / f"{prefix}_space-orig_desc-brainmask_mrsi.nii.gz", 1.0)
        write(folder / f"{prefix}_space-mni_met-Ins_desc-signal_mrsi.nii.gz", 1.0)
    return values


def test_mrsiprep_reads_every_subject_with_run_together_labels(tmp_path) -> None:
    values = mrsiprep_folder(tmp_path)
    result = read_pipeline("mrsiprep", tmp_path)
    found = {(r.subject, r.session, r.metabolite.value, r.label) for r in result.maps}
    for sub, ses in (("01", "1"), ("02", "")):
        assert {(sub, ses, "NAA", "NAANAAG"), (sub, ses, "tCho", "GPCPCh")} <= found
        assert {(sub, ses, "tCr", "CrPCr"), (sub, ses, "Ins", "Ins")} <= found
    assert len(result.maps) == 8  # GluGln and water are not metabolites of the model
    record = next(r for r in result.maps if r.subject == "01" and r.metabolite is Metabolite.tCr)
    assert (
        record.sd is not None
        and record.sd.name == "sub-01_ses-1_space-orig_met-CrPCr_desc-crlb_mrsi.nii.gz"
    )
    assert record.brain_mask is not None and "desc-brainmask" in record.brain_mask.name
    np.testing.assert_array_equal(
        record.quality, (values["01", "snr"] >= 2.5) & (values["01", "fwhm"] <= 0.15)
    )
    skipped = skipped_names(result)
    assert (
        "not a metabolite" in skipped["sub-01_ses-1_space-orig_met-GluGln_desc-signal_mrsi.nii.gz"]
    )
    assert "space-mni" in skipped["sub-02_space-mni_met-Ins_desc-signal_mrsi.nii.gz"]


def test_mrsiprep_crlb_threshold_uses_each_metabolite_crlb(tmp_path) -> None:
    values = mrsiprep_folder(tmp_path)
    result = read_pipeline("mrsiprep", tmp_path, thresholds=QualityThresholds(crlb_max=20.0))
    record = next(r for r in result.maps if r.subject == "02" and r.metabolite is Metabolite.Ins)
    expected = (
        (values["02", "snr"] >= 2.5)
        & (values["02", "fwhm"] <= 0.15)
        & (values["02", "crlb", "Ins"] <= 20.0)
    )
    np.testing.assert_array_equal(record.quality, expected)


# --- refusals common to every reader -------------------------------------------------------


def test_unknown_pipeline_missing_folder_and_empty_folder_are_refused(tmp_path) -> None:
    with pytest.raises(UserError, match=r"^pipeline lcmodel: unknown pipeline; known: fsl-mrs"):
        read_pipeline("lcmodel", tmp_path)
    with pytest.raises(UserError, match="not a folder"):
        read_pipeline("mrsiprep", tmp_path / "missing")
    with pytest.raises(UserError, match="no concentration map of a known metabolite"):
        read_pipeline("mrsiprep", tmp_path)
    with pytest.raises(UserError, match="no concs/ folder"):
        read_pipeline("fsl-mrs", tmp_path)
    with pytest.raises(UserError, match=r"^scaling: only for pipeline fsl-mrs"):
        read_pipeline("vienna", tmp_path, scaling="raw")


def test_qc_maps_on_another_grid_are_skipped_not_used(tmp_path) -> None:
    vienna_folder(tmp_path)
    img = nib.Nifti1Image(np.ones((4, 4, 2), np.float32), AFFINE)
    nib.save(img, str(tmp_path / "maps" / "Extra" / "SNR_map.nii"))
    result = read_pipeline("vienna", tmp_path)
    gln = by_metabolite(result.maps)["Gln"]
    assert "SNR_map" not in gln.quality_source and "FWHM_map.nii <= 0.15" in gln.quality_source
    assert "not the map's" in skipped_names(result)["SNR_map.nii"]


def test_mrsiprep_finds_each_subject_t1_and_flair_in_the_raw_bids_folders(tmp_path) -> None:
    mrsiprep_folder(tmp_path)
    anat1 = tmp_path / "sub-01" / "ses-1" / "anat"
    write(anat1 / "sub-01_ses-1_T1w.nii.gz", 1.0)
    write(anat1 / "sub-01_ses-1_desc-brain_T1w.nii.gz", 1.0)  # a derivative: not raw
    write(anat1 / "sub-01_ses-1_FLAIR.nii.gz", 1.0)
    anat2 = tmp_path / "sub-02" / "anat"
    write(anat2 / "sub-02_run-01_T1w.nii.gz", 1.0)
    write(anat2 / "sub-02_run-02_T1w.nii.gz", 1.0)
    # read from the derivatives folder: the BIDS root is found above it
    result = read_pipeline("mrsiprep", tmp_path / "derivatives" / "mrsi-orig")
    first = next(r for r in result.maps if r.subject == "01")
    assert first.t1 == anat1 / "sub-01_ses-1_T1w.nii.gz"
    assert first.flair == anat1 / "sub-01_ses-1_FLAIR.nii.gz"
    second = next(r for r in result.maps if r.subject == "02")
    assert second.t1 is None and second.flair is None  # two T1w: the user chooses
    assert "give t1w" not in str(result.skipped)
    assert "several T1w images; give t1" in skipped_names(result)["sub-02_run-01_T1w.nii.gz"]


# --- issue 27 and issue 23 part 5: hostile folders, filtered maps, bad limits ---------------


def test_broken_links_and_files_that_are_not_nifti_are_skipped_with_a_reason(
    tmp_path, caplog
) -> None:
    vienna_folder(tmp_path)
    orig = tmp_path / "maps" / "Orig"
    (orig / "Glu_amp_map.nii").symlink_to(orig / "absent.nii")  # dangling
    (orig / "Lac_amp_map.nii").symlink_to(orig / "Lac_amp_map.nii")  # loops on itself
    (orig / "Ins_amp_map.nii").write_bytes(b"not a NIfTI file")  # named like a map
    (orig / "Gln_sd_map.nii").write_bytes(b"nor this SD map")
    (tmp_path / "maps" / "Extra" / "FWHM_map.nii").write_bytes(b"nor this QC map")
    with caplog.at_level(logging.INFO):
        result = read_pipeline("vienna", tmp_path)
    skipped = skipped_names(result)
    assert "to nothing" in skipped["Glu_amp_map.nii"]
    assert "loops" in skipped["Lac_amp_map.nii"]
    assert "not a readable NIfTI file" in skipped["Ins_amp_map.nii"]
    assert "QC criterion is not applied" in skipped["FWHM_map.nii"]
    assert "skipped maps/Orig/Glu_amp_map.nii" in caplog.text
    assert set(by_metabolite(result.maps)) == {"tCho", "tCr", "NAA", "Gln"}
    gln = by_metabolite(result.maps)["Gln"]
    assert "FWHM" not in gln.quality_source  # the SNR criterion alone


def test_a_self_looping_mrsiprep_map_is_skipped(tmp_path) -> None:
    mrsiprep_folder(tmp_path)
    folder = tmp_path / "derivatives" / "mrsi-orig" / "sub-02"
    loop = folder / "sub-02_space-orig_met-Ins_desc-signal_mrsi.nii.gz"
    loop.unlink()
    loop.symlink_to(loop)
    result = read_pipeline("mrsiprep", tmp_path)
    assert "loops" in skipped_names(result)[loop.name]
    assert not any(r.subject == "02" and r.metabolite is Metabolite.Ins for r in result.maps)


def test_mrsiprep_reads_the_measured_map_not_a_filtered_one_unless_asked(tmp_path) -> None:
    values = mrsiprep_folder(tmp_path)
    folder = tmp_path / "derivatives" / "mrsi-orig" / "sub-02"
    filtered = folder / "sub-02_space-orig_met-Ins_desc-signal_filtbiharmonic_mrsi.nii.gz"
    write(filtered, values["02", "Ins"] * 0.5)
    result = read_pipeline("mrsiprep", tmp_path)
    ins = next(r for r in result.maps if r.subject == "02" and r.metabolite is Metabolite.Ins)
    assert ins.path.name == "sub-02_space-orig_met-Ins_desc-signal_mrsi.nii.gz"
    reason = skipped_names(result)[filtered.name]
    assert "not a k-space truncation" in reason and "variant filtbiharmonic reads it" in reason
    chosen = read_pipeline("mrsiprep", tmp_path, variant="filtbiharmonic")
    (ins,) = (r for r in chosen.maps if r.subject == "02")
    assert ins.path == filtered and any("not a k-space truncation" in n for n in ins.notes)
    assert (
        "the measured map"
        in skipped_names(chosen)["sub-02_space-orig_met-Ins_desc-signal_mrsi.nii.gz"]
    )
    with pytest.raises(UserError, match=r"^variant: only for pipeline mrsiprep"):
        read_pipeline("vienna", tmp_path, variant="filtbiharmonic")


@pytest.mark.parametrize(
    ("thresholds", "option"),
    [
        (QualityThresholds(snr_min=float("nan")), "snr_min"),
        (QualityThresholds(snr_min=-1.0), "snr_min"),
        (QualityThresholds(fwhm_max_ppm=-1.0), "fwhm_max_ppm"),
        (QualityThresholds(fwhm_max_ppm=0.0), "fwhm_max_ppm"),
        (QualityThresholds(fwhm_max_ppm=float("inf")), "fwhm_max_ppm"),
        (QualityThresholds(crlb_max=float("nan")), "crlb_max"),
        (QualityThresholds(crlb_max=-5.0), "crlb_max"),
    ],
)
def test_qc_limits_that_no_map_can_be_compared_with_are_refused(
    tmp_path, thresholds: QualityThresholds, option: str
) -> None:
    vienna_folder(tmp_path)
    with pytest.raises(UserError, match=f"^{option} "):
        read_pipeline("vienna", tmp_path, thresholds=thresholds)
    QualityThresholds(snr_min=0.0, crlb_max=0.5).check()  # the edges that are accepted


@pytest.mark.parametrize("mhz", ["NaN", "Infinity", "-297.2", "0"])
def test_an_invalid_spectrometer_frequency_is_no_frequency(tmp_path, mhz: str) -> None:
    fsl_mrsi_folder(tmp_path, with_fit=False)
    header = '{"SpectrometerFrequency": [' + mhz + "]}"
    write(tmp_path / "fit" / "fit.nii.gz", 0.0, [nib.nifti1.Nifti1Extension(44, header.encode())])
    result = read_pipeline("fsl-mrs", tmp_path)
    assert "no valid spectrometer frequency" in skipped_names(result)["fit"]
    gln = by_metabolite(result.maps)["Gln"]
    assert "fwhm" not in gln.quality_source and "snr" in gln.quality_source.lower()


def test_infinite_qc_values_fail_the_quality_mask(tmp_path) -> None:
    values = vienna_folder(tmp_path)
    snr, fwhm = values["snr"].copy(), values["fwhm"].copy()
    snr[:] = 5.0
    fwhm[:] = 0.1
    snr[0, 0, 0] = np.inf  # passes ">= 2.5" but is no measurement
    fwhm[1, 1, 1] = -np.inf  # passes "<= 0.15" but is no measurement
    write(tmp_path / "maps" / "Extra" / "SNR_map.nii", snr)
    write(tmp_path / "maps" / "Extra" / "FWHM_map.nii", fwhm)
    quality = by_metabolite(read_pipeline("vienna", tmp_path).maps)["Gln"].quality
    assert not quality[0, 0, 0] and not quality[1, 1, 1]
    assert quality.sum() == quality.size - 2


def test_sd_map_converts_percent_to_the_map_units(tmp_path) -> None:
    values = vienna_folder(tmp_path)
    gln = by_metabolite(read_pipeline("vienna", tmp_path).maps)["Gln"]
    np.testing.assert_allclose(
        gln.sd_map(), values["sd", "Gln"] / 100 * values["amp", "Gln"], rtol=1e-6
    )
    absolute = MapRecord(gln.path, gln.metabolite, gln.label, gln.units, gln.sd, sd_percent=False)
    np.testing.assert_allclose(absolute.sd_map(), values["sd", "Gln"], rtol=1e-6)


# --- the registry: one module and one line per reader --------------------------------------


def test_a_reader_in_the_registry_is_read_by_name_with_the_options_it_takes(
    tmp_path, monkeypatch
) -> None:
    """read_pipeline dispatches on READERS alone: a reader added there is read by its name,
    given the options it declares, refused the others, and named where its option is."""
    calls = []

    def read(folder: Path, th: QualityThresholds, variant: str | None = None) -> PipelineMaps:
        calls.append((folder, th, variant))
        record = MapRecord(tmp_path / "NAA.nii.gz", Metabolite.NAA, "NAA", "mM")
        return PipelineMaps((record,), ((tmp_path / "x.nii", "not a map"),))

    toy = PipelineReader("toy", read, options={"variant": "its toy maps"})
    monkeypatch.setattr(pipelines, "READERS", {**READERS, "toy": toy})
    result = read_pipeline("toy", tmp_path, variant="v1", thresholds=QualityThresholds(3.0))
    assert calls == [(tmp_path, QualityThresholds(3.0), "v1")]
    assert [r.pipeline for r in result.maps] == ["toy"]
    assert read_pipeline("toy", tmp_path).maps and calls[-1][2] is None
    with pytest.raises(UserError, match=r"^scaling: only for pipeline fsl-mrs \(FSL-MRS's"):
        read_pipeline("toy", tmp_path, scaling="raw")
    with pytest.raises(UserError, match=r"^variant: only for pipeline mrsiprep or pipeline toy"):
        read_pipeline("vienna", tmp_path, variant="x")
    with pytest.raises(UserError, match=r"known: fsl-mrs, vienna, mrsiprep, toy$"):
        read_pipeline("lcmodel", tmp_path)


def test_the_command_line_and_the_docs_list_the_readers_of_the_registry(capsys) -> None:
    """--from's help, docs/predict.md and the README name the readers of READERS, in order."""
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert f"PIPELINE: {', '.join(READERS)}" in " ".join(capsys.readouterr().out.split())
    root = Path(__file__).resolve().parents[1]
    for doc in (root / "docs" / "predict.md", root / "README.md"):
        assert f"`--from {'|'.join(READERS)} DIR`" in doc.read_text(encoding="utf-8"), doc


def test_under_mrsisr_predict_the_messages_name_its_flags(tmp_path, caplog) -> None:
    """The library names its arguments; ``mrsisr predict`` gives them its flags (FLAGS), so
    the user reads what they typed: errors, skip reasons and the log alike."""
    mrsiprep_folder(tmp_path)
    write(tmp_path / "sub-02" / "anat" / "sub-02_run-01_T1w.nii.gz", 1.0)
    write(tmp_path / "sub-02" / "anat" / "sub-02_run-02_T1w.nii.gz", 1.0)
    with flags(FLAGS), caplog.at_level(logging.INFO, logger="mrsisr.pipelines"):
        result = read_pipeline("mrsiprep", tmp_path)
        with pytest.raises(UserError, match=r"^--from lcmodel: unknown pipeline"):
            read_pipeline("lcmodel", tmp_path)
        with pytest.raises(UserError, match=r"^--scaling: only for --from fsl-mrs \(FSL"):
            read_pipeline("mrsiprep", tmp_path, scaling="raw")
        with pytest.raises(UserError, match=r"^--map-variant: only for --from mrsiprep"):
            read_pipeline("vienna", tmp_path, variant="filtbiharmonic")
        with pytest.raises(UserError, match=r"^--map-variant 'a_b': give the letters"):
            read_pipeline("mrsiprep", tmp_path, variant="a_b")
        with pytest.raises(UserError, match=r"^--qc-crlb-max nan: give a finite percentage"):
            QualityThresholds(crlb_max=float("nan")).check()
    assert "several T1w images; give --t1" in skipped_names(result)["sub-02_run-01_T1w.nii.gz"]
    assert "--from mrsiprep: sub-01" in caplog.text
    with pytest.raises(UserError, match=r"^pipeline lcmodel: "):  # the flags end with the block
        read_pipeline("lcmodel", tmp_path)
