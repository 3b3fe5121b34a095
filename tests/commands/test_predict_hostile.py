"""Issue 27, "never silently wrong, never lose data": ``mrsisr predict`` used as a careless or
hostile user would. Each case of the issue is a test here: a correct output, or one line
naming the option or file and what is accepted (exit 2, nothing written)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from test_predict_sources import (
    LR_AFFINE,
    N_LR,
    SLICES,
    anatomy,
    files_in,
    fsl_mrsi_folder,
    lr_map,
    predict,
    save,
)

from mrsisr.checkpoint import save_model
from tiny_model import TINY, perturbed_generator

__all__ = ["anatomy"]  # the fixture, imported for its use here

N_TRAINED = [16, 18, 20, 22, 24, 26, 28, 30, 32]


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory) -> Path:
    """The tiny model with the header of a trained one: n 16..32, λ 0..0.1."""
    path = tmp_path_factory.mktemp("trained") / "trained.safetensors"
    meta = {"n_choices": N_TRAINED, "lam_range": [0.0, 0.1]}
    save_model(path, perturbed_generator(), "full", TINY, meta)
    return path


def refused(code: int, capsys, *names: str | Path) -> str:
    """The one error line of a refused run, which names every one of ``names``."""
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def images(anatomy: dict[str, Path]) -> list[str | Path]:
    return ["--t1", anatomy["t1"], "--flair", anatomy["flair"]]


def load(path: Path) -> np.ndarray:
    return np.asarray(nib.load(str(path)).dataobj, dtype=np.float64)


# --- 1. silent wrong output ----------------------------------------------------------------


def test_fit_from_a_pipeline_reads_its_sd_in_percent_and_keeps_the_map(
    trained_model, anatomy, tmp_path
) -> None:
    """A 0.3 mM map with a 10 % SD: the SD written is about 0.03 mM, not 10 mM, and the map
    is the one written without --uncertainty."""
    folder = tmp_path / "fsl"
    save(folder / "concs" / "molarity" / "NAA.nii.gz", 0.1 * lr_map())  # median ~0.25 mM
    save(folder / "uncertainties" / "NAA_sd.nii.gz", np.full((*N_LR, SLICES), 10.0))
    base = ["--from", "fsl-mrs", folder, *images(anatomy)]
    assert predict(trained_model, *base, "--out", tmp_path / "plain") == 0
    assert predict(trained_model, *base, "--out", tmp_path / "fit", "--uncertainty", "fit") == 0
    plain, fit = (
        load(tmp_path / "plain" / "sr_NAA.nii.gz"),
        load(tmp_path / "fit" / "sr_NAA.nii.gz"),
    )
    np.testing.assert_array_equal(fit, plain)  # asking for an SD never changes the map
    sd = load(tmp_path / "fit" / "sr_NAA_sd.nii.gz")
    inside = load(tmp_path / "fit" / "mask.nii.gz") > 0
    assert 0.005 < np.median(sd[inside]) < 0.1  # 10 % of ~0.25 mM, propagated


def test_tta_keeps_the_map_too(model_file, anatomy, tmp_path) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    base = ["--met", met, *images(anatomy)]
    assert predict(model_file, *base, "--out", tmp_path / "a.nii.gz") == 0
    assert predict(model_file, *base, "--out", tmp_path / "b.nii.gz", "--uncertainty", "tta") == 0
    np.testing.assert_array_equal(load(tmp_path / "b.nii.gz"), load(tmp_path / "a.nii.gz"))


def test_an_sd_in_percent_given_as_absolute_is_refused_unless_sd_percent(
    model_file, anatomy, tmp_path, capsys
) -> None:
    met = save(tmp_path / "lr_NAA.nii.gz", 0.1 * lr_map())
    sd = save(tmp_path / "sd_NAA_percent.nii.gz", np.full((*N_LR, SLICES), 10.0))
    out = tmp_path / "out"
    args = ["--met", met, "--metabolite", "NAA", *images(anatomy), "--uncertainty", "fit",
            "--sd", sd, "--out", out / "sr.nii.gz"]  # fmt: skip
    line = refused(predict(model_file, *args), capsys, sd, "--sd-percent")
    assert "not a plausible SD" in line
    assert not out.exists()
    assert predict(model_file, *args, "--sd-percent") == 0
    assert np.median(load(out / "sr_sd.nii.gz")) < 0.1


# --- 2. data loss --------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["map", "t1", "folder", "symlink", "hardlink"])
def test_an_output_that_is_an_input_is_refused_even_with_overwrite(
    model_file, anatomy, tmp_path, capsys, target: str
) -> None:
    work = tmp_path / "work"
    met = save(work / "sr_Gln.nii.gz", lr_map())  # named like the output of a folder run
    t1 = work / "t1.nii.gz"
    t1.write_bytes(anatomy["t1"].read_bytes())
    out = {
        "map": met,
        "t1": t1,
        "folder": work,  # holds the input under the output's name sr_Gln.nii.gz
        "symlink": work / "link.nii.gz",
        "hardlink": work / "hard.nii.gz",
    }[target]
    if target == "symlink":
        out.symlink_to(met)
    elif target == "hardlink":
        os.link(met, out)
    before = {p: sha(p) for p in (met, t1)}
    args = ["--met", met, "--metabolite", "Gln", "--t1", t1, "--flair", anatomy["flair"]]
    line = refused(predict(model_file, *args, "--out", out, "--overwrite"), capsys)
    assert "is the input" in line and "even with --overwrite" in line
    assert {p: sha(p) for p in before} == before


# --- 3. accepted nonsense ------------------------------------------------------------------


@pytest.mark.parametrize("lam", ["1e9", "1", "0.2"])
def test_lambda_outside_the_trained_range_needs_force_sharpness(
    trained_model, anatomy, tmp_path, capsys, caplog, lam: str
) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    out = tmp_path / "out" / "sr.nii.gz"
    args = ["--met", met, *images(anatomy), "--out", out, "--sharpness", "0", lam]
    line = refused(predict(trained_model, *args), capsys, "--sharpness", "0 to 0.1")
    assert "--force-sharpness" in line and not out.parent.exists()
    with caplog.at_level(logging.WARNING):
        assert predict(trained_model, *args, "--force-sharpness") == 0
    assert "extrapolation" in caplog.text


def test_an_all_zero_t1_is_refused(model_file, anatomy, tmp_path, capsys) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    zero = save(tmp_path / "t1_zero.nii.gz", np.zeros((24, 24, 8)), np.diag([4, 4, 5, 1.0]))
    out = tmp_path / "out" / "sr.nii.gz"
    args = ["--met", met, "--t1", zero, "--flair", anatomy["flair"], "--out", out]
    assert "every voxel is 0" in refused(predict(model_file, *args), capsys, zero)
    assert not out.parent.exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--bids-subject", "01\n"), ("--bids-session", ".."), ("--bids-session", "1\n")],
)
def test_bids_labels_are_checked_and_named(
    model_file, anatomy, tmp_path, capsys, option: str, value: str
) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    args = ["--met", met, *images(anatomy), "--bids-out", tmp_path / "b"]
    extra = (
        [option, value] if option == "--bids-subject" else ["--bids-subject", "01", option, value]
    )
    line = refused(predict(model_file, *args, *extra), capsys, option)
    assert "letters and digits" in line and not (tmp_path / "b").exists()


def test_bids_out_with_one_map_writes_into_the_new_folder(model_file, anatomy, tmp_path) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    args = ["--met", met, *images(anatomy), "--bids-out", tmp_path / "new", "--bids-subject", "01"]
    assert predict(model_file, *args) == 0
    names = [p.name for p in files_in(tmp_path / "new")]
    assert "sub-01_space-orig_met-Gln_desc-srlam0_mrsi.nii.gz" in names


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not"), (json.dumps({"GeneratedBy": [{"Name": "MRSIPrep"}]}), "MRSIPrep")],
)
def test_a_bids_folder_of_another_dataset_is_refused(
    model_file, anatomy, tmp_path, capsys, content: str, message: str
) -> None:
    root = tmp_path / "b"
    root.mkdir()
    (root / "dataset_description.json").write_text(content, encoding="utf-8")
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    args = ["--met", met, *images(anatomy), "--bids-out", root, "--bids-subject", "01"]
    line = refused(predict(model_file, *args, "--overwrite"), capsys, "dataset_description.json")
    assert message in line and "--bids-out writes only into" in line
    assert [p.name for p in root.iterdir()] == ["dataset_description.json"]


@pytest.mark.parametrize("option", ["--out", "--bids-out"])
def test_an_empty_output_path_is_refused(
    model_file, anatomy, tmp_path, capsys, monkeypatch, option: str
) -> None:
    monkeypatch.chdir(tmp_path)
    met = save(tmp_path / "in" / "lr_Gln.nii.gz", lr_map())
    line = refused(predict(model_file, "--met", met, *images(anatomy), option, ""), capsys, option)
    assert "empty" in line and sorted(p.name for p in tmp_path.iterdir()) == ["in"]


# --- 4. tracebacks -------------------------------------------------------------------------


def test_maps_of_one_patient_on_different_grids_are_refused(
    model_file, anatomy, tmp_path, capsys
) -> None:
    """Same field of view, different sizes: the same output grid, another input grid."""
    gln = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    fine = LR_AFFINE @ np.diag([0.5, 0.5, 1.0, 1.0])
    glu = save(tmp_path / "lr_Glu.nii.gz", np.ones((32, 32, SLICES)), fine)
    out = tmp_path / "out"
    args = ["--met", gln, glu, *images(anatomy), "--out", out]
    line = refused(predict(model_file, *args), capsys, glu, "lr_Gln.nii.gz")
    assert "grid 32x32x2 differs" in line and "must share shape and affine" in line
    manifest = tmp_path / "batch.csv"
    manifest.write_text(
        "patient,metabolite,met,t1,flair\n"
        f"P1,Gln,{gln},{anatomy['t1']},{anatomy['flair']}\n"
        f"P1,Glu,{glu},{anatomy['t1']},{anatomy['flair']}\n",
        encoding="utf-8",
    )
    refused(predict(model_file, "--manifest", manifest, "--out", out), capsys, glu)
    folder = tmp_path / "fsl" / "concs" / "molarity"
    save(folder / "Gln.nii.gz", lr_map())
    save(folder / "Glu.nii.gz", np.ones((32, 32, SLICES)), fine)
    args = ["--from", "fsl-mrs", tmp_path / "fsl", *images(anatomy), "--out", out]
    refused(predict(model_file, *args), capsys, "Gln.nii.gz", "must share shape and affine")
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--seed", "-1"], "--seed"),
        (["--seed", "-1", "--uncertainty", "tta"], "--seed"),
        (["--draws", "100000"], "--draws"),
        (["--threads", "1000"], "--threads"),
        (["--sharpness", "0.03", "0.0300000001"], "--sharpness"),
        (["--sd-percent"], "--sd-percent"),
        (["--map-variant", "filtbiharmonic"], "--map-variant"),
    ],
)
def test_bad_run_options_are_refused_in_one_line(
    model_file, anatomy, tmp_path, capsys, extra: list[str], option: str
) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    out = tmp_path / "out"
    args = ["--met", met, *images(anatomy), "--out", out / "sr.nii.gz", *extra]
    refused(predict(model_file, *args), capsys, option)
    assert not out.exists()


# --- 5. messages that blame the wrong thing ------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--qc-snr-min", "nan"), ("--qc-fwhm-max", "-1"), ("--qc-crlb-max", "nan"),
     ("--qc-crlb-max", "-5"), ("--qc-fwhm-max", "inf")],
)  # fmt: skip
def test_qc_limits_are_checked_and_named(
    model_file, anatomy, tmp_path, capsys, option: str, value: str
) -> None:
    folder = fsl_mrsi_folder(tmp_path / "fsl", ("Gln",))
    args = ["--from", "fsl-mrs", folder, *images(anatomy), "--out", tmp_path / "o"]
    line = refused(predict(model_file, *args, option, value), capsys, option)
    assert "co-registered" not in line and not (tmp_path / "o").exists()


def test_an_sd_on_a_shifted_grid_says_it_is_shifted(model_file, anatomy, tmp_path, capsys):
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    shifted = LR_AFFINE.copy()
    shifted[0, 3] += 2.0
    sd = save(tmp_path / "sd.nii.gz", np.full((*N_LR, SLICES), 0.1), shifted)
    args = ["--met", met, *images(anatomy), "--uncertainty", "fit", "--sd", sd,
            "--out", tmp_path / "o" / "sr.nii.gz"]  # fmt: skip
    line = refused(predict(model_file, *args), capsys, sd)
    assert "shifted by up to 2 mm" in line


# --- issue 23, part 5 ----------------------------------------------------------------------


def test_a_bad_input_prints_its_one_line_before_the_model_is_loaded(
    trained_model, anatomy, tmp_path, capsys, caplog
) -> None:
    met = save(tmp_path / "lr_NAA.nii.gz", lr_map())
    bad = tmp_path / "t1.nii.gz"
    bad.write_text("not an image", encoding="utf-8")
    args = ["--met", met, "--metabolite", "NAA", "--t1", bad, "--flair", anatomy["flair"],
            "--out", tmp_path / "o" / "sr.nii.gz", "--threads", "1"]  # fmt: skip
    with caplog.at_level(logging.INFO):
        refused(predict(trained_model, *args), capsys, bad)
    assert caplog.records == []  # no thread count, no model line, no note for NAA


def test_the_extrapolation_warning_is_given_once_per_run(
    trained_model, anatomy, tmp_path, caplog
) -> None:
    small = LR_AFFINE @ np.diag([16 / 12, 16 / 12, 1.0, 1.0])
    mets = [save(tmp_path / f"lr_{m}.nii.gz", lr_map(i)[:12, :12], small)
            for i, m in enumerate(("Gln", "Glu", "Ins"))]  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert (
            predict(trained_model, "--met", *mets, *images(anatomy), "--out", tmp_path / "o") == 0
        )
    warnings = [r for r in caplog.records if "extrapolation" in r.getMessage()]
    assert len(warnings) == 1 and "3 map(s)" in warnings[0].getMessage()
