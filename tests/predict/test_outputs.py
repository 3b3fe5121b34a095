"""The files a job writes: maps, their sidecars with the checks' results, BIDS description."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mrsisr.atomic import FileTransaction
from mrsisr.metabolites import Metabolite
from mrsisr.predict.outputs import job_provenance, write_dataset_description, write_maps
from mrsisr.predict.plan import Job


def a_job(tmp_path: Path, **fields) -> Job:
    for name in ("lr.nii.gz", "t1.nii.gz", "flair.nii.gz", "model.safetensors"):
        (tmp_path / name).write_bytes(name.encode())
    return Job(
        patient="",
        metabolite=Metabolite.tCho,
        met=tmp_path / "lr.nii.gz",
        t1=tmp_path / "t1.nii.gz",
        flair=tmp_path / "flair.nii.gz",
        mask=None,
        out=tmp_path / "out" / "sr_tCho.nii.gz",
        mask_out=tmp_path / "out" / "mask.nii.gz",
        sharpness=(0.0, 0.03),
        metabolite_given="PCho+GPC",
        **fields,
    )


def test_each_map_gets_a_sidecar_with_its_lambda_and_the_checks(tmp_path) -> None:
    job = a_job(tmp_path)
    provenance = job_provenance(
        job, model=tmp_path / "model.safetensors", lr_shape=(8, 6, 2), grid=(16, 16),
        mask_source="given", command_line=["mrsisr", "predict"],
    )  # fmt: skip
    checks = {"registration": {"shift_mm": np.array([1.5, 0.0]), "applied": True},
              "acquisition": {"detected_n": [8, 6]}, "later": {"x": 1}}  # fmt: skip
    maps = np.zeros((2, 16, 16, 2), np.float32)
    with FileTransaction() as files:
        write_maps(files, job, maps, np.eye(4), (8, 6, 2), provenance, checks=checks)
    assert job.sidecars == (
        tmp_path / "out" / "sr_tCho_lam0.json",
        tmp_path / "out" / "sr_tCho_lam0.03.json",
    )
    for sidecar, lam in zip(job.sidecars, (0.0, 0.03)):
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        assert data["sharpness"] == [lam] and data["n"] == [8, 6] and data["N"] == [16, 16]
        assert data["registration"] == {"shift_mm": [1.5, 0.0], "applied": True}
        assert data["acquisition"] == {"detected_n": [8, 6]} and data["coverage"] is None
        assert data["later"] == {"x": 1}
        assert data["metabolite"] == {"given": "PCho+GPC", "normalised": "tCho"}


def test_a_stack_has_one_sidecar_with_every_lambda(tmp_path) -> None:
    job = a_job(tmp_path, stack=True)
    provenance = job_provenance(
        job, model=None, lr_shape=(8, 6, 2), grid=(16, 16), mask_source="given"
    )
    with FileTransaction() as files:
        write_maps(files, job, np.zeros((2, 16, 16, 2), np.float32), np.eye(4), (8, 6, 2),
                   provenance)  # fmt: skip
    (sidecar,) = job.sidecars
    data = json.loads(sidecar.read_text(encoding="utf-8"))
    assert data["sharpness"] == [0.0, 0.03] and data["model"] == {"path": None, "sha256": None}


def test_an_existing_dataset_description_is_kept(tmp_path) -> None:
    with FileTransaction() as files:
        write_dataset_description(files, tmp_path)
    made = json.loads((tmp_path / "dataset_description.json").read_text(encoding="utf-8"))
    assert made["GeneratedBy"][0]["Name"] == "mrsisr"
    (tmp_path / "dataset_description.json").write_text('{"Name": "mine"}', encoding="utf-8")
    with FileTransaction() as files:
        write_dataset_description(files, tmp_path)
    assert json.loads((tmp_path / "dataset_description.json").read_text()) == {"Name": "mine"}
