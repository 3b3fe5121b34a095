"""Keep freed memory in the process: the glibc allocator settings of every ``mrsisr`` command.

A training step allocates and frees the same large tensors every time (activations, the
per-sample kernels of filter scaling and their gradients: blocks of 0.1 to 25 MB). By
default glibc serves blocks above its mmap threshold with fresh ``mmap`` pages and returns
them to the system on ``free``; the next step then faults every page back in and the kernel
zeroes it. On this project's 2-core benchmark machine that cost 2,700 to 3,500 page faults
per generator step (batch 8) and a fifth of the step time with 2 threads, which
``docs/benchmarks.md`` measures. Raising the mmap threshold to glibc's maximum and the trim
threshold far above the working set keeps those blocks in the heap for reuse. The cost is
that the process keeps its peak memory (about 0.3 GB for training) until it exits.

Only glibc has ``mallopt``; elsewhere (macOS, musl, Windows) nothing changes. Setting
``MRSISR_KEEP_FREED_MEMORY=0`` turns the tuning off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["ENV_SWITCH", "keep_freed_memory", "keeps_freed_memory"]

ENV_SWITCH = "MRSISR_KEEP_FREED_MEMORY"
"""Environment variable; ``0`` leaves the allocator as it is."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
"""glibc's upper bound for ``M_MMAP_THRESHOLD`` on 64-bit systems (larger values are refused)."""
_TRIM_THRESHOLD = 1024 * 1024 * 1024

_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc to keep freed blocks up to 32 MB for reuse; ``True`` if it took effect.

    Idempotent. Does nothing (and returns ``False``) without glibc or when
    ``MRSISR_KEEP_FREED_MEMORY=0``.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success and 0 for an unknown option or an out-of-range value.
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _applied


def keeps_freed_memory() -> bool:
    """Whether :func:`keep_freed_memory` is in effect in this process."""
    return _applied
