"""A description of the computer a measurement was taken on, recorded by every report."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr import __version__

__all__ = [
    "cpu_model",
    "cpu_threads",
    "load_average",
    "machine_info",
    "source_commit",
    "source_state",
    "usable_cpus",
]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity on Linux, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (processes running or waiting), NaN where unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def cpu_threads(requested: int | None = None, processes: int = 1) -> int:
    """The torch CPU threads one of ``processes`` processes on this computer should use.

    The one thread policy of the package (``mrsisr predict``, ``mrsisr demo``, training):

    1. ``requested``, if given (a command's thread count, ``threads`` of a training
       configuration);
    2. else ``OMP_NUM_THREADS``, if set (the user or the launcher, e.g. ``torchrun``, chose);
    3. else the usable CPUs shared among ``processes``, capped at the idle ones (CPUs minus
       the 1-minute load average, rounded), and at least 1. Threads that share cores with
       other busy processes wait on each other at every operation: 7 maps of 64 x 64 x 39
       took 4.4 s with one thread and 30 s with two on a 2-core machine with a load average
       of 4.

    Args:
        requested: an explicit count, ``>= 1``, or ``None`` for automatic.
        processes: processes of this job on this computer (``LOCAL_WORLD_SIZE`` under DDP).

    Raises:
        ValueError: ``requested < 1`` or ``processes < 1``.
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(f"threads must be >= 1, got {requested}")
        return int(requested)
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = usable_cpus()
    load = load_average()
    idle = cpus if load != load else round(cpus - load)  # NaN: load unknown
    return max(1, min(cpus // processes, idle))


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, threads, GPU and the software versions, as a JSON-ready dict."""
    import torch

    load = load_average()
    cuda = torch.cuda.is_available()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "load_average_1min": round(float(load), 2),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "mrsisr": __version__,
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_state() -> dict[str, Any]:
    """``{"commit": sha | None, "clean": bool | None}`` of the source tree mrsisr runs from.

    ``None`` outside a git checkout (an installed wheel); ``clean`` is ``False`` when tracked
    files differ from the commit (untracked files are ignored).
    """
    commit = _git("rev-parse", "HEAD") or None
    if commit is None:
        return {"commit": None, "clean": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "clean": None if status is None else not status}


def source_commit() -> str | None:
    """The commit of :func:`source_state`, with ``+dirty`` if the tree differs from it."""
    state = source_state()
    if state["commit"] is None:
        return None
    return state["commit"] + ("" if state["clean"] is not False else "+dirty")
