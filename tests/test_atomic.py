"""Atomic writes: all files of a transaction or none, the old files intact until the commit;
a staged folder whole or not at all."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mrsisr.atomic import LOCK_NAME, FileTransaction, FolderBusy, atomic_write, staged_folder


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


def test_reserve_locks_folders_until_commit_or_rollback(tmp_path: Path) -> None:
    """A second transaction on a folder another one has reserved fails at once, with the
    folder's name; commit and rollback release the lock and remove the lock file."""
    out = tmp_path / "out" / "P01"
    first = FileTransaction()
    first.reserve([out / "sr_Gln.nii.gz", out / "mask.nii.gz"])
    assert (out / LOCK_NAME).is_file()
    second = FileTransaction()
    with pytest.raises(FolderBusy, match=str(out)):
        second.reserve([out / "sr_Glu.nii.gz"])
    second.rollback()
    assert (out / LOCK_NAME).is_file()  # the first one still holds it
    first.path_for(out / "sr_Gln.nii.gz").write_text("x")
    first.commit()
    assert not (out / LOCK_NAME).exists()
    third = FileTransaction()
    third.reserve([out / "sr_Gln.nii.gz"])
    third.rollback()
    assert sorted(p.name for p in out.iterdir()) == ["sr_Gln.nii.gz"]


def test_reserve_removes_what_a_killed_run_left_and_nothing_else(tmp_path: Path) -> None:
    stale = [tmp_path / ".sr_Gln.k2j3.partial.nii.gz", tmp_path / ".sr_Gln.a1.partial.json"]
    kept = [tmp_path / "sr_Gln.nii.gz", tmp_path / ".run.b2.partial.safetensors"]
    for path in (*stale, *kept):
        path.write_text("x")
    with FileTransaction() as files:
        files.reserve([tmp_path / "sr_Glu.nii.gz"])
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)


def test_a_lock_dies_with_its_process(tmp_path: Path) -> None:
    """SIGKILL leaves the lock file but not the lock: the next run takes it."""
    code = (
        "import os, signal, sys; from mrsisr.atomic import FileTransaction;"
        "t = FileTransaction(); t.reserve([sys.argv[1]]);"
        "t.path_for(sys.argv[1]).write_text('half'); os.kill(os.getpid(), signal.SIGKILL)"
    )
    target = tmp_path / "out" / "sr_Gln.nii.gz"
    done = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert done.returncode == -signal.SIGKILL
    left = sorted(p.name for p in target.parent.iterdir())
    assert LOCK_NAME in left and any(".partial" in name for name in left)
    with FileTransaction() as files:
        files.reserve([target])
        files.path_for(target).write_text("whole")
    assert sorted(p.name for p in target.parent.iterdir()) == ["sr_Gln.nii.gz"]


def test_reserve_of_a_folder_that_cannot_be_written_fails_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    if os.geteuid() == 0:  # root writes in read-only folders; sysfs refuses even root
        blocked = Path("/sys/mrsisr-test/out")
        if not Path("/sys").is_dir():
            pytest.skip("no /sys to stand for a read-only folder")
    else:
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o555)
        blocked = readonly / "out"
    files = FileTransaction()
    with pytest.raises(OSError):
        files.reserve([blocked / "sr_Gln.nii.gz"])
    files.rollback()
    assert not blocked.exists()


def test_a_staged_folder_appears_whole_with_normal_permissions(tmp_path: Path) -> None:
    final = tmp_path / "new" / "cohort"
    with staged_folder(final) as staging:
        assert staging.parent == final.parent and staging.name.startswith(".cohort.")
        (staging / "P01").mkdir()
        (staging / "cohort.json").write_text("{}")
        assert not final.exists()  # nothing at the destination until the block ends
    assert sorted(p.name for p in final.iterdir()) == ["P01", "cohort.json"]
    assert stat.S_IMODE(final.stat().st_mode) == 0o777 & ~_umask()
    assert [p.name for p in final.parent.iterdir()] == ["cohort"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_staged_folder_leaves_the_destination_as_it_was(
    tmp_path: Path, error: type[BaseException]
) -> None:
    final = tmp_path / "cohort"
    with pytest.raises(error), staged_folder(final) as staging:
        (staging / "half").write_text("x")
        raise error
    assert list(tmp_path.iterdir()) == []
    final.mkdir()
    (final / "old").write_text("old")
    with pytest.raises(error), staged_folder(final, replace=True) as staging:
        raise error
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]
    assert [p.name for p in final.iterdir()] == ["old"]


def test_a_staged_folder_replaces_a_full_folder_only_when_asked(tmp_path: Path) -> None:
    final = tmp_path / "cohort"
    final.mkdir()
    with staged_folder(final) as staging:  # an empty folder is replaced
        (staging / "a").write_text("new")
    with pytest.raises(FileExistsError, match="not empty"), staged_folder(final):
        raise AssertionError("the block must not run")
    with staged_folder(final, replace=True) as staging:
        (staging / "b").write_text("newer")
    assert [p.name for p in final.iterdir()] == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["cohort"]  # the old one is gone
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        with staged_folder(tmp_path / "file", replace=True):
            pass
