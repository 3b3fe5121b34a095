"""Provenance sidecars and BIDS-derivative names."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mrsisr import __version__
from mrsisr.metabolites import Metabolite
from mrsisr.provenance import (
    BIDS_VERSION,
    FileHashes,
    Provenance,
    bids_map_name,
    bids_mask_name,
    dataset_description,
    sidecar_path,
)


def test_file_hashes_are_the_sha256_of_the_bytes_and_read_once(tmp_path) -> None:
    path = tmp_path / "x.bin"
    data = bytes(range(256)) * 5000  # several read blocks
    path.write_bytes(data)
    hashes = FileHashes()
    assert hashes(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(b"changed")
    assert hashes(path) == hashlib.sha256(data).hexdigest()  # cached for this run
    assert FileHashes()(path) == hashlib.sha256(b"changed").hexdigest()


def test_sidecar_holds_what_made_the_map(tmp_path) -> None:
    files = {name: tmp_path / name for name in ("model.safetensors", "lr.nii.gz", "t1.nii.gz")}
    for i, path in enumerate(files.values()):
        path.write_bytes(bytes([i]) * 10)
    record = Provenance(
        command_line=["mrsisr", "predict", "--met", "lr.nii.gz"],
        model=files["model.safetensors"],
        inputs=[("map", files["lr.nii.gz"]), ("t1", files["t1.nii.gz"])],
        n=(32, 30),
        grid=(64, 64),
        sharpness=(0.0, 0.03),
        metabolite_given="PCho+GPC",
        metabolite=Metabolite.tCho,
        units="mM",
        mask_source="derived from T1 and FLAIR",
        pipeline="fsl-mrs",
        registration={"shift_mm": np.array([0.5, -1.25]), "applied": False},
    )
    out = record.write(tmp_path / "sr.json")
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["tool"] == {"name": "mrsisr", "version": __version__}
    assert data["model"]["sha256"] == hashlib.sha256(bytes([0]) * 10).hexdigest()
    assert [i["role"] for i in data["inputs"]] == ["map", "t1"]
    assert data["inputs"][1]["sha256"] == hashlib.sha256(bytes([2]) * 10).hexdigest()
    assert data["n"] == [32, 30] and data["N"] == [64, 64] and data["sharpness"] == [0.0, 0.03]
    assert data["metabolite"] == {"given": "PCho+GPC", "normalised": "tCho"}
    assert data["units"] == "mM" and data["pipeline"] == "fsl-mrs"
    assert data["registration"] == {"shift_mm": [0.5, -1.25], "applied": False}
    assert data["acquisition"] is None and data["coverage"] is None
    assert data["command_line"][:2] == ["mrsisr", "predict"]
    assert data["inputs"][0]["path"] == str(files["lr.nii.gz"])


def test_sidecar_paths_are_absolute(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("lr.nii.gz").write_bytes(b"map")
    Path("m.safetensors").write_bytes(b"weights")
    record = Provenance([], Path("m.safetensors"), [("map", Path("lr.nii.gz"))], (8, 8),
                        (16, 16), (0.0,), "Gln", Metabolite.Gln)  # fmt: skip
    data = record.to_json()
    assert data["inputs"][0]["path"] == str(tmp_path / "lr.nii.gz")
    assert data["model"]["path"] == str(tmp_path / "m.safetensors")  # not "m.safetensors"


def test_values_that_are_not_json_are_refused(tmp_path) -> None:
    (tmp_path / "m").write_bytes(b"")
    record = Provenance([], tmp_path / "m", [], (8, 8), (16, 16), (0.0,), "Gln", Metabolite.Gln,
                        coverage={"bad": object()})  # fmt: skip
    with pytest.raises(TypeError, match="not JSON"):
        record.write(tmp_path / "sr.json")


@pytest.mark.parametrize(
    ("output", "sidecar"),
    [("sr_Gln.nii.gz", "sr_Gln.json"), ("out/sr.nii", "out/sr.json"),
     ("sr_Gln_lam0.03.nii.gz", "sr_Gln_lam0.03.json")],
)  # fmt: skip
def test_the_sidecar_sits_beside_its_map(output: str, sidecar: str) -> None:
    assert sidecar_path(Path(output)) == Path(sidecar)


def test_bids_names_follow_mrsiprep_derivative_names() -> None:
    assert bids_map_name("01", "1", Metabolite.tCho, 0.03) == Path(
        "sub-01/ses-1/sub-01_ses-1_space-orig_met-GPCPCh_desc-srlam0p03_mrsi.nii.gz"
    )
    assert bids_map_name("P07", None, "Gln", 0.0) == Path(
        "sub-P07/sub-P07_space-orig_met-Gln_desc-srlam0_mrsi.nii.gz"
    )
    assert bids_map_name("02", None, "tCr", None).name.endswith("met-CrPCr_desc-sr_mrsi.nii.gz")
    assert bids_mask_name("01", None) == Path("sub-01/sub-01_space-orig_desc-srmask_mask.nii.gz")
    with pytest.raises(ValueError, match="subject 'P-07': a BIDS label"):
        bids_map_name("P-07", None, "Gln", 0.0)


def test_dataset_description_names_the_generator() -> None:
    description = dataset_description()
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "mrsisr"
    assert description["GeneratedBy"][0]["Version"] == __version__


def test_the_result_record_hashes_models_and_marks_what_is_not_known(tmp_path):
    """Regression (issue 26): results recorded no model hash and, outside a checkout, no
    reason for a missing commit."""
    import hashlib
    import json

    from mrsisr.provenance import write_result_record

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"weights")
    path = write_result_record(
        tmp_path / "out",
        "a test",
        models=[model],
        seeds=None,
        command=["mrsisr", "x"],
        code={"commit": None, "clean": None},
    )
    record = json.loads(path.read_text())
    assert record["models"][0]["sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert set(record["code"]["commit"]) == {"unknown"} and set(record["code"]["clean"]) == {
        "unknown"
    }
    assert set(record["data"]) == {"unknown"} and set(record["seeds"]) == {"unknown"}
    assert record["command"] == ["mrsisr", "x"] and record["format"] == "mrsisr-result-record"


# --- survivors of mutation testing (docs/mutation.md), killed --------------------------------


def test_the_sidecar_text_is_indented_utf8_json_without_nan(tmp_path) -> None:
    """Two-space indentation, non-ASCII text as it is (not \\u escapes), NaN refused, and the
    run's hash cache used (each input read once however many sidecars name it)."""
    (tmp_path / "lr.nii.gz").write_bytes(b"map")
    record = Provenance([], None, [("map", tmp_path / "lr.nii.gz")], (8, 8), (16, 16), (0.03,),
                        "Gln", Metabolite.Gln, notes=("λ = 0.03",))  # fmt: skip
    hashes = FileHashes()
    hashes(tmp_path / "lr.nii.gz")
    (tmp_path / "lr.nii.gz").write_bytes(b"changed after the first hash")
    text = record.write(tmp_path / "a.json", hashes).read_text(encoding="utf-8")
    assert text.startswith('{\n  "format": "mrsisr-provenance",\n  "format_version": 1,\n')
    assert '"notes": [\n    "λ = 0.03"\n  ]' in text and text.endswith("}\n")
    assert json.loads(text)["inputs"][0]["sha256"] == hashlib.sha256(b"map").hexdigest()
    bad = dataclasses.replace(record, extra={"score": float("nan")})
    with pytest.raises(ValueError, match="JSON"):
        bad.write(tmp_path / "b.json")


def test_bids_names_of_sessions_masks_and_lambdas() -> None:
    assert bids_mask_name("01", "2") == Path(
        "sub-01/ses-2/sub-01_ses-2_space-orig_desc-srmask_mask.nii.gz"
    )
    name = bids_map_name("01", None, Metabolite.Gln, 1e-05).name
    assert name == "sub-01_space-orig_met-Gln_desc-srlam1em05_mrsi.nii.gz"
    assert bids_map_name("01", None, "Gln", 1e20).name.endswith("_desc-srlam1e20_mrsi.nii.gz")
    with pytest.raises(ValueError, match=r"^session '1\.0': a BIDS label"):
        bids_map_name("01", "1.0", "Gln", 0.0)


def test_dataset_description_is_pinned() -> None:
    assert dataset_description() == {
        "Name": "mrsisr super-resolved MRSI metabolite maps",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "mrsisr",
                "Version": __version__,
                "Description": "multi-scale super-resolution of MRSI metabolite maps guided "
                "by T1 and FLAIR (Dong et al., MICCAI 2022)",
            }
        ],
    }
