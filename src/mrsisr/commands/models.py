"""``mrsisr models``: every network variant, its parameter count, and the paper's figure.

Counts come from the modules as built with the default architecture; a last note gives the
shipped model file's own count, whose options differ from the defaults (presence flags).
``--json`` prints the same rows as a JSON list of ``{"variant", "params", "paper_params"}``
objects.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from mrsisr.nn.config import GeneratorConfig
from mrsisr.provenance import FileHashes
from mrsisr.weights import DEFAULT_MODEL

HELP = "list the network variants with their parameter counts and the paper's (Table 1)"

TOLERANCE = 0.20
"""A count within this fraction of the paper's is a match."""

NOTES = (
    "single_scale: the paper's row is nine networks, one per n in {16, 18, ..., 32}; "
    "its count is nine plain UNets.",
    "full (filter scaling on n and m, CIN on lambda; the default architecture) and the "
    "critic have no row in the paper's Table 1.",
    "The remaining differences (all within 5%): the paper rounds to 0.1M, and the authors' "
    "code uses 3-D convolutions on 3-slice slabs, with 3 x 3 x 3 kernels at the finest "
    "level where ours are 2-D 3 x 3 (about 10k more weights; 0.25M more hypernetwork "
    "outputs).",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options to ``parser``."""
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list of {variant, params, paper_params}"
    )


def _millions(count: int | None) -> str:
    return "-" if count is None else f"{count / 1e6:.1f}M"


def format_table(rows: list) -> str:
    """The rows of :func:`mrsisr.nn.variants.parameter_table` as a text table with notes."""
    lines = [f"{'variant':<20} {'parameters':>12} {'paper':>7} {'vs paper':>9}"]
    misses = []
    for row in rows:
        if row.paper_params is None:
            versus = "-"
        else:
            ratio = row.params / row.paper_params - 1
            versus = f"{100 * ratio:+.1f}%"
            if abs(ratio) > TOLERANCE:
                misses.append(row.variant)
        lines.append(
            f"{row.variant:<20} {row.params:>12,} {_millions(row.paper_params):>7} {versus:>9}"
        )
    notes = list(NOTES)
    if misses:
        notes.append(f"Outside +-{100 * TOLERANCE:.0f}% of the paper: {', '.join(misses)}.")
    lines.append("")
    lines.extend(
        textwrap.fill(note, 92, initial_indent="* ", subsequent_indent="  ") for note in notes
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON); return the exit code."""
    from mrsisr.nn.variants import parameter_table

    rows = parameter_table()
    if args.json:
        print(json.dumps([row._asdict() for row in rows], indent=2))
    else:
        print(format_table(rows))
        print(textwrap.fill(_shipped_note(), 92, initial_indent="* ", subsequent_indent="  "))
    return 0


def _shipped_note() -> str:
    """The shipped file's variant, parameter count and the options that differ from the
    default architecture (read from its header; no weights loaded)."""
    from mrsisr.checkpoint import read_info
    from mrsisr.nn.variants import build_generator, count_parameters

    info = read_info(DEFAULT_MODEL)
    count = count_parameters(build_generator(info.variant, **info.config))
    default = json.loads(json.dumps(GeneratorConfig().__dict__))  # tuples as lists, enums as str
    differ = [f"{k} = {v}" for k, v in info.config.items() if k in default and default[k] != v]
    return (
        f"The shipped file ({DEFAULT_MODEL.name}, SHA-256 {FileHashes()(DEFAULT_MODEL)[:12]}...) "
        f"is {info.variant} with {count:,} parameters; its options differ from the defaults "
        f"above in: {', '.join(differ) or 'nothing'}."
    )
