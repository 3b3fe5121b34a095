"""Atomic writes: all files of a transaction or none, the old files intact until the commit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mrsisr.atomic import FileTransaction, atomic_write


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_atomic_write_keeps_the_old_file_on_failure_and_normal_permissions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.txt"
    atomic_write(path, lambda tmp: tmp.write_text("old"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_transaction_commits_every_file_together(tmp_path: Path) -> None:
    old = tmp_path / "a.nii.gz"
    old.write_text("old")
    files = FileTransaction()
    names = [old, tmp_path / "new" / "deep" / "b.safetensors"]
    temps = [files.path_for(name) for name in names]
    assert temps[0].name.endswith(".partial.nii.gz")  # writers see the format they expect
    assert temps[1].name.endswith(".partial.safetensors")
    for temp in temps:
        temp.write_text("new")
    assert old.read_text() == "old"  # untouched until the commit
    assert not names[1].exists()
    assert files.commit() == names
    assert [n.read_text() for n in names] == ["new", "new"]
    assert stat.S_IMODE(names[1].stat().st_mode) == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "a.nii.gz",
        "b.safetensors",
    ]


def test_a_failed_transaction_leaves_no_file_and_no_new_folder(tmp_path: Path) -> None:
    old = tmp_path / "kept.txt"
    old.write_text("old")
    with pytest.raises(RuntimeError), FileTransaction() as files:
        files.path_for(old).write_text("new")
        files.path_for(tmp_path / "x" / "y" / "z.txt").write_text("new")
        raise RuntimeError("failed before the commit")
    assert old.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]
