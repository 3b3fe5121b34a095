"""``mrsisr adapt``: predict's inputs, a model file that records where it came from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_predict import one_map, patient, predict

from mrsisr.checkpoint import read_info
from mrsisr.cli import main

__all__ = ["patient"]  # the fixture of test_predict used here (model_file: conftest)


def adapt_args(scan: dict[str, Path], model: Path, out: Path, *extra: str) -> list[str]:
    inputs = [str(a) for a in one_map(scan, out)[:-2]]  # predict's inputs, without --out
    return ["adapt", *inputs, "--model", str(model), "--out", str(out), *extra]


@pytest.mark.slow
def test_adapted_model_records_its_base_and_data_and_predicts(model_file, patient, tmp_path):
    out = tmp_path / "adapted.safetensors"
    assert main(adapt_args(patient, model_file, out, "--steps", "3", "--lr", "1e-3")) == 0
    record = read_info(out).metadata["adapted"]  # the file passes every header check
    assert record["base_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert len(record["data_sha256"]) == 64 and record["maps"] == ["Gln 16x12x3"]
    assert record["settings"]["steps"] == 3 and record["settings"]["seed"] == 0
    assert set(record) >= {"self_check_before_db", "self_check_after_db", "improved"}
    assert not out.with_name(out.name + ".state").exists()
    assert predict(out, *one_map(patient, tmp_path / "sr.nii.gz")) == 0
    assert main(adapt_args(patient, model_file, out, "--steps", "3")) == 2  # exists


@pytest.mark.parametrize(
    ("extra", "out_name", "message"),
    [
        ((), "adapted.nii.gz", "must end in .safetensors"),
        (("--lr", "nan"), "a.safetensors", "lr"),
        (("--steps", "-1"), "a.safetensors", "steps"),
    ],
)
def test_refusals_write_nothing(model_file, patient, tmp_path, capsys, extra, out_name, message):
    out = tmp_path / out_name
    assert main(adapt_args(patient, model_file, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
