"""The benchmark suite: every (workload, case) timed side by side in one run, and its report.

:func:`run_suite` returns a JSON-friendly dict; :func:`to_markdown` renders it. The headline
keys (``train_step_ms``, ``gan_step_ms``, ``infer_ms_per_map_b1``, ``infer_ms_per_map_b32``)
map each case to its median in milliseconds; ``workloads`` holds the spread, FLOPs, achieved
GFLOP/s, fraction of the matmul ceiling, peak memory and the ratios to ``plain``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from mrsisr.benchmarking.measure import (
    interleaved_times,
    machine_info,
    matmul_ceiling,
    paired_ratio,
    probe,
    resident_mb,
    summarise,
    thread_info,
)
from mrsisr.benchmarking.workloads import CASE_HELP, Case, Workload, make_call, workload_spec

__all__ = ["SCHEMA_VERSION", "TARGETS", "BenchSettings", "run_suite", "to_markdown"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

TARGETS: dict[str, tuple[Workload, Case, Case, float, str]] = {
    "train_fast_vs_plain": (Workload.train, Case.fast, Case.plain, 1.25, "<="),
    "train_loop_vs_fast": (Workload.train, Case.loop, Case.fast, 2.0, ">="),
    "train_loop_conv_vs_fast": (Workload.train, Case.loop_conv, Case.fast, 2.0, ">="),
    "infer_b32_fast_vs_plain": (Workload.infer_b32, Case.fast, Case.plain, 1.25, "<="),
}
"""Target name -> (workload, case, reference case, bound, comparison) on the median ratio."""


@dataclass
class BenchSettings:
    """Options of one benchmark run."""

    repeats: int = 15
    """Timed rounds per workload (every case once per round)."""
    warmup: int = 3
    """Untimed rounds first."""
    batch: int = 8
    """Training batch size (inference uses 1 and 32)."""
    grid: tuple[int, int] = (64, 64)
    """High-resolution grid ``(N_y, N_x)``."""
    threads: int = 1
    """Torch intra-op threads."""
    ceiling_size: int = 2048
    """Side of the square matmul that measures the machine's ceiling."""
    cases: tuple[Case, ...] = tuple(Case)
    workloads: tuple[Workload, ...] = tuple(Workload)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form facts recorded in the output (e.g. ``quick``)."""

    def __post_init__(self) -> None:
        for name in ("repeats", "batch", "threads", "ceiling_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup!r}")
        self.cases = tuple(Case(c) for c in self.cases)
        self.workloads = tuple(Workload(w) for w in self.workloads)
        if Case.plain not in self.cases:
            raise ValueError("cases must include plain (every ratio is taken against it)")


def _measure_workload(
    workload: Workload, settings: BenchSettings, ceiling: float
) -> dict[str, dict[str, Any]]:
    """Time every case of one workload round-robin; probe FLOPs and memory once per case.

    Each case is built, called once and probed before the next is built, so its memory
    footprint is its own (the earlier cases' memory is already resident in the baseline).
    """
    spec = workload_spec(workload, settings.batch)
    calls: dict[str, Callable[[], Any]] = {}
    probes = {}
    footprint = {}
    for case in settings.cases:
        base = resident_mb()
        call = make_call(case, workload, settings.batch, settings.grid, settings.seed)
        call()  # first call: lazy allocations and oneDNN primitive creation
        probes[case.value] = probe(call)
        calls[case.value] = call
        footprint[case.value] = probes[case.value].peak_rss_mb - base
    timings = interleaved_times(calls, settings.repeats, settings.warmup)
    per_map = 1 if spec.training else spec.batch
    plain = Case.plain.value
    plain_ms = summarise(timings.wall[plain], per_map).median_ms
    plain_cpu_ms = summarise(timings.cpu[plain], per_map).median_ms
    out: dict[str, dict[str, Any]] = {}
    for name, seconds in timings.wall.items():
        stats = summarise(seconds, per_map)
        cpu = summarise(timings.cpu[name], per_map)
        info = probes[name]
        gflops = info.flops / (stats.median_ms * per_map / 1000.0) / 1e9
        out[name] = {
            **stats.to_dict(),
            "cpu_median_ms": cpu.median_ms,
            "cpu_q1_ms": cpu.q1_ms,
            "cpu_q3_ms": cpu.q3_ms,
            "cpu_ratio_to_plain": cpu.median_ms / plain_cpu_ms,
            "gflop": info.flops / 1e9,
            "gflops": gflops,
            "fraction_of_ceiling": gflops / ceiling,
            "peak_rss_mb": info.peak_rss_mb,
            "rss_delta_mb": info.rss_delta_mb,
            "footprint_mb": footprint[name],
            "peak_is_lifetime": info.peak_is_lifetime,
            "ratio_to_plain": stats.median_ms / plain_ms,
            "paired_ratio_to_plain": paired_ratio(seconds, timings.wall[plain]),
        }
    del calls
    gc.collect()
    return out


def run_suite(
    settings: BenchSettings, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every workload of ``settings`` and return the results (see the module docstring).

    Args:
        settings: what to run.
        progress: called with a short message as each workload starts (e.g. ``print``).
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        say = progress or log.info
        say(f"ceiling: {settings.ceiling_size}^2 float32 matmul")
        ceiling = matmul_ceiling(settings.ceiling_size)
        workloads = {}
        for workload in settings.workloads:
            say(f"{workload.value}: {', '.join(c.value for c in settings.cases)}")
            workloads[workload.value] = _measure_workload(workload, settings, ceiling)
        threads = thread_info()
    finally:
        torch.set_num_threads(previous_threads)
    return _assemble(settings, ceiling, workloads, threads)


def _medians(workloads: dict[str, Any], workload: Workload) -> dict[str, float] | None:
    rows = workloads.get(workload.value)
    return None if rows is None else {case: row["median_ms"] for case, row in rows.items()}


def _assemble(
    settings: BenchSettings, ceiling: float, workloads: dict[str, Any], threads: dict[str, Any]
) -> dict[str, Any]:
    machine = machine_info()
    targets = {}
    for name, (workload, case, reference, bound, op) in TARGETS.items():
        rows = workloads.get(workload.value, {})
        if case.value not in rows or reference.value not in rows:
            continue
        ratio = rows[case.value]["median_ms"] / rows[reference.value]["median_ms"]
        cpu_ratio = rows[case.value]["cpu_median_ms"] / rows[reference.value]["cpu_median_ms"]
        met = ratio <= bound if op == "<=" else ratio >= bound
        targets[name] = {
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "target": f"{op} {bound}",
            "met": bool(met),
        }
    gan = {
        key: _medians(workloads, w)
        for key, w in (("n_critic_1", Workload.gan1), ("n_critic_5", Workload.gan5))
        if w.value in workloads
    }
    settings_dict = asdict(settings)
    settings_dict["cases"] = [c.value for c in settings.cases]
    settings_dict["workloads"] = [w.value for w in settings.workloads]
    return {
        "schema": SCHEMA_VERSION,
        "date": machine["date"],
        "machine": machine,
        "torch": torch.__version__,
        "threads": threads,
        "settings": settings_dict,
        "cases": {c.value: CASE_HELP[c] for c in settings.cases},
        "ceiling_gflops": ceiling,
        "train_step_ms": _medians(workloads, Workload.train),
        "gan_step_ms": gan,
        "infer_ms_per_map_b1": _medians(workloads, Workload.infer_b1),
        "infer_ms_per_map_b32": _medians(workloads, Workload.infer_b32),
        "workloads": workloads,
        "targets": targets,
    }


_ROW_LABEL = {
    Workload.train: "training step, generator (ms)",
    Workload.gan1: "WGAN-GP step, n_critic 1 (ms)",
    Workload.gan5: "WGAN-GP step, n_critic 5 (ms)",
    Workload.infer_b1: "inference, batch 1 (ms/map)",
    Workload.infer_b32: "inference, batch 32 (ms/map)",
}


def _table(result: dict[str, Any], cell: Callable[[dict[str, Any]], str]) -> list[str]:
    cases: Sequence[str] = result["settings"]["cases"]
    lines = [
        "| workload | " + " | ".join(f"`{c}`" for c in cases) + " |",
        "|---|" + "---:|" * len(cases),
    ]
    for name, rows in result["workloads"].items():
        label = _ROW_LABEL[Workload(name)]
        lines.append(f"| {label} | " + " | ".join(cell(rows[c]) for c in cases) + " |")
    return lines


def to_markdown(result: dict[str, Any]) -> str:
    """The results as markdown: the setting, a timing table, an efficiency table, targets."""
    machine, threads, settings = result["machine"], result["threads"], result["settings"]
    head = [
        f"Measured {result['date']} on {machine['cpu']} ({machine['usable_cpus']} usable CPUs, "
        f"load {machine['load_average_1min']}), torch {result['torch']}, "
        f"{threads['torch_threads']} intra-op / {threads['interop_threads']} inter-op threads; "
        f"batch {settings['batch']}, grid {settings['grid'][0]}x{settings['grid'][1]}, "
        f"{settings['repeats']} interleaved repeats after {settings['warmup']} warm-up. "
        f"Ceiling (float32 {settings['ceiling_size']}^2 matmul): "
        f"{result['ceiling_gflops']:.0f} GFLOP/s.",
        "",
        "Median (IQR) and ratio to `plain` (median of per-round ratios):",
        "",
    ]
    timing = _table(
        result,
        lambda r: (
            f"{r['median_ms']:.1f} ({r['q1_ms']:.1f}-{r['q3_ms']:.1f}) "
            f"x{r['paired_ratio_to_plain']:.2f}"
        ),
    )
    efficiency = _table(
        result,
        lambda r: (
            f"{r['gflops']:.1f} GFLOP/s, {100 * r['fraction_of_ceiling']:.1f}%, "
            f"{r['footprint_mb']:.0f} MB"
        ),
    )
    cpu = _table(result, lambda r: f"{r['cpu_median_ms']:.1f} x{r['cpu_ratio_to_plain']:.2f}")
    lines = [*head, *timing, "", "Process CPU time, median and ratio to `plain`:", "", *cpu]
    lines += [
        "",
        "Achieved GFLOP/s, share of the ceiling, memory footprint (peak RSS during a call "
        "minus the RSS before the case was built: weights, optimiser state, activations):",
        "",
        *efficiency,
    ]
    if result["targets"]:
        lines += [
            "",
            "| target | wall-time ratio | CPU-time ratio | bound | met (wall) |",
            "|---|---:|---:|---|---|",
        ]
        for name, t in result["targets"].items():
            lines.append(
                f"| {name} | {t['ratio']:.2f} | {t['cpu_ratio']:.2f} | {t['target']} | "
                f"{'yes' if t['met'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"
