"""Measuring tools: interleaved timing, robust statistics, FLOPs, peak memory, the machine.

On a shared machine the absolute times drift with the load, so configurations are timed
*round-robin* (one call of each per round, the starting case rotating) and compared by the
ratio of their medians and by the median of the per-round ratios; the spread is the
interquartile range and the extremes.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from mrsisr.machine import machine_info

__all__ = [
    "Probe",
    "TimingStats",
    "Timings",
    "count_flops",
    "interleaved_times",
    "machine_info",
    "matmul_ceiling",
    "paired_ratio",
    "probe",
    "resident_mb",
    "summarise",
    "thread_info",
]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated timings of one configuration, in milliseconds."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    max_ms: float
    repeats: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-serialisable fields."""
        return asdict(self)


def summarise(seconds: list[float], per: int = 1) -> TimingStats:
    """Median, quartiles and extremes of ``seconds`` divided by ``per``, in milliseconds.

    Args:
        seconds: at least one timing, in seconds.
        per: divide every timing by this (e.g. the batch size for a time per map).

    Raises:
        ValueError: ``seconds`` is empty or ``per < 1``.
    """
    if not seconds:
        raise ValueError("seconds must hold at least one timing")
    if per < 1:
        raise ValueError(f"per must be >= 1, got {per}")
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0 / per
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return TimingStats(
        float(median), float(q1), float(q3), float(ms.min()), float(ms.max()), len(ms)
    )


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of ``numerator[r] / denominator[r]`` (robust to a drifting load)."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError("numerator and denominator must be non-empty and of equal length")
    return float(np.median(np.asarray(numerator) / np.asarray(denominator)))


@dataclass(frozen=True)
class Timings:
    """Durations in seconds per configuration, in round order: wall clock and process CPU."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    """Process CPU time (all threads): unlike wall time, it does not count the time the
    process waited for a core, so it is the steadier figure on a loaded machine."""


def interleaved_times(
    calls: Mapping[str, Callable[[], Any]], repeats: int, warmup: int = 1
) -> Timings:
    """Time every call ``repeats`` times, round-robin, after ``warmup`` untimed rounds.

    Round ``r`` starts with call ``r mod len(calls)``, so no configuration always runs right
    after the same one.

    Args:
        calls: name -> a callable that does one unit of work (it must not need a result).
        repeats: timed rounds, >= 1.
        warmup: untimed rounds first, >= 0.

    Returns:
        :class:`Timings` of ``repeats`` durations per name.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    wall = {name: [0.0] * repeats for name in names}
    cpu = {name: [0.0] * repeats for name in names}
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start, start_cpu = time.perf_counter(), time.process_time()
            calls[name]()
            wall[name][r] = time.perf_counter() - start
            cpu[name][r] = time.process_time() - start_cpu
    return Timings(wall, cpu)


@dataclass(frozen=True)
class Probe:
    """What one untimed call costs: FLOPs counted by torch and the peak resident memory."""

    flops: int
    """Floating-point operations (multiply-add = 2) of convolutions and matrix products."""
    peak_rss_mb: float
    """Peak resident set size of the process during the call (MiB)."""
    rss_delta_mb: float
    """``peak_rss_mb`` minus the resident size just before the call."""
    peak_is_lifetime: bool
    """True when the peak could not be reset (not Linux): it is the process's peak so far."""


def _status_mb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); False if unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _lifetime_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0**2) if sys.platform == "darwin" else peak / 1024.0


class _FlopCount(TorchDispatchMode):
    """Sum the FLOPs of every operator :class:`FlopCounterMode` has a formula for.

    The same formulas as ``FlopCounterMode``, without its per-module tracker: that tracker's
    backward hooks refuse ``torch.autograd.grad``, which the WGAN-GP penalty calls.
    """

    def __init__(self) -> None:
        super().__init__()
        self.formulas = FlopCounterMode(display=False).flop_registry
        self.total = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        """Run ``func`` (decomposed if torch has no formula for it) and add its FLOPs."""
        kwargs = kwargs or {}
        formula = self.formulas.get(func._overloadpacket)
        if formula is None:
            # Composite ops reach the mode undecomposed under inference mode (aten.conv2d):
            # decompose them so that their convolutions and products are seen.
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        if func._overloadpacket is torch.ops.aten.convolution_backward and not args[7]:
            self.total += _conv_backward_flops(*args)
        else:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def _conv_backward_flops(
    grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, *args: Any
) -> int:
    """FLOPs of a (not transposed) convolution's backward: one forward per gradient computed.

    torch's own formula (2.13) ignores ``groups`` and counts a grouped convolution's input
    gradient ``groups`` times over.
    """
    output_mask = args[-1]
    forward = 2 * grad_out.numel() * math.prod(weight.shape[1:])
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def count_flops(call: Callable[[], Any]) -> int:
    """FLOPs (multiply-add = 2) of the convolutions and matrix products ``call`` runs.

    Uses torch's own formulas (:mod:`torch.utils.flop_counter`); a backward pass that
    ``call`` runs is counted too.
    """
    counter = _FlopCount()
    with counter:
        call()
    return counter.total


def _release_free_memory() -> None:
    """Collect garbage and hand the allocator's free pages back to the OS (glibc only)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def resident_mb() -> float:
    """Resident memory of the process (MiB) after freed memory is returned to the OS.

    NaN where ``/proc/self/status`` does not exist (not Linux).
    """
    _release_free_memory()
    value = _status_mb("VmRSS")
    return float("nan") if value is None else value


def probe(call: Callable[[], Any]) -> Probe:
    """Run ``call`` once, counting its FLOPs (:func:`count_flops`) and its peak resident memory.

    Freed memory is first returned to the OS, then the kernel's high-water mark is reset, so
    the peak and its rise over the resident size before the call are this call's.
    """
    before = resident_mb()
    reset = _reset_peak_rss()
    flops = count_flops(call)
    peak = _status_mb("VmHWM") if reset else None
    lifetime = peak is None
    if peak is None:
        peak = _lifetime_peak_mb()
    delta = peak - before
    return Probe(flops, float(peak), float(delta), lifetime)


def matmul_ceiling(size: int = 2048, repeats: int = 3) -> float:
    """This machine's practical float32 throughput: a ``size``-square matmul, in GFLOP/s.

    One warm-up product, then the median of ``repeats`` (``2 size^3`` FLOPs each), with the
    current torch thread setting.
    """
    if size < 1 or repeats < 1:
        raise ValueError(f"need size >= 1 and repeats >= 1, got {size} and {repeats}")
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen)
    b = torch.randn(size, size, generator=gen)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2.0 * size**3 / float(np.median(times)) / 1e9


_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "KMP_AFFINITY",
    "OMP_PROC_BIND",
    "MKL_DEBUG_CPU_TYPE",
)


def thread_info() -> dict[str, Any]:
    """Torch's intra- and inter-op threads, the oneDNN/MKL flags and the threading env vars."""
    return {
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "mkl_available": bool(torch.backends.mkl.is_available()),
        "env": {name: os.environ.get(name) for name in _THREAD_ENV},
    }
