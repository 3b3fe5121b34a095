"""The ``mrsisr`` command line: one sub-command per module of :mod:`mrsisr.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy dependencies inside ``run`` so that ``mrsisr --help``
stays fast. A :class:`~mrsisr.errors.UserError` (or a ``ValueError`` raised while checking
user input) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from mrsisr import __version__
from mrsisr.errors import UserError

# Sub-command name -> module; the order is the order of ``mrsisr --help``.
COMMANDS: dict[str, str] = {
    "demo": "mrsisr.commands.demo",
    "predict": "mrsisr.commands.predict",
    "report": "mrsisr.commands.report",
    "phantom": "mrsisr.commands.phantom",
    "cohort": "mrsisr.commands.cohort",
    "train": "mrsisr.commands.train",
    "evaluate": "mrsisr.commands.evaluate",
    "calibrate": "mrsisr.commands.calibrate",
    "reproduce": "mrsisr.commands.reproduce",
    "lpips-weights": "mrsisr.commands.lpips_weights",
    "models": "mrsisr.commands.models",
    "bench": "mrsisr.commands.bench",
}


def _available_commands() -> dict[str, object]:
    modules = {}
    for name, path in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(path)
        except ModuleNotFoundError as err:
            if err.name != path:  # a real import error inside an existing command
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (used by ``main`` and by the tests)."""
    parser = argparse.ArgumentParser(
        prog="mrsisr",
        description="Multi-scale super-resolution of brain MRSI with adjustable sharpness.",
    )
    parser.add_argument("--version", action="version", version=f"mrsisr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _available_commands().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mrsisr`` console script; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args._command_line = ["mrsisr", *argv]  # what was run, for provenance records
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args._run(args) or 0)
    except UserError as err:
        one_line = str(err).replace("\n", "\\n")  # a file name may hold a newline
        print(f"mrsisr {args.command}: error: {one_line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mrsisr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
