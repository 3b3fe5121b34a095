"""Atomic file writes: a kill or an error at any moment leaves the old files or the new ones.

:class:`FileTransaction` commits several files together (``mrsisr predict`` writes every map
of a cohort or none); :func:`atomic_write` is the one-file case (checkpoints, run files).
:meth:`FileTransaction.reserve` also locks the destination folders against a second process
writing there, and clears the temporary files a killed process left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType

__all__ = ["LOCK_NAME", "FileTransaction", "FolderBusy", "atomic_write", "staged_folder"]

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows: the lock is an exclusive create)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = ".mrsisr.lock"
"""The lock file :meth:`FileTransaction.reserve` holds in each destination folder."""

# Endings of the temporary files of a transaction whose process was killed (SIGKILL, power
# loss): once a folder's lock is held no live transaction writes there, so they are stale.
_STALE_ENDINGS = (".partial.nii", ".partial.nii.gz", ".partial.json")


class FolderBusy(OSError):
    """Another process holds the lock of a destination folder (:meth:`FileTransaction.reserve`)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _suffix(path: Path) -> str:
    """The ending that tells a writer the format: ``.nii.gz``, ``.safetensors``, ``.png``."""
    if path.name.endswith(".gz"):
        return Path(path.name[: -len(".gz")]).suffix + ".gz"
    return path.suffix


class _FolderLock:
    """An exclusive lock on a folder: ``flock`` of ``<folder>/.mrsisr.lock``, non-blocking.

    The kernel drops an ``flock`` when its process dies, even by SIGKILL, so a lock is never
    stale; the file is removed on release. Where ``fcntl`` does not exist (Windows), the lock
    is the exclusive creation of the file, which a killed process leaves behind.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock. Raises :class:`FolderBusy` if another process holds it."""
        if fcntl is None:  # pragma: no cover (Windows)
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise FolderBusy(
                    f"{self.path.parent}: another mrsisr run is writing here (or one was killed: "
                    f"then remove {self.path})"
                ) from None
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FolderBusy(
                    f"{self.path.parent}: another mrsisr run is writing here"
                ) from None
            try:  # the previous holder may have removed the file between our open and lock
                current = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


class FileTransaction:
    """Files written under temporary names next to their destinations, renamed together.

    Each temporary file lives in its destination's folder (so the rename is atomic), keeps the
    destination's ending (writers that choose a format from it work unchanged), is flushed to
    disk before the rename and gets the permissions a normal file would get (``0o666`` less
    the umask). Files at the destinations stay intact until :meth:`commit`. Used as a context
    manager, the transaction commits when the block ends normally and rolls back on an error.

    Example::

        with FileTransaction() as files:
            save_volume(files.path_for(out / "sr_Gln.nii.gz"), volume, affine)
            save_volume(files.path_for(out / "mask.nii.gz"), mask, affine, np.uint8)
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._made_dirs: list[Path] = []
        self._locks: list[_FolderLock] = []

    def reserve(self, finals: Iterable[str | Path]) -> None:
        """Make the destination folders, lock each one and clear what killed runs left there.

        Call it before any work: it fails at once on a folder that cannot be written (it
        creates a file there) or that another process is writing to, so that two runs on one
        output folder never both write. Once a folder is locked, the hidden temporary files
        of a killed transaction in it (``.*.partial.nii[.gz]``, ``.*.partial.json``) are
        removed. The locks are released by :meth:`commit` and :meth:`rollback`.

        Raises:
            FolderBusy: another process holds a folder's lock.
            OSError: a folder cannot be created or written (``PermissionError``, a read-only
                file system, ...); ``err.filename`` names it.
        """
        for folder in sorted({Path(final).parent for final in finals}):
            self._make_dir(folder)
            lock = _FolderLock(folder)
            lock.acquire()
            self._locks.append(lock)
            for stale in folder.glob(".*.partial*"):
                if stale.name.endswith(_STALE_ENDINGS) and stale.is_file():
                    log.info("removing %s, left by a run that was killed", stale)
                    stale.unlink(missing_ok=True)

    def _make_dir(self, folder: Path) -> None:
        missing = [d for d in (folder, *folder.parents) if not d.exists()]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        finally:  # also the folders made before a failure, for rollback
            self._made_dirs += [d for d in missing if d.is_dir() and d not in self._made_dirs]

    def _release(self) -> None:
        for lock in reversed(self._locks):
            lock.release()
        self._locks = []

    def path_for(self, final: str | Path) -> Path:
        """A new temporary file next to ``final`` to write it to; creates missing folders."""
        final = Path(final)
        self._make_dir(final.parent)
        stem = final.name[: len(final.name) - len(_suffix(final))]
        fd, name = tempfile.mkstemp(
            prefix=f".{stem}.", suffix=f".partial{_suffix(final)}", dir=final.parent
        )
        os.close(fd)
        temp = Path(name)
        self._pending.append((temp, final))
        return temp

    def commit(self) -> list[Path]:
        """Flush every temporary file and rename it to its final name.

        Returns:
            The final names, in the order :meth:`path_for` gave them.
        """
        mode = 0o666 & ~_umask()
        try:
            for temp, _ in self._pending:
                with open(temp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.chmod(temp, mode)
            for temp, final in self._pending:
                os.replace(temp, final)
        finally:
            self._release()
        done = [final for _, final in self._pending]
        self._pending, self._made_dirs = [], []
        return done

    def rollback(self) -> None:
        """Delete the temporary files and the (still empty) folders this transaction made."""
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        self._release()
        for folder in sorted(self._made_dirs, key=lambda d: len(d.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        self._pending, self._made_dirs = [], []

    def __enter__(self) -> FileTransaction:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.rollback()


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically.

    A one-file :class:`FileTransaction`: any previous file at ``path`` stays intact until the
    rename, and the temporary file is removed if ``write`` fails.
    """
    with FileTransaction() as files:
        write(files.path_for(path))


def _refuse_existing(final: Path, replace: bool) -> None:
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise FileExistsError(f"{final}: exists and is not a folder")
    if not replace and final.is_dir() and any(final.iterdir()):
        raise FileExistsError(f"{final}: exists and is not empty")


@contextlib.contextmanager
def staged_folder(final: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """A new folder written under a temporary name next to ``final`` and renamed to it.

    Yields an empty hidden folder ``.<name>.XXXX.partial`` in the parent of ``final`` (made
    if missing). When the block ends normally the folder gets the permissions ``mkdir`` gives
    (``0o777`` less the umask) and becomes ``final``: an empty folder there is replaced, a
    non-empty one only with ``replace``, and then it is moved aside before the rename and
    deleted after it, so that ``final`` is at every moment the old folder or the new one. On an
    error, Ctrl-C or SIGTERM (:mod:`mrsisr.cli` unwinds on it) the temporary folder is deleted
    and ``final`` is left as it was. A SIGKILL leaves the hidden folder behind.

    Example::

        with staged_folder(out) as staging:
            write_manifest(staging, manifest)

    Raises:
        FileExistsError: ``final`` is a file or a link, or a non-empty folder without
            ``replace`` (checked before the block runs and again before the rename).
    """
    final = Path(final)
    _refuse_existing(final, replace)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        _refuse_existing(final, replace)
        if final.is_dir() and any(final.iterdir()):
            aside = staging.with_name(staging.name.removesuffix(".partial") + ".old")
            os.rename(final, aside)
            try:
                os.rename(staging, final)
            except BaseException:
                os.rename(aside, final)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            if final.is_dir():
                final.rmdir()
            os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
