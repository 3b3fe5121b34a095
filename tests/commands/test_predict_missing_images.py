"""``mrsisr predict`` with --t1 alone, --flair alone or neither (models with presence flags)."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.checkpoint import save_model
from mrsisr.cli import main
from mrsisr.nn.variants import build_generator
from tiny_model import GRID, TINY, perturbed_generator, save

N_LR = (16, 16)
SLICES = 3


@pytest.fixture(scope="module")
def flagged_model(tmp_path_factory) -> Path:
    """The tiny full model with presence flags, its weights perturbed so that the flags act."""
    path = tmp_path_factory.mktemp("model") / "flagged.safetensors"
    config = {**TINY, "presence": True}
    save_model(path, perturbed_generator(presence=True), "full", config, {"purpose": "tests"})
    return path


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "needs-both.safetensors"
    save_model(path, build_generator("full", **TINY), "full", TINY, {"purpose": "tests"})
    return path


@pytest.fixture(scope="module")
def patient(tmp_path_factory) -> dict[str, Path]:
    """A head-shaped map (zero outside) on a 6 mm grid; T1/FLAIR on the output grid."""
    folder = tmp_path_factory.mktemp("patient")
    rng = np.random.default_rng(0)
    x, y, _ = np.indices((*GRID, SLICES))
    head = ((x - 16) / 11) ** 2 + ((y - 15) / 13) ** 2 <= 1
    hr = np.where(head, rng.uniform(1, 2, head.shape), 0.0)
    lr = np.moveaxis(kspace.degrade(np.moveaxis(hr, 2, 0), N_LR), 0, 2)
    affine = np.diag([6.0, 6.0, 8.0, 1.0])
    out_affine = kspace.lowres_affine(affine, N_LR, GRID)
    files = {
        "Gln": save(folder / "lr_Gln.nii.gz", lr, affine),
        "t1": save(folder / "t1.nii.gz", head * (1.0 + 0.1 * rng.random(head.shape)), out_affine),
        "flair": save(folder / "flair.nii.gz", head * 0.7, out_affine),
    }
    files["head"] = head  # type: ignore[assignment]
    return files


def predict(model: Path, patient, out: Path, *images: str, raw: bool = False) -> int:
    argv = ["predict", "--model", str(model), "--device", "cpu", "--met", str(patient["Gln"])]
    if raw:  # the network's output itself, not the self-check's choice of how much to keep
        argv += ["--calibration", "none"]
    for name in images:
        argv += [f"--{name}", str(patient[name])]
    # T1, FLAIR and the head are on the model's grid: the output on it too
    grid = ["--grid", str(GRID[0]), str(GRID[1])]
    return main([*argv, "--metabolite", "Gln", *grid, "--out", str(out)])


@pytest.mark.parametrize(
    ("images", "label"),
    [(("t1",), "T1 only"), (("flair",), "FLAIR only"), ((), "no anatomical image")],
)
def test_one_image_or_none_is_enough_and_the_log_says_which(
    flagged_model, patient, tmp_path, caplog, images, label
) -> None:
    out = tmp_path / "sr_Gln.nii.gz"
    with caplog.at_level(logging.INFO, logger="mrsisr"):
        assert predict(flagged_model, patient, out, *images) == 0
    assert f"images used: {label}" in caplog.text
    result = nib.load(str(out)).get_fdata()
    lr = nib.load(str(patient["Gln"])).get_fdata()
    back = kspace.degrade(np.moveaxis(result, 2, 0), N_LR)
    np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=1e-4 * np.abs(lr).max())
    mask = nib.load(str(tmp_path / "sr_Gln_mask.nii.gz")).get_fdata() > 0
    head = patient["head"]
    assert 2 * (mask & head).sum() / (mask.sum() + head.sum()) > 0.9
    source = "derived from the maps" if not images else f"derived from {label.split()[0]}"
    assert source in caplog.text


@pytest.mark.slow
def test_the_images_given_change_the_output(flagged_model, patient, tmp_path) -> None:
    results = {}
    for images in [("t1", "flair"), ("t1",), ()]:
        out = tmp_path / f"{'-'.join(images) or 'none'}.nii.gz"
        assert predict(flagged_model, patient, out, *images, raw=True) == 0
        results[images] = nib.load(str(out)).get_fdata()
    both, t1_only, none = results.values()
    assert np.abs(both - t1_only).max() > 1e-4 and np.abs(t1_only - none).max() > 1e-4


@pytest.mark.parametrize("images", [("t1",), ("flair",), ()])
def test_a_model_without_presence_flags_refuses_a_missing_image(
    plain_model, patient, tmp_path, capsys, images
) -> None:
    out = tmp_path / "sr_Gln.nii.gz"
    assert predict(plain_model, patient, out, *images) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "needs-both.safetensors: this model needs both --t1 and --flair" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_manifest_row_may_leave_an_image_out(flagged_model, patient, tmp_path, caplog) -> None:
    manifest = tmp_path / "batch.csv"
    manifest.write_text(
        "patient,metabolite,met,t1,flair\n"
        f"A,Gln,{patient['Gln']},{patient['t1']},\n"
        f"B,Gln,{patient['Gln']},,\n"
    )
    out = tmp_path / "out"
    argv = ["predict", "--model", str(flagged_model), "--device", "cpu"]
    with caplog.at_level(logging.INFO, logger="mrsisr"):
        assert main([*argv, "--manifest", str(manifest), "--out", str(out)]) == 0
    assert (out / "A" / "sr_Gln.nii.gz").exists() and (out / "B" / "sr_Gln.nii.gz").exists()
    assert "A: images used: T1 only" in caplog.text
    assert "B: images used: no anatomical image" in caplog.text
