"""The ``mrsisr`` command line: one sub-command per module of :mod:`mrsisr.commands`.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and imports heavy dependencies inside ``run`` so that ``mrsisr --help``
stays fast. A command whose library names arguments in its messages also defines ``FLAGS``
(argument name -> flag), in force while it runs (:func:`mrsisr.errors.flags`). A
:class:`~mrsisr.errors.UserError` (or a ``ValueError`` raised while checking user input)
becomes one line on stderr and exit code 2. SIGTERM (what ``kill``, job schedulers
and container runtimes send) unwinds a command like Ctrl-C, so that it cleans up the same way
(no temporary files or folders left) and exits with 143.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType, ModuleType

from mrsisr import __version__
from mrsisr.errors import UserError, flags

# Sub-command name -> module; the order is the order of ``mrsisr --help``.
COMMANDS: dict[str, str] = {
    "demo": "mrsisr.commands.demo",
    "predict": "mrsisr.commands.predict",
    "adapt": "mrsisr.commands.adapt",
    "report": "mrsisr.commands.report",
    "phantom": "mrsisr.commands.phantom",
    "cohort": "mrsisr.commands.cohort",
    "train": "mrsisr.commands.train",
    "blend": "mrsisr.commands.blend",
    "evaluate": "mrsisr.commands.evaluate",
    "calibrate": "mrsisr.commands.calibrate",
    "reproduce": "mrsisr.commands.reproduce",
    "lpips-weights": "mrsisr.commands.lpips_weights",
    "models": "mrsisr.commands.models",
    "bench": "mrsisr.commands.bench",
}


def _available_commands() -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
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
        cmd.set_defaults(_run=module.run, _flags=getattr(module, "FLAGS", {}))
    return parser


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that it unwinds like Ctrl-C."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


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
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        with flags(args._flags):
            return int(args._run(args) or 0)
    except UserError as err:
        print(f"mrsisr {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"mrsisr {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"mrsisr {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
