"""Reading small text files a user may have been sent (``cohort.json``, ``split.json``,
``run.json``, TOML configurations), with one bounded, one-line-error implementation.

A file of this kind is untrusted input: it is refused, with a :class:`~mrsisr.errors.UserError`
naming the file, when it is missing, larger than :data:`MAX_TEXT_BYTES`, not UTF-8, not valid
JSON or TOML, nested beyond Python's recursion limit, or (JSON) holds ``NaN`` or ``Infinity``,
which JSON does not allow but Python's reader accepts. Checking the fields is each reader's
job (``docs/model-files.md`` lists what is checked where).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mrsisr.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["MAX_TEXT_BYTES", "parse_toml", "read_json", "read_text", "read_toml"]

MAX_TEXT_BYTES = 16 * 2**20
"""Largest JSON or TOML file read (a cohort of thousands of patients takes well under 1 MB)."""


def read_text(path: str | Path, expected: str) -> str:
    """The UTF-8 text of a file of at most :data:`MAX_TEXT_BYTES`.

    Args:
        path: the file.
        expected: what the file should be, for the messages (e.g. ``"a cohort manifest"``).

    Raises:
        UserError: naming the file: missing, unreadable, too large or not UTF-8.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise UserError(
                f"{path}: {size} bytes; expected {expected} of at most {MAX_TEXT_BYTES}"
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: missing file; expected {expected}") from None
    except (OSError, UnicodeDecodeError) as err:
        what = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise UserError(f"{path}: cannot read ({what}); expected {expected}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(path: str | Path, expected: str) -> Any:
    """The parsed content of a JSON file (see :func:`read_text` for the arguments).

    Raises:
        UserError: naming the file, as :func:`read_text`, or for invalid JSON.
    """
    text = read_text(path, expected)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply; expected {expected}") from None
    except ValueError as err:  # json.JSONDecodeError is a ValueError
        raise UserError(f"{path}: not valid JSON ({err}); expected {expected}") from None


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """The tables of a TOML document; ``where`` names its source in the messages.

    Raises:
        UserError: invalid or too deeply nested TOML.
    """
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise UserError(f"{where}: TOML nested too deeply") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{where}: invalid TOML ({err})") from None


def read_toml(path: str | Path, expected: str) -> dict[str, Any]:
    """The tables of a TOML file (see :func:`read_text` for the arguments)."""
    return parse_toml(read_text(path, expected), str(path))
