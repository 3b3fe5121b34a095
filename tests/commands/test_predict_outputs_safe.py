"""Issue 12, "Why" 6: outputs of ``mrsisr predict`` are safe against unwritable folders,
SIGTERM, SIGKILL and a second run on the same outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_predict import one_map, patient, predict  # noqa: F401 (patient: a fixture)

from mrsisr.atomic import LOCK_NAME
from mrsisr.inference import Predictor

pytestmark = pytest.mark.slow  # predict runs in subprocesses, interrupted by signals

# Runs `mrsisr predict` in a child that stops after its first map is written to a temporary
# file: it writes the file argv[1], then sleeps until it is signalled.
_SLOW_CHILD = """
import sys, time
from pathlib import Path
import mrsisr.predict.run as run
from mrsisr.cli import main
write_maps = run.write_maps
def slow(*args, **kwargs):
    write_maps(*args, **kwargs)
    Path(sys.argv[1]).write_text("ready")
    time.sleep(120)
run.write_maps = slow
sys.exit(main(sys.argv[2:]))
"""


def _slow_run(model: Path, arguments: list, ready: Path) -> subprocess.Popen:
    command = [sys.executable, "-c", _SLOW_CHILD, str(ready), "predict", "--model", str(model)]
    child = subprocess.Popen(
        [*command, "--device", "cpu", *map(str, arguments)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the child did not reach its first map: {child.communicate()[1]}")
        time.sleep(0.05)
    return child


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_sigterm_cleans_up_like_sigint(model_file, patient, tmp_path) -> None:  # noqa: F811
    out = tmp_path / "new" / "sr_Gln.nii.gz"
    child = _slow_run(model_file, one_map(patient, out), tmp_path / "ready")
    assert any(".partial" in name for name in _files(tmp_path / "new"))
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "mrsisr predict: terminated"
    assert not (tmp_path / "new").exists()  # temporary files, lock and the folder made


def test_a_killed_runs_leftovers_are_removed_by_the_next_run(
    model_file,
    patient,  # noqa: F811
    tmp_path,
) -> None:
    out = tmp_path / "sr_Gln.nii.gz"
    child = _slow_run(model_file, one_map(patient, out), tmp_path / "ready")
    child.kill()
    child.communicate(timeout=60)
    left = [p for p in tmp_path.iterdir() if ".partial" in p.name]
    assert left and (tmp_path / LOCK_NAME).exists()
    assert predict(model_file, *one_map(patient, out)) == 0
    assert not any(p.exists() for p in left)
    assert not (tmp_path / LOCK_NAME).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "ready") == [
        "sr_Gln.json",
        "sr_Gln.nii.gz",
        "sr_Gln_mask.nii.gz",
    ]


def test_a_second_run_on_the_same_outputs_fails_clearly(
    model_file,
    patient,  # noqa: F811
    tmp_path,
    capsys,
) -> None:
    out = tmp_path / "sr_Gln.nii.gz"
    child = _slow_run(model_file, one_map(patient, out), tmp_path / "ready")
    try:
        code = predict(model_file, *one_map(patient, out, "--overwrite"))
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert err[-1].startswith(f"mrsisr predict: error: {tmp_path}: another mrsisr run")
    finally:
        child.terminate()
        child.communicate(timeout=60)
    assert not out.exists()


def test_an_unwritable_output_folder_is_refused_before_any_work(
    model_file,
    patient,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
) -> None:
    if os.geteuid() == 0:  # root writes in read-only folders; sysfs refuses even root
        if not Path("/sys").is_dir():
            pytest.skip("no /sys to stand for a read-only folder")
        folder = Path("/sys/mrsisr-test")
    else:
        folder = tmp_path / "readonly"
        folder.mkdir(mode=0o555)

    def never(*args, **kwargs):
        raise AssertionError("the model ran")

    monkeypatch.setattr(Predictor, "super_resolve", never)
    code = predict(model_file, *one_map(patient, folder / "out" / "sr_Gln.nii.gz"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert not any("Traceback" in line for line in err)
    assert err[-1].startswith(f"mrsisr predict: error: {folder}")
    assert "cannot write the outputs there" in err[-1]
