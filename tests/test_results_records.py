"""Every folder under results/ has a traceability record, and every record checks out.

A record (``record.json``, :func:`mrsisr.provenance.write_result_record`) names the commit the
result was measured with, whether the tree was clean, the SHA-256 of every model file used,
the command line, the data and the seeds. A field that is not known is
``{"unknown": "<reason>"}``. Here each field must be present, and each value either checks
out against this repository or says why it cannot:

* a commit is in the repository (``git cat-file -e``), or the record says
  ``"in_repository": false`` and names the commit it landed as, which is;
* a model SHA-256 is that of a model file in the repository's history or of the shipped
  file, or the entry says why not (``not_in_repository``: e.g. runs that were not kept).

Folders named ``training`` hold the training logs of their parent, whose record covers them.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mrsisr.provenance import COHORT_MANIFEST, RECORD_FILE, RECORD_FORMAT, FileHashes
from mrsisr.weights import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUIRED = ("what", "recorded_by", "command", "code", "models", "data", "seeds")


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False)


pytestmark = pytest.mark.skipif(
    not (ROOT / ".git").exists() or _git("rev-parse", "HEAD").returncode != 0,
    reason="needs the git checkout (records name its commits)",
)


@cache
def commit_exists(sha: str) -> bool:
    return _git("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0


@cache
def known_model_hashes() -> frozenset[str]:
    """SHA-256 of every model file (``*.safetensors``) in the history, and the shipped file."""
    log = _git("log", "--all", "--format=%H", "--", "*.safetensors").stdout.decode().split()
    blobs = set()
    for commit in log:
        tree = _git("ls-tree", "-r", commit).stdout.decode().splitlines()
        blobs |= {ln.split()[2] for ln in tree if ln.split("\t")[-1].endswith(".safetensors")}
    hashes = {FileHashes()(DEFAULT_MODEL)}
    for blob in blobs:
        data = _git("cat-file", "blob", blob).stdout
        if data:
            hashes.add(hashlib.sha256(data).hexdigest())
    return frozenset(hashes)


def result_folders(root: Path = RESULTS) -> list[Path]:
    """Folders under ``root`` that hold an output (a file other than README.md or a script that
    reads outputs, ``*.py``), except the ``training`` logs of their parent."""
    folders = set()
    for path in root.rglob("*"):
        if not path.is_file() or path.name == "README.md" or path.suffix == ".py":
            continue
        if "training" not in path.parts[-2:-1]:
            if path.parent != root:
                folders.add(path.parent)
    return sorted(folders)


def _unknown(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == {"unknown"}
        and isinstance(value["unknown"], str)
        and len(value["unknown"].strip()) > 10
    )


def _code_problems(code: Any, where: str, exists: Callable[[str], bool]) -> list[str]:
    if not isinstance(code, Mapping):
        return [f"{where}: not an object"]
    out = []
    commit = code.get("commit")
    if _unknown(commit):
        pass
    elif not isinstance(commit, str) or not _COMMIT.match(commit):
        out.append(f"{where}.commit: {commit!r} is neither a 40-hex commit nor unknown")
    elif not exists(commit):
        landed = code.get("landed_as")
        if code.get("in_repository") is not False:
            out.append(f"{where}.commit {commit[:10]} is not in the repository (say so)")
        elif not (isinstance(landed, str) and _COMMIT.match(landed) and exists(landed)):
            if not _unknown(landed):
                out.append(f"{where}: {commit[:10]} not in the repository, and no landed_as")
    elif code.get("in_repository") is False:
        out.append(f"{where}: in_repository is false but {commit[:10]} is in it")
    clean = code.get("clean")
    if not (isinstance(clean, bool) or _unknown(clean)):
        out.append(f"{where}.clean: {clean!r} is neither true/false nor unknown")
    return out


def record_problems(
    record: Any,
    known_hashes: frozenset[str] | set[str],
    exists: Callable[[str], bool] = commit_exists,
) -> list[str]:
    """What is missing or does not check out in one record (empty: it is complete)."""
    if not isinstance(record, Mapping) or record.get("format") != RECORD_FORMAT:
        return [f"not a {RECORD_FORMAT} document"]
    out = [f"{key}: missing" for key in _REQUIRED if key not in record]
    if out:
        return out
    for key in ("what", "recorded_by"):
        if not (isinstance(record[key], str) and record[key].strip()):
            out.append(f"{key}: empty")
    command = record["command"]
    if not (
        _unknown(command)
        or (isinstance(command, list) and command and all(isinstance(c, str) for c in command))
    ):
        out.append(f"command: {command!r} is neither a command line nor unknown")
    out += _code_problems(record["code"], "code", exists)
    models = record["models"]
    if not isinstance(models, list):
        out.append("models: not a list")
        models = []
    for i, model in enumerate(models):
        sha = model.get("sha256") if isinstance(model, Mapping) else None
        if _unknown(sha):
            continue
        if not (isinstance(sha, str) and _SHA256.match(sha)):
            out.append(f"models[{i}].sha256: {sha!r} is neither a SHA-256 nor unknown")
        elif sha not in known_hashes and not _unknown(model.get("not_in_repository")):
            out.append(f"models[{i}]: {sha[:12]} matches no model file in the repository")
    for key in ("data", "seeds"):
        if not (isinstance(record[key], Mapping) and record[key]):
            out.append(f"{key}: neither an object nor unknown")
    for i, derived in enumerate(record.get("derived", [])):
        out += _code_problems(derived.get("code"), f"derived[{i}].code", exists)
        if not derived.get("command"):
            out.append(f"derived[{i}].command: missing")
    return out


@pytest.mark.parametrize("folder", result_folders(), ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_results_folder_has_a_record_that_checks_out(folder: Path) -> None:
    path = folder / RECORD_FILE
    assert path.is_file(), f"{folder.relative_to(ROOT)} has no {RECORD_FILE}"
    problems = record_problems(json.loads(path.read_text(encoding="utf-8")), known_model_hashes())
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def test_training_logs_belong_to_a_recorded_folder() -> None:
    for logs in RESULTS.rglob("training"):
        assert (logs.parent / RECORD_FILE).is_file(), f"{logs.parent} has no {RECORD_FILE}"


def test_the_record_writer_names_the_manifest_the_data_package_uses() -> None:
    from mrsisr.data.manifest import MANIFEST_FILE

    assert COHORT_MANIFEST == MANIFEST_FILE


def _good() -> dict[str, Any]:
    return {
        "format": RECORD_FORMAT,
        "what": "an evaluation",
        "recorded_by": "the command itself",
        "command": ["mrsisr", "evaluate"],
        "code": {"commit": "a" * 40, "clean": True},
        "models": [{"path": "m.safetensors", "sha256": "b" * 64}],
        "data": {"path": "cohort"},
        "seeds": {"split_seed": 0},
    }


def _exists(sha: str) -> bool:
    return sha in ("a" * 40, "c" * 40)


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda r: r.pop("seeds"), "seeds: missing"),
        (lambda r: r.pop("models"), "models: missing"),
        (lambda r: r["code"].update(commit="d" * 40), "not in the repository"),
        (
            lambda r: r["code"].update(commit="d" * 40, in_repository=False),
            "no landed_as",
        ),
        (lambda r: r["code"].update(clean=None), "code.clean"),
        (lambda r: r["models"][0].update(sha256="e" * 64), "matches no model file"),
        (lambda r: r["models"][0].update(sha256={"unknown": ""}), "neither a SHA-256"),
        (lambda r: r.update(command=None), "command"),
        (lambda r: r.update(data={}), "data"),
    ],
)
def test_the_check_fails_on_a_missing_or_unverifiable_field(change, problem) -> None:
    record = _good()
    assert record_problems(record, {"b" * 64}, _exists) == []
    change(record)
    assert any(problem in p for p in record_problems(record, {"b" * 64}, _exists))


def test_unknowns_and_landed_commits_pass_when_they_say_why() -> None:
    record = _good()
    record["code"] = {
        "commit": "d" * 40,
        "in_repository": False,
        "landed_as": "c" * 40,
        "clean": {"unknown": "the run predates the clean-tree record"},
    }
    record["models"] = [{"sha256": {"unknown": "trained by the run; run folders were not kept"}}]
    assert record_problems(record, set(), _exists) == []


def test_a_folder_without_a_record_is_found(tmp_path: Path) -> None:
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "summary.md").write_text("x")
    (tmp_path / "eval" / "training").mkdir()
    (tmp_path / "eval" / "training" / "metrics.csv").write_text("x")
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "scripts").mkdir()  # a script that prints tables from outputs is no output
    (tmp_path / "scripts" / "margins.py").write_text("x")
    assert result_folders(tmp_path) == [tmp_path / "eval"]
    assert not (tmp_path / "eval" / RECORD_FILE).exists()
