"""Reading, writing and overriding :class:`~mrsisr.train.config.TrainConfig` (TOML, dicts).

* :func:`load_config` reads a TOML file, or a configuration shipped with the package by name
  (``paper``, ``paper_noadv``, ``quick``, ``tiny``), on top of the dataclass defaults.
* :func:`apply_overrides` applies ``section.key=value`` strings (values in TOML syntax;
  a bare word is a string).
* :func:`to_toml` writes the whole resolved configuration; loading it gives it back.
* :func:`config_hash` fingerprints what a run computes (keys marked resume-safe excluded).

Every unknown key, wrong type or unknown option raises :class:`~mrsisr.errors.UserError`
naming the key (with close matches) and what is accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import hashlib
import json
import sys
import types
import typing
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrsisr.errors import UserError, argument
from mrsisr.train.config import TrainConfig, check_config
from mrsisr.untrusted import parse_toml, read_text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "apply_overrides",
    "builtin_configs",
    "check_config",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "diff_configs",
    "load_config",
    "to_toml",
]


def builtin_configs() -> list[str]:
    """Names of the configurations shipped in ``mrsisr/configs``."""
    folder = resources.files("mrsisr") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _keys(cls: type[DataclassInstance] | DataclassInstance, prefix: str = "") -> list[str]:
    """Every dotted key of a dataclass tree."""
    out = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(_keys(tp, f"{prefix}{f.name}."))
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _every_key() -> str:
    """Where every key is listed: the flag of ``mrsisr train`` that prints them, under a
    command that names it (``show_config``), else the dataclass."""
    flag = argument("show_config")
    if flag == "show_config":
        return "see the fields of mrsisr.train.config.TrainConfig"
    return f"see `mrsisr train {flag}`"


def _unknown_key(key: str, where: str) -> UserError:
    valid = _keys(TrainConfig)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else _every_key()
    return UserError(f"{where}: unknown config key {key!r}; {hint}")


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check and convert one value to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key, where)
            except UserError as err:
                errors.append(str(err))
        raise UserError(errors[0])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            valid = ", ".join(m.value for m in tp)
            raise UserError(f"{where}: {key}={value!r} is not valid; use one of {valid}") from None
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: {key} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise UserError(f"{where}: {key} must hold {len(args)} values, got {value!r}")
            return tuple(_coerce(v, a, key, where) for v, a in zip(value, args))
        item = args[0] if args else Any
        items = [_coerce(v, item, key, where) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: {key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: {key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: {key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: {key} must be a string, got {value!r}")
        return value
    raise TypeError(f"config key {key} has an unsupported type {tp!r}")


def config_from_dict(data: dict[str, Any], where: str = "config", cls: type = TrainConfig) -> Any:
    """Build a config from nested dicts; missing keys keep their defaults.

    Raises:
        UserError: an unknown key (with close matches) or a value of the wrong type.
    """
    return _update(cls(), data, where, "")


def _update(obj: Any, data: dict[str, Any], where: str, prefix: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name not in names:
            raise _unknown_key(key, where)
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise UserError(f"{where}: {key} is a section; give it as [{key}] keys")
            section = _update(getattr(obj, name), value, where, f"{key}.")
            setattr(obj, name, _revalidated(section, where, key))
        else:
            setattr(obj, name, _coerce(value, tp, key, where))
    return obj


def _revalidated(section: Any, where: str, key: str) -> Any:
    """A fresh copy of a section, so that its own ``__post_init__`` checks the new values."""
    values = {f.name: getattr(section, f.name) for f in dataclasses.fields(section) if f.init}
    try:
        return type(section)(**values)
    except (TypeError, ValueError) as err:
        raise UserError(f"{where}: [{key}] {err}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """Nested plain dict (lists for tuples, strings for enums) of a config dataclass."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def _parse_value(text: str) -> Any:
    """A TOML value (``3``, ``2e-4``, ``true``, ``[16, 32]``, ``"x"``); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``key=value`` overrides (dotted keys, TOML values) to ``config`` in place.

    Raises:
        UserError: a malformed override, an unknown key or a value of the wrong type.
    """
    option = argument("overrides")
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} optim.lr=2e-4")
        nested: dict[str, Any] = {}
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _parse_value(text.strip())
        try:
            _update(config, nested, f"{option} {key}", "")
        except UserError as err:
            if "is a section" in str(err) or "unknown config key" in str(err):
                raise UserError(str(err).replace(f"{option} {key}: ", f"{option}: ", 1)) from None
            raise
    return config


def load_config(source: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a configuration: ``None`` for the defaults, a TOML path, or a built-in name.

    Raises:
        UserError: unreadable file, unknown name, unknown key or wrong value.
    """
    config, where = TrainConfig(), "config"
    if source is not None:
        path = Path(source)
        if not path.is_file() and path.suffix != ".toml" and str(source) in builtin_configs():
            text = (resources.files("mrsisr") / "configs" / f"{source}.toml").read_text("utf-8")
            where = f"{argument('source')} {source}"
        elif path.is_file():
            text, where = read_text(path, "a training configuration (TOML)"), str(path)
        else:
            names = ", ".join(builtin_configs())
            raise UserError(
                f"{argument('source')} {source}: no such file; give a TOML file or one of {names}"
            )
        config = config_from_dict(parse_toml(text, where), where)
    config = apply_overrides(config, list(overrides or []))
    try:
        return check_config(config)
    except UserError as err:
        raise UserError(f"{where}: {err}" if source is not None else str(err)) from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(config: Any) -> str:
    """The whole configuration as TOML (``None`` values are omitted: they are the default)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], name: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and v is not None}
        if name:
            lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        for k, v in table.items():
            if isinstance(v, dict):
                emit(v, f"{name}.{k}" if name else k)

    emit(config_to_dict(config), "")
    return "\n".join(lines).lstrip("\n") + "\n"


def _strip_resume_safe(config: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(config):
        if f.metadata.get("resume_safe"):
            continue
        value = getattr(config, f.name)
        if f.metadata.get("hash_when_set") and value == f.default:
            continue
        out[f.name] = (
            _strip_resume_safe(value) if dataclasses.is_dataclass(value) else config_to_dict(value)
        )
    return out


def config_hash(config: TrainConfig) -> str:
    """SHA-256 (16 hex digits) of every key that changes what a run computes."""
    text = json.dumps(_strip_resume_safe(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def diff_configs(old: TrainConfig, new: TrainConfig) -> list[str]:
    """``key: old -> new`` for every key (resume-safe ones excluded) that differs."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    a, b = flat(_strip_resume_safe(old)), flat(_strip_resume_safe(new))
    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
