"""``mrsisr reproduce tests``: the tests again from a result folder's outputs, per seed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mrsisr.cli import main
from mrsisr.errors import UserError
from mrsisr.experiments.retest import retest

RESULTS = Path(__file__).resolve().parents[2] / "results"


def test_the_ncond_tests_are_recomputed_per_seed_and_the_record_says_so(tmp_path, capsys):
    folder = tmp_path / "ncond"
    folder.mkdir()
    for name in ("runs.csv", "protocol.json"):
        shutil.copy(RESULTS / "ncond" / name, folder / name)
    (folder / "record.json").write_text(json.dumps({"format": "mrsisr-result-record"}))
    assert main(["reproduce", "tests", "--out", str(folder)]) == 0
    assert str(folder / "seed_tests.md") in capsys.readouterr().out
    text = (folder / "seed_tests.md").read_text()
    assert "Unit of every test: the training seed" in text
    pooled = next(line for line in text.splitlines() if "grid_linear + no_n_linear" in line)
    assert "| 3 vs 3 |" in pooled and "6 vs 6" not in text
    (derived,) = json.loads((folder / "record.json").read_text())["derived"]
    assert derived["files"] == ["seed_tests.md"] and derived["command"][0] == "mrsisr"


def test_a_folder_without_a_record_or_without_outputs_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"record\.json"):
        retest(tmp_path)
    (tmp_path / "record.json").write_text("{}")
    with pytest.raises(UserError, match="no per-run or per-map outputs"):
        retest(tmp_path)
