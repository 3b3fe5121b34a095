"""``mrsisr demo`` end to end on a tiny model and a tiny phantom."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.checkpoint import save_model
from mrsisr.cli import main
from mrsisr.nn.variants import build_generator

pytestmark = pytest.mark.slow  # the whole demo: phantom, acquisitions, predictions, figure

TINY = dict(grid=[32, 32], channels=[4, 8], mlp_depth=1, filter_latent=4, norm_latent=4)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, build_generator("full", **TINY).eval(), "full", TINY)
    return path


def test_demo_writes_maps_and_figure(model_file, tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    args = [
        "demo",
        "--model",
        str(model_file),
        "--out",
        str(out),
        "--slices",
        "2",
        "--device",
        "cpu",
    ]
    assert main([*args, "--n", "8", "16", "24"]) == 0  # the tiny model's grid is 32
    printed = capsys.readouterr().out
    figure = out / "fig3_sharpness.png"
    assert str(figure) in printed
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for n in (8, 16, 24):
        names = {p.name for p in (out / "sr" / f"n{n}").iterdir()}
        assert "mask.nii.gz" in names
        for lam in ("0", "0.03", "0.06", "0.09"):
            assert f"sr_Gln_lam{lam}.nii.gz" in names
    # The outputs are data-consistent with the simulated acquisitions they came from.
    lr_img = nib.load(str(out / "input" / "n16" / "lr_Ins.nii.gz"))
    sr_img = nib.load(str(out / "sr" / "n16" / "sr_Ins_lam0.03.nii.gz"))
    lr = np.moveaxis(lr_img.get_fdata(), 2, 0)
    back = kspace.degrade(np.moveaxis(sr_img.get_fdata(), 2, 0), 16)
    np.testing.assert_allclose(back, lr, atol=2e-6 * np.abs(lr).max())
    np.testing.assert_allclose(
        sr_img.affine, kspace.lowres_affine(lr_img.affine, (16, 16), (32, 32)), atol=1e-4
    )
    # The report of the smallest n, with TTA SD maps beside its outputs.
    report = out / "report.html"
    assert f"report (open offline): {report}" in printed
    assert "sr_Ins_lam0.03_sd.nii.gz" in {p.name for p in (out / "sr" / "n8").iterdir()}
    assert "sr_Ins_lam0.03_sd.nii.gz" not in {p.name for p in (out / "sr" / "n24").iterdir()}
    page = report.read_text()
    assert '"sd_method":"tta"' in page and '"n":[8,8]' in page
    # A second run replaces the first (the folder is recognised as a demo's).
    assert main([*args, "--n", "8", "--sharpness", "0"]) == 0
    assert sorted(p.name for p in (out / "sr").iterdir()) == ["n8"]


def test_demo_refuses_a_folder_it_did_not_write(model_file, tmp_path, capsys) -> None:
    (tmp_path / "precious.txt").write_text("keep")
    code = main(["demo", "--model", str(model_file), "--out", str(tmp_path), "--n", "16"])
    assert code == 2
    assert "not a previous demo's output" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


@pytest.mark.parametrize("n", ["40", "32"])
def test_demo_refuses_n_beyond_or_at_the_model_grid(model_file, tmp_path, capsys, n) -> None:
    code = main(["demo", "--model", str(model_file), "--out", str(tmp_path / "d"), "--n", n])
    assert code == 2
    assert "--n" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
