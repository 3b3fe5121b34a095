"""``mrsisr predict`` on what pipelines write: names, ``--from`` folders, sidecars, BIDS out.

Each case of issue 12's "maps that are not concentrations" is a test here: refused with one
line naming the file, exit code 2 and nothing written, or accepted under its normalised name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mrsisr import __version__
from mrsisr.cli import main
from tiny_model import save as save_nifti

N_LR = (16, 16)
SLICES = 2
LR_AFFINE = np.array([[4.0, 0, 0, -32], [0, 4, 0, -32], [0, 0, 10, 0], [0, 0, 0, 1]])


def save(path: Path, data, affine: np.ndarray = LR_AFFINE) -> Path:
    return save_nifti(path, data, affine)


@pytest.fixture(scope="module")
def anatomy(tmp_path_factory) -> dict[str, Path]:
    """T1, FLAIR at 4 mm covering the MRSI field of view with a margin, a head inside."""
    folder = tmp_path_factory.mktemp("anatomy")
    affine = np.diag([4.0, 4.0, 5.0, 1.0])
    affine[:3, 3] = [-48.0, -48.0, -10.0]
    shape = (24, 24, 8)
    world = np.indices(shape) * 4.0 - 48.0
    head = (world[0] ** 2 + world[1] ** 2) <= 30.0**2
    t1 = head * (1.0 + 0.2 * np.random.default_rng(1).random(shape))
    return {
        "t1": save(folder / "t1.nii.gz", t1, affine),
        "flair": save(folder / "flair.nii.gz", 0.5 * t1, affine),
    }


def lr_map(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1, 4, (*N_LR, SLICES))


def predict(model: Path, *args: str | Path) -> int:
    return main(["predict", "--model", str(model), "--device", "cpu", *map(str, args)])


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "name",
    ["NAA_sd.nii.gz", "NAA_snr.nii.gz", "NAA_sd_map.nii", "NAA_crlb_map.nii",
     "Cr+PCr_RatToCr+PCr_map.nii"],
)  # fmt: skip
def test_maps_that_are_not_concentrations_are_refused(
    model_file, anatomy, tmp_path, capsys, name: str
) -> None:
    met = save(tmp_path / "in" / name, np.ones((*N_LR, SLICES)))  # a ratio map is constant 1
    out = tmp_path / "out"
    code = predict(model_file, "--met", met, "--t1", anatomy["t1"], "--flair", anatomy["flair"],
                   "--out", out / "sr.nii.gz")  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(met) in err and "not a concentration map" in err
    assert not out.exists()


def test_a_metabolite_that_contradicts_the_file_name_needs_force(
    model_file, anatomy, tmp_path, capsys
) -> None:
    met = save(tmp_path / "lr_NAA.nii.gz", lr_map())
    args = ["--met", met, "--metabolite", "tCho", "--t1", anatomy["t1"], "--flair",
            anatomy["flair"], "--out", tmp_path / "sr.nii.gz"]  # fmt: skip
    assert predict(model_file, *args) == 2
    err = capsys.readouterr().err
    assert "lr_NAA.nii.gz" in err and "--force-metabolite" in err
    assert not (tmp_path / "sr.nii.gz").exists()
    assert predict(model_file, *args, "--force-metabolite") == 0
    sidecar = json.loads((tmp_path / "sr.json").read_text(encoding="utf-8"))
    assert sidecar["metabolite"] == {"given": "tCho", "normalised": "tCho"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "metabolite"),
    [("PCho+GPC", "tCho"), ("PCh+GPC", "tCho"), ("CrPCr", "tCr"), ("GPCPCh", "tCho"),
     ("NAANAAG", "NAA")],
)  # fmt: skip
def test_common_spellings_are_accepted(
    model_file, anatomy, tmp_path, name: str, metabolite: str
) -> None:
    met = save(tmp_path / f"{name}.nii.gz", lr_map())
    out = tmp_path / "sr" / "out.nii.gz"
    code = predict(model_file, "--met", met, "--t1", anatomy["t1"], "--flair", anatomy["flair"],
                   "--out", out)  # fmt: skip
    assert code == 0
    sidecar = json.loads((tmp_path / "sr" / "out.json").read_text(encoding="utf-8"))
    assert sidecar["metabolite"] == {"given": name, "normalised": metabolite}


def test_the_sidecar_traces_the_map_to_its_inputs(model_file, anatomy, tmp_path) -> None:
    met = save(tmp_path / "lr_Gln.nii.gz", lr_map())
    out = tmp_path / "sr_Gln.nii.gz"
    args = ["--met", met, "--t1", anatomy["t1"], "--flair", anatomy["flair"], "--out", out,
            "--sharpness", "0", "0.03"]  # fmt: skip
    assert predict(model_file, *args) == 0
    for lam in ("0", "0.03"):
        data = json.loads((tmp_path / f"sr_Gln_lam{lam}.json").read_text(encoding="utf-8"))
        assert data["tool"] == {"name": "mrsisr", "version": __version__}
        assert data["model"]["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
        roles = {i["role"]: i for i in data["inputs"]}
        assert roles["map"]["sha256"] == hashlib.sha256(met.read_bytes()).hexdigest()
        assert roles["t1"]["path"] == str(anatomy["t1"])
        assert data["n"] == list(N_LR) and data["N"] == [64, 64]  # the default grid
        assert data["output_grid"]["rule"] == "default"
        assert data["sharpness"] == [float(lam)]
        assert data["metabolite"] == {"given": "Gln", "normalised": "Gln"}
        assert "derived from T1 and FLAIR" in data["mask_source"]
        assert "--met" in data["command_line"]


# --- --from ---------------------------------------------------------------------------------


def fsl_mrsi_folder(root: Path, mets: tuple[str, ...]) -> Path:
    for i, met in enumerate(mets):
        save(root / "concs" / "molarity" / f"{met}.nii.gz", lr_map(i))
        save(root / "uncertainties" / f"{met}_sd.nii.gz", np.full((*N_LR, SLICES), 10.0))
    return root


def test_from_fsl_mrs_reads_the_folder_and_notes_creatine_alone(
    model_file, anatomy, tmp_path, caplog
) -> None:
    folder = fsl_mrsi_folder(tmp_path / "fsl", ("Cr", "PCr", "PCho+GPC", "Gln", "Lac"))
    out = tmp_path / "sr"
    with caplog.at_level("INFO"):
        code = predict(model_file, "--from", "fsl-mrs", folder, "--t1", anatomy["t1"],
                       "--flair", anatomy["flair"], "--out", out)  # fmt: skip
    assert code == 0
    names = {p.name for p in files_in(out)}
    assert {"sr_tCr.nii.gz", "sr_tCho.nii.gz", "sr_Gln.nii.gz", "mask.nii.gz"} <= names
    assert {"sr_tCr.json", "sr_tCho.json", "sr_Gln.json"} <= names
    assert "Cr is only part of Cr+PCr" in caplog.text
    assert "skipped concs/molarity/Lac.nii.gz" in caplog.text
    tcr = json.loads((out / "sr_tCr.json").read_text(encoding="utf-8"))
    assert tcr["metabolite"] == {"given": "Cr", "normalised": "tCr"}
    assert tcr["units"] == "mM" and tcr["pipeline"] == "fsl-mrs"
    assert any("trained on" in note for note in tcr["notes"])
    assert "sd" in {i["role"] for i in tcr["inputs"]}


def test_from_needs_an_output_folder_and_no_met(model_file, anatomy, tmp_path, capsys) -> None:
    folder = fsl_mrsi_folder(tmp_path / "fsl", ("Gln",))
    base = ["--from", "fsl-mrs", folder, "--t1", anatomy["t1"], "--flair", anatomy["flair"]]
    assert predict(model_file, *base, "--out", tmp_path / "x.nii.gz") == 2
    assert "--out" in capsys.readouterr().err
    assert predict(model_file, *base, "--met", folder / "concs/molarity/Gln.nii.gz",
                   "--out", tmp_path / "o") == 2  # fmt: skip
    assert "--from" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def mrsiprep_dataset(root: Path, anatomy: dict[str, Path]) -> Path:
    for sub in ("01", "02"):
        folder = root / "derivatives" / "mrsi-orig" / f"sub-{sub}" / "ses-1"
        for met in ("GPCPCh", "Ins"):
            save(folder / f"sub-{sub}_ses-1_space-orig_met-{met}_desc-signal_mrsi.nii.gz", lr_map())
        anat = root / f"sub-{sub}" / "ses-1" / "anat"
        anat.mkdir(parents=True)
        (anat / f"sub-{sub}_ses-1_T1w.nii.gz").write_bytes(anatomy["t1"].read_bytes())
        (anat / f"sub-{sub}_ses-1_FLAIR.nii.gz").write_bytes(anatomy["flair"].read_bytes())
    return root


@pytest.mark.slow
def test_from_mrsiprep_runs_every_subject_with_its_own_anatomy(
    model_file, anatomy, tmp_path
) -> None:
    root = mrsiprep_dataset(tmp_path / "bids", anatomy)
    out = tmp_path / "sr"
    assert predict(model_file, "--from", "mrsiprep", root, "--out", out) == 0
    for sub in ("01", "02"):
        folder = out / f"sub-{sub}_ses-1"
        assert (folder / "sr_tCho.nii.gz").is_file() and (folder / "sr_Ins.nii.gz").is_file()
        data = json.loads((folder / "sr_Ins.json").read_text(encoding="utf-8"))
        t1 = next(i for i in data["inputs"] if i["role"] == "t1")
        assert t1["path"].endswith(f"sub-{sub}_ses-1_T1w.nii.gz")


@pytest.mark.slow
def test_bids_out_writes_bids_derivative_names_and_a_description(
    model_file, anatomy, tmp_path
) -> None:
    root = mrsiprep_dataset(tmp_path / "bids", anatomy)
    out = root / "derivatives" / "mrsisr"
    args = ["--from", "mrsiprep", root, "--bids-out", out, "--sharpness", "0", "0.03"]
    assert predict(model_file, *args) == 0
    folder = out / "sub-01" / "ses-1"
    for lam in ("0", "0p03"):
        name = f"sub-01_ses-1_space-orig_met-GPCPCh_desc-srlam{lam}_mrsi"
        assert (folder / f"{name}.nii.gz").is_file() and (folder / f"{name}.json").is_file()
    assert (folder / "sub-01_ses-1_space-orig_desc-srmask_mask.nii.gz").is_file()
    description = json.loads((out / "dataset_description.json").read_text(encoding="utf-8"))
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "mrsisr"
    # the outputs are not read back as inputs: a second run from the same root still works
    assert predict(model_file, *args, "--overwrite") == 0


def test_bids_out_and_pipeline_options_are_refused_where_they_do_not_apply(
    model_file, anatomy, tmp_path, capsys
) -> None:
    folder = fsl_mrsi_folder(tmp_path / "fsl", ("Gln",))
    images = ["--t1", anatomy["t1"], "--flair", anatomy["flair"]]
    cases = [
        (["--from", "fsl-mrs", folder, *images, "--bids-out", tmp_path / "b"], "--bids-subject"),
        (["--from", "fsl-mrs", folder, *images, "--bids-out", tmp_path / "b", "--bids-subject",
          "P-1"], "a BIDS label has only letters and digits"),
        (["--met", folder / "concs/molarity/Gln.nii.gz", *images, "--scaling", "raw",
          "--out", tmp_path / "o"], "--scaling: only with --from fsl-mrs"),
        (["--from", "fsl-mrs", folder, *images, "--out", tmp_path / "o", "--bids-out",
          tmp_path / "b"], "--bids-out: give --out or --bids-out, not both"),
        (["--from", "fsl-mrs", folder, *images, "--scaling", "internal", "--out", tmp_path / "o"],
         "ratio to the internal reference"),
    ]  # fmt: skip
    for args, message in cases:
        assert predict(model_file, *args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "b").exists() and not (tmp_path / "o").exists()
