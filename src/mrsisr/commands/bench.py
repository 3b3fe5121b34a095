"""``mrsisr bench``: time training and inference of the conditioned UNet against the plain one.

Every workload (generator step, WGAN-GP step with 1 and 5 critic updates, inference at batch
1 and 32) runs for every case (``plain``, ``loop``, ``loop_conv``, ``fast``, ``fast_grouped``;
see :mod:`mrsisr.benchmarking.workloads`) round-robin in one process, so the ratios hold on a
loaded machine. Prints a markdown table; ``--json FILE`` writes every number. ``--quick``
takes under a minute on two cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mrsisr.errors import UserError
from mrsisr.options import StrEnum
from mrsisr.provenance import write_result_record

if TYPE_CHECKING:
    from mrsisr.benchmarking import BenchSettings

HELP = "benchmark training and inference speed of the conditioned vs the plain UNet"

QUICK = {"repeats": 3, "warmup": 1, "ceiling_size": 1024}
"""Settings of ``--quick`` (explicit ``--repeats`` / ``--warmup`` still win)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options to ``parser``."""
    parser.add_argument("--quick", action="store_true", help="few repeats, small ceiling matmul")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all results as JSON")
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the markdown table to FILE"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: stable on a shared machine)",
    )
    parser.add_argument("--repeats", type=int, help="timed rounds per workload (default 15)")
    parser.add_argument("--warmup", type=int, help="untimed rounds first (default 3)")
    parser.add_argument("--batch", type=int, default=8, help="training batch size (default 8)")
    parser.add_argument(
        "--grid", type=int, default=64, help="square high-resolution grid (default 64)"
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        metavar="NAME",
        help="subset of: train gan1 gan5 infer_b1 infer_b32 (default all)",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        metavar="NAME",
        help="subset of: plain loop loop_conv fast fast_grouped (default all; plain is always run)",
    )


def _settings(args: argparse.Namespace) -> BenchSettings:
    from mrsisr.benchmarking import BenchSettings, Case, Workload

    options = {}
    if args.quick:
        options.update(QUICK)
    for name in ("repeats", "warmup"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    for flag, value, low in (
        ("--threads", args.threads, 1),
        ("--batch", args.batch, 1),
        ("--repeats", options.get("repeats", 1), 1),
        ("--warmup", options.get("warmup", 0), 0),
    ):
        if value < low:
            raise UserError(f"{flag} {value}: must be >= {low}")
    if args.grid < 32 or args.grid % 16:
        raise UserError(
            f"--grid {args.grid}: must be a multiple of 16 and >= 32 (5 levels, 2 x 2 bottleneck)"
        )
    choices: dict[str, tuple[type[StrEnum], list[str] | None]] = {
        "--workloads": (Workload, args.workloads),
        "--cases": (Case, args.cases),
    }
    for flag, (enum_cls, names) in choices.items():
        valid = [m.value for m in enum_cls]
        bad = [n for n in names or [] if n not in valid]
        if bad:
            raise UserError(f"{flag} {' '.join(bad)}: unknown; valid: {', '.join(valid)}")
    cases = tuple(Case)
    if args.cases:
        cases = tuple(c for c in Case if c == Case.plain or c.value in args.cases)
    workloads = tuple(Workload)
    if args.workloads:
        workloads = tuple(w for w in Workload if w.value in args.workloads)
    return BenchSettings(
        batch=args.batch,
        grid=(args.grid, args.grid),
        threads=args.threads,
        cases=cases,
        workloads=workloads,
        extra={"quick": bool(args.quick)},
        **options,
    )


def run(args: argparse.Namespace) -> int:
    """Run the suite, print the markdown table, write the requested files; return 0."""
    from mrsisr.machine import source_state

    code = source_state()
    settings = _settings(args)
    for path in (args.json, args.markdown):
        if path is not None and not path.parent.is_dir():
            raise UserError(f"{path}: the folder {path.parent} does not exist")
    from mrsisr.benchmarking import run_suite, to_markdown

    result = run_suite(settings, progress=lambda msg: print(f"bench: {msg}", file=sys.stderr))
    table = to_markdown(result)
    print(table, end="")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(table)
    written = [p for p in (args.json, args.markdown) if p is not None]
    if written:
        write_result_record(
            written[0].parent,
            "mrsisr bench: " + ", ".join(p.name for p in written),
            seeds={"weights": "randomly initialised networks; timings are not seeded"},
            code=code,
        )
    return 0
