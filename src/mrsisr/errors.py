"""The one exception type the command line turns into a one-line message and exit code 2,
and how a message names the argument it blames.

Library code names an argument by its parameter (:func:`argument`); while a command runs, the
command line has given each parameter its flag (:func:`flags`, a command module's ``FLAGS``),
so the same message names what its user typed: ``scaling internal: …`` from Python,
``--scaling internal: …`` from ``mrsisr predict``. Flags are spelled in ``commands/`` only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType

__all__ = ["UserError", "argument", "flags"]


class UserError(ValueError):
    """A problem with something the user gave us (a file, an argument, a value).

    The message must name the file or argument and what is accepted; it is printed as one
    line, without a traceback.
    """


_FLAGS: ContextVar[Mapping[str, str]] = ContextVar("flags", default=MappingProxyType({}))


def argument(name: str) -> str:
    """How a message names the argument ``name``: its flag while a command that gave it one
    runs (:func:`flags`), else ``name`` itself."""
    return _FLAGS.get().get(name, name)


@contextlib.contextmanager
def flags(names: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :func:`argument` spells these arguments as these flags
    (``{"scaling": "--scaling"}``); the others keep their names.

    Args:
        names: argument name -> flag, as a command module's ``FLAGS``.
    """
    token = _FLAGS.set(MappingProxyType(dict(names)))
    try:
        yield
    finally:
        _FLAGS.reset(token)
