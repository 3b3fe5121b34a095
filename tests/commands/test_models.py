"""``mrsisr models``: the table of variants and parameter counts, as text and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mrsisr.cli import main
from mrsisr.nn.variants import PAPER_PARAMS, Variant


@pytest.mark.slow
def test_json_lists_every_variant_and_the_critic(capsys) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["variant"] for row in rows] == [*(v.value for v in Variant), "critic"]
    for row in rows:
        assert set(row) == {"variant", "params", "paper_params"}
        assert isinstance(row["params"], int) and row["params"] > 0
        assert row["paper_params"] == PAPER_PARAMS[row["variant"]]
        if row["paper_params"] is not None:
            assert abs(row["params"] / row["paper_params"] - 1) <= 0.20, row
    by_name = {row["variant"]: row for row in rows}
    assert by_name["full"]["paper_params"] is None and by_name["critic"]["paper_params"] is None


def test_table_has_one_line_per_variant_and_the_notes_and_is_in_the_docs(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["variant", "parameters", "paper", "vs", "paper"]
    assert lines[1].split()[:4] == ["single_scale", "8,620,281", "8.7M", "-0.9%"]
    assert any(line.startswith("hypernetwork") and "26.0M" in line for line in lines)
    assert "nine networks" in out
    assert "Outside" not in out
    # docs/networks.md pastes this output: it must not drift.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "networks.md").read_text()
    assert out.strip() in docs


@pytest.mark.slow
def test_python_dash_m_runs_the_same_command_line(capsys) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mrsisr", "models", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert main(["models", "--json"]) == 0
    in_process = capsys.readouterr().out
    assert json.loads(done.stdout) == json.loads(in_process)  # the same command, same table
    assert done.stderr == ""
