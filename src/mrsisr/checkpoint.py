"""Model files: one safetensors file with the architecture in its JSON header (no pickle).

A model file holds the generator's tensors and, in the safetensors header metadata, a JSON
document under the key ``"mrsisr"``::

    {"format": "mrsisr-model", "format_version": 1, "variant": "full",
     "config": {...GeneratorConfig fields...}, "metadata": {...free-form...}}

Loading reads only tensors and JSON, so a model file can never execute code. A model file is
untrusted input: before a single weight is allocated, :func:`read_info` checks the header's
keys, types and sizes (:data:`mrsisr.nn.config.LIMITS`), builds the generator it describes on
PyTorch's ``meta`` device (no memory), bounds its size and compares the name, shape and dtype
of every tensor with the safetensors header, which lists them without loading any data
(``docs/model-files.md``). Writes are atomic (temporary file in the same folder, then
``os.replace``).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from mrsisr.atomic import atomic_write
from mrsisr.errors import UserError
from mrsisr.nn.config import GeneratorConfig, Variant

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_MODEL_VALUES",
    "ModelInfo",
    "load_model",
    "read_info",
    "read_safetensors_header",
    "save_model",
]

FORMAT = "mrsisr-model"
FORMAT_VERSION = 1
_HEADER_KEY = "mrsisr"
_HEADER_FIELDS = ("format", "format_version", "variant", "config", "metadata")

MAX_HEADER_BYTES = 4 * 2**20
"""Largest accepted safetensors header (the shipped model's is 22 kB)."""
MAX_MODEL_VALUES = 100_000_000
"""Largest accepted number of stored values (400 MB of float32); the largest network of the
paper's Table 1 (the hypernetwork) has 26 million, the shipped model 7.4 million."""
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16}


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself."""

    variant: Variant
    config: dict[str, Any]
    """Every :class:`~mrsisr.nn.config.GeneratorConfig` field (JSON types), checked."""
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_model(
    path: str | Path,
    model: nn.Module,
    variant: Variant | str,
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    *,
    half: bool = False,
) -> None:
    """Write ``model``'s tensors and its architecture to one safetensors file, atomically.

    Args:
        path: destination ``.safetensors`` file.
        model: the generator (a DDP wrapper is unwrapped).
        variant: its :class:`~mrsisr.nn.config.Variant`.
        config: the keyword arguments that rebuild it with ``build_generator(variant, **config)``
            (JSON-serialisable).
        metadata: free-form JSON-serialisable facts (training data, recipe, metrics).
        half: store float32 tensors as float16 (half the file; :func:`load_model` loads them
            into the float32 model). The shipped model's outputs change by less than 0.01 dB
            PSNR (``docs/model-files.md``).

    Raises:
        ValueError: if ``half`` and a weight does not fit float16 (``|w| > 65504``).
    """
    from safetensors.torch import save_file

    model = getattr(model, "module", model)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": str(variant),
        "config": config,
        "metadata": metadata or {},
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        for name, value in tensors.items():
            if value.dtype == torch.float32:
                if not torch.isfinite(value.half()).all():
                    raise ValueError(f"half: tensor {name!r} has values beyond float16's range")
                tensors[name] = value.half()
    text = json.dumps(header, default=str)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={_HEADER_KEY: text}))


def read_safetensors_header(
    path: Path, what: str = "model file"
) -> tuple[dict[str, str], dict[str, tuple[str, list]]]:
    """The metadata and ``{name: (dtype, shape)}`` of a safetensors file, no tensor loaded.

    Args:
        path: the file.
        what: what it should be, for the messages.

    Raises:
        UserError: unreadable, not safetensors, or a header over :data:`MAX_HEADER_BYTES`.
    """
    try:
        with path.open("rb") as fh:
            prefix = fh.read(8)
    except OSError as err:
        raise UserError(f"{path}: cannot read the {what} ({err.strerror})") from None
    if len(prefix) < 8 or struct.unpack("<Q", prefix)[0] > MAX_HEADER_BYTES:
        raise UserError(
            f"{path}: not a readable safetensors {what} "
            f"(missing header, or header over {MAX_HEADER_BYTES} bytes)"
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {}
            for name in fh.keys():
                view = fh.get_slice(name)
                tensors[name] = (view.get_dtype(), view.get_shape())
    except Exception as err:  # safetensors raises several error types for corrupt files
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable safetensors {what} ({first})") from None
    return metadata, tensors


def _header(path: Path, raw: str | None) -> dict[str, Any]:
    """The ``mrsisr`` JSON document of a model file, with its top-level keys checked."""
    if raw is None:
        raise UserError(f"{path}: not an mrsisr model file (no '{_HEADER_KEY}' header)")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise UserError(
            f"{path}: corrupted mrsisr header (invalid or too deeply nested JSON)"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UserError(f"{path}: not an mrsisr model file (format is not '{FORMAT}')")
    if header.get("format_version") != FORMAT_VERSION or isinstance(
        header.get("format_version"), bool
    ):
        raise UserError(
            f"{path}: model format version {header.get('format_version')!r} is not supported; "
            f"this mrsisr reads version {FORMAT_VERSION}"
        )
    unknown = sorted(set(header) - set(_HEADER_FIELDS))
    if unknown:
        raise UserError(
            f"{path}: unknown header key {unknown[0]!r}; a model header holds "
            f"{', '.join(_HEADER_FIELDS)}"
        )
    for key in ("config", "metadata"):
        if not isinstance(header.get(key, {}), dict):
            raise UserError(f"{path}: header field '{key}' must be a JSON object")
    return header


def _checked_config(path: Path, config: dict[str, Any]) -> GeneratorConfig:
    """The :class:`~mrsisr.nn.config.GeneratorConfig` of a header, every field checked."""
    known = [f.name for f in fields(GeneratorConfig)]
    unknown = sorted(set(config) - set(known))
    if unknown:
        raise UserError(
            f"{path}: unknown config key {unknown[0]!r}; known keys: {', '.join(known)}"
        )
    try:
        return GeneratorConfig(**config)
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: header field 'config': {err}") from None


def _check_metadata(path: Path, metadata: dict[str, Any], grid: tuple[int, int]) -> None:
    """The metadata keys the program uses (``n_choices``, ``split``, ``fold``, ``lam_range``)."""

    def bad(key: str, accepted: str) -> UserError:
        return UserError(f"{path}: metadata field '{key}' must be {accepted}")

    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    ns = metadata.get("n_choices", [])
    if not isinstance(ns, list) or not all(is_int(n) and 1 <= n <= min(grid) for n in ns):
        raise bad("n_choices", f"a list of integers in 1..{min(grid)} (the model's grid)")
    fold = metadata.get("fold")
    if fold is not None and not (is_int(fold) and fold >= 0):
        raise bad("fold", "an integer >= 0 or null")
    split = metadata.get("split", {})
    if not isinstance(split, dict) or not all(
        isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in split.values()
    ):
        raise bad("split", "an object of lists of patient ids")
    lam = metadata.get("lam_range", [0.0, 0.0])
    if not (
        isinstance(lam, list)
        and len(lam) == 2
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in lam
        )
        and 0 <= lam[0] <= lam[1]
    ):
        raise bad("lam_range", "two finite numbers 0 <= low <= high")


def _check_tensors(
    path: Path, variant: Variant, config: GeneratorConfig, tensors: dict[str, tuple[str, list]]
) -> nn.Module:
    """Build the described generator on the ``meta`` device, compare it with the file and
    return it (no memory allocated)."""
    from mrsisr.nn.unet import MultiEncoderUNet
    from mrsisr.nn.variants import CONDITIONING

    with torch.device("meta"):
        model = MultiEncoderUNet(config, CONDITIONING[variant])
    expected = model.state_dict()
    values = sum(t.numel() for t in expected.values())
    if values > MAX_MODEL_VALUES:
        raise UserError(
            f"{path}: the '{variant}' model its header describes has {values:,} values; "
            f"at most {MAX_MODEL_VALUES:,} are accepted"
        )
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        what = f"missing tensor {missing[0]!r}" if missing else f"unknown tensor {unexpected[0]!r}"
        more = len(missing) + len(unexpected) - 1
        raise UserError(
            f"{path}: tensors do not match the '{variant}' model its header describes "
            f"({what}{f' and {more} more differences' if more else ''})"
        )
    for name, want in expected.items():
        dtype, shape = tensors[name]
        stored = _DTYPES.get(dtype)
        if stored == torch.float16 and want.dtype == torch.float32:
            stored = want.dtype  # float16 storage of a float32 model (save_model(half=True))
        if list(want.shape) != list(shape) or stored != want.dtype:
            raise UserError(
                f"{path}: tensors do not match the '{variant}' model its header describes "
                f"({name} is {dtype} {list(shape)}; the model needs "
                f"{str(want.dtype).removeprefix('torch.')} {list(want.shape)})"
            )
    return model


def _read(path: str | Path) -> tuple[ModelInfo, nn.Module]:
    """The checked header of a model file and its generator on the ``meta`` device."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: model file not found")
    metadata, tensors = read_safetensors_header(path)
    header = _header(path, metadata.get(_HEADER_KEY))
    try:
        raw = header.get("variant")
        variant = Variant.parse(raw if isinstance(raw, str) else repr(raw))
    except ValueError as err:
        raise UserError(f"{path}: header field 'variant': {err}") from None
    config = _checked_config(path, header.get("config") or {})
    meta = header.get("metadata") or {}
    _check_metadata(path, meta, config.grid)
    model = _check_tensors(path, variant, config, tensors)
    full = json.loads(json.dumps(config.to_dict()))  # every field, defaults included
    return ModelInfo(variant=variant, config=full, metadata=dict(meta), path=path), model


def read_info(path: str | Path) -> ModelInfo:
    """Read and validate a model file without loading its tensors.

    Checks the header's keys, types and sizes, then that the tensors the file lists are
    exactly those of the generator the header describes (built on the ``meta`` device).

    Raises:
        UserError: the file is missing, not safetensors, not an mrsisr model file, or its
            header and tensors are invalid or do not match (naming the field).
    """
    return _read(path)[0]


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelInfo]:
    """Rebuild the generator stored in a model file and load its weights (eval mode).

    The generator checked on the ``meta`` device (:func:`read_info`) is given memory only
    then, and filled with the file's tensors (no random initialisation to overwrite).

    Raises:
        UserError: the file is not a valid mrsisr model file (see :func:`read_info`).
    """
    from safetensors.torch import load_file

    from mrsisr.nn.dc import DataConsistency

    info, model = _read(path)
    try:
        state = load_file(str(path), device=str(map_location))
    except Exception as err:
        raise UserError(f"{path}: corrupted model tensors ({err})") from None
    model = model.to_empty(device=map_location)
    model.load_state_dict(state, strict=True)
    for module in model.modules():  # buffers outside the state dict
        if isinstance(module, DataConsistency):
            module.reset_buffers()
    return model.eval(), info
