"""Atomic file writes: a kill or an error at any moment leaves the old files or the new ones.

:class:`FileTransaction` commits several files together (``mrsisr predict`` writes every map
of a cohort or none); :func:`atomic_write` is the one-file case (checkpoints, run files).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["FileTransaction", "atomic_write"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _suffix(path: Path) -> str:
    """The ending that tells a writer the format: ``.nii.gz``, ``.safetensors``, ``.png``."""
    if path.name.endswith(".gz"):
        return Path(path.name[: -len(".gz")]).suffix + ".gz"
    return path.suffix


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

    def path_for(self, final: str | Path) -> Path:
        """A new temporary file next to ``final`` to write it to; creates missing folders."""
        final = Path(final)
        missing = [d for d in (final.parent, *final.parent.parents) if not d.exists()]
        final.parent.mkdir(parents=True, exist_ok=True)
        self._made_dirs += missing
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
        for temp, _ in self._pending:
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(temp, mode)
        for temp, final in self._pending:
            os.replace(temp, final)
        done = [final for _, final in self._pending]
        self._pending, self._made_dirs = [], []
        return done

    def rollback(self) -> None:
        """Delete the temporary files and the (still empty) folders this transaction made."""
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        for folder in self._made_dirs:  # deepest first
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
