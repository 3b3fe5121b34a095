"""``mrsisr predict --uncertainty/--sd/--precision/--report``: the files and their contents."""

from __future__ import annotations

import csv
import json
import re

import nibabel as nib
import numpy as np
import pytest
from test_predict import N_LR, OUT, SLICES, lr_affine, one_map, patient, predict

from mrsisr import kspace
from tiny_model import save

__all__ = ["patient"]  # the fixture of test_predict used here (model_file: conftest)


def _load(path):
    img = nib.load(str(path))
    return np.asarray(img.dataobj, dtype=np.float64), img


def _consistent(out: np.ndarray, lr: np.ndarray) -> None:
    for s in range(SLICES):
        np.testing.assert_allclose(kspace.degrade(out[:, :, s], N_LR), lr[:, :, s], atol=1e-4)


@pytest.mark.slow
def test_tta_writes_one_sd_per_lambda_beside_each_output(model_file, patient, tmp_path, capsys):
    out = tmp_path / "sr_Gln.nii.gz"
    # on the tiny model's own grid, where its self-check keeps some of its detail (on the
    # default 102 x 64 it keeps none: every TTA variant is then zero-filling, SD 0)
    args = one_map(patient, out, "--sharpness", "0", "0.05", "--uncertainty", "tta")
    assert predict(model_file, *args, "--grid", "32", "32") == 0
    printed = capsys.readouterr().out.split()
    lr, _ = _load(patient["Gln"])
    for lam in ("0", "0.05"):
        sr, img = _load(tmp_path / f"sr_Gln_lam{lam}.nii.gz")
        sd, sd_img = _load(tmp_path / f"sr_Gln_lam{lam}_sd.nii.gz")
        assert str(tmp_path / f"sr_Gln_lam{lam}_sd.nii.gz") in printed
        assert sd.shape == sr.shape and np.allclose(sd_img.affine, img.affine)
        assert sd.min() >= 0 and sd.max() > 0
        assert sd_img.header["descrip"].item().decode() == f"mrsisr SD tta Gln n=16x12 lambda={lam}"
        _consistent(sr, lr)  # the TTA mean keeps the measurement exactly


@pytest.mark.slow
def test_fit_with_a_zero_sd_map_is_the_plain_prediction(model_file, patient, tmp_path):
    zero = save(tmp_path / "sd_Gln.nii.gz", np.zeros((*N_LR, SLICES)), lr_affine())
    plain, fit = tmp_path / "plain.nii.gz", tmp_path / "fit.nii.gz"
    assert predict(model_file, *one_map(patient, plain)) == 0
    assert (
        predict(
            model_file, *one_map(patient, fit, "--uncertainty", "fit", "--sd", zero, "--draws", "3")
        )
        == 0
    )
    np.testing.assert_allclose(_load(fit)[0], _load(plain)[0], atol=1e-5)
    assert _load(tmp_path / "fit_sd.nii.gz")[0].max() < 1e-6


@pytest.mark.slow
def test_fit_sd_grows_with_the_given_sd_and_is_seeded(model_file, patient, tmp_path):
    runs = {}
    for name, level, seed in (("a", 0.1, 0), ("b", 0.1, 0), ("c", 0.4, 0), ("d", 0.1, 1)):
        sd = save(tmp_path / f"sd_{name}.nii.gz", np.full((*N_LR, SLICES), level), lr_affine())
        out = tmp_path / f"{name}.nii.gz"
        args = one_map(patient, out, "--uncertainty", "fit", "--sd", sd, "--draws", "6")
        assert predict(model_file, *args, "--seed", str(seed)) == 0
        runs[name] = _load(tmp_path / f"{name}_sd.nii.gz")[0]
    assert np.array_equal(runs["a"], runs["b"])
    assert not np.array_equal(runs["a"], runs["d"])
    ratio = np.median(runs["c"][runs["a"] > 0] / runs["a"][runs["a"] > 0])
    assert 2.5 < ratio < 5.5  # 4 times the input SD: about 4 times the output SD


@pytest.mark.slow
def test_manifest_sd_column_and_a_stacked_sd(model_file, patient, tmp_path):
    sd = save(tmp_path / "sd.nii.gz", np.full((*N_LR, SLICES), 0.2), lr_affine())
    manifest = tmp_path / "batch.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "metabolite", "met", "t1", "flair", "sd"])
        writer.writerow(["P1", "Gln", patient["Gln"], patient["t1"], patient["flair"], sd])
    out = tmp_path / "out"
    args = ["--manifest", manifest, "--out", out, "--uncertainty", "fit", "--draws", "3"]
    assert predict(model_file, *args, "--sharpness", "0", "0.1", "--stack") == 0
    sr, _ = _load(out / "P1" / "sr_Gln.nii.gz")
    spread, img = _load(out / "P1" / "sr_Gln_sd.nii.gz")
    assert spread.shape == sr.shape == (*OUT, SLICES, 2)
    assert img.header["descrip"].item().decode().endswith("lambda=0, 0.1")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--uncertainty", "fit"), "--uncertainty fit: no SD map for"),
        (("--sd", "SD"), "--sd: SD maps are used by --uncertainty fit"),
        (("--uncertainty", "tta", "--sd", "SD"), "not tta"),
        (("--uncertainty", "fit", "--sd", "SD", "SD"), "--sd: 2 file(s) for 1"),
        (("--uncertainty", "fit", "--sd", "WRONG"), "differs from its map"),
        (("--uncertainty", "fit", "--sd", "NEG"), "negative values"),
        (("--uncertainty", "fit", "--sd", "SD", "--draws", "1"), "--draws: must be >= 2"),
    ],
)
def test_bad_uncertainty_arguments(model_file, patient, tmp_path, capsys, extra, message):
    files = {
        "SD": save(tmp_path / "sd.nii.gz", np.ones((*N_LR, SLICES)), lr_affine()),
        "WRONG": save(tmp_path / "wrong.nii.gz", np.ones((8, 8, SLICES)), lr_affine()),
        "NEG": save(tmp_path / "neg.nii.gz", -np.ones((*N_LR, SLICES)), lr_affine()),
    }
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [files.get(a, a) for a in extra]
    assert predict(model_file, *one_map(patient, out_dir / "sr.nii.gz", *args)) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err, err
    assert not any(out_dir.iterdir())


@pytest.mark.slow
def test_bf16_precision_stays_close_and_consistent(model_file, patient, tmp_path):
    fp32, bf16 = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    raw = ("--calibration", "none")  # the tiny model's detail would be calibrated away
    assert predict(model_file, *one_map(patient, fp32, *raw)) == 0
    assert predict(model_file, *one_map(patient, bf16, "--precision", "bf16", *raw)) == 0
    a, b = _load(fp32)[0], _load(bf16)[0]
    assert not np.array_equal(a, b)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    _consistent(b, _load(patient["Gln"])[0])


@pytest.mark.slow
def test_report_beside_the_outputs(model_file, patient, tmp_path, capsys):
    out = tmp_path / "sr"
    args = [
        "--met", patient["Gln"], patient["Glu"], "--t1", patient["t1"], "--flair",
        patient["flair"], "--out", out, "--sharpness", "0", "0.1", "--uncertainty", "tta",
        "--report",
    ]  # fmt: skip
    assert predict(model_file, *args) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1] == str(out / "report.html")
    page = (out / "report.html").read_text()
    payload = json.loads(
        re.search(r'id="mrsisr-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</")
    )
    assert [m["name"] for m in payload["maps"]] == ["Gln", "Glu"]
    assert all(m["sd_method"] == "tta" and m["lams"] == [0.0, 0.1] for m in payload["maps"])
    assert payload["t1"] is not None and payload["mask"] is not None
    assert "sha256" in page and str(patient["t1"]) in page
    for met in ("Gln", "Glu"):  # each map's self-check, from its sidecar
        row = re.search(rf"<th>self-check: {met}</th><td>([^<]*)</td>", page)
        assert row and " -&gt; " in row.group(1) and "over zero-filling" in row.group(1)
    single = tmp_path / "one.nii.gz"
    assert predict(model_file, *one_map(patient, single, "--report")) == 0
    assert (tmp_path / "one_report.html").is_file()
    assert predict(model_file, *one_map(patient, single, "--report")) == 2  # exists
