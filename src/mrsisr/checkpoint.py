"""Model files: one safetensors file with the architecture in its JSON header (no pickle).

A model file holds the generator's tensors and, in the safetensors header metadata, a JSON
document under the key ``"mrsisr"``::

    {"format": "mrsisr-model", "format_version": 1, "variant": "full",
     "metabolites": ["tCho", "tCr", "NAA", "Gly", "Gln", "Glu", "Ins"],
     "trained": {"n_min": [16, 16], "n_max": [32, 32], "N": [64, 64]},
     "config": {...GeneratorConfig fields...}, "metadata": {...free-form...}}

``metabolites`` is the order of the metabolite embedding (index ``i`` is the ``i``-th name);
a file without it (written by mrsisr 0.1.0) is read as that version's list,
:data:`METABOLITES_0_1_0` (today's :data:`mrsisr.metabolites.METABOLITES`).
A file whose list holds the same names in another order is mapped by name: the embedding's
rows are reordered on load, so indices are always those of ``METABOLITES``; a list with an
unknown, missing or repeated name is refused. ``trained`` (optional) records the acquisition
sizes ``n`` (per axis) and the output grid ``N`` the model was trained on; a model trained on
several output grids (``data.grids``, or patients of several native grids: a merged cohort)
adds their range per axis, ``N_min`` and ``N_max``.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from mrsisr.atomic import atomic_write
from mrsisr.data.dataset import clip_n, scale_n
from mrsisr.errors import UserError
from mrsisr.metabolites import METABOLITES
from mrsisr.nn.config import GeneratorConfig, Variant

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_MODEL_VALUES",
    "METABOLITES_0_1_0",
    "ModelInfo",
    "TrainedRange",
    "load_model",
    "read_info",
    "read_safetensors_header",
    "save_model",
]

FORMAT = "mrsisr-model"
FORMAT_VERSION = 1
_HEADER_KEY = "mrsisr"
_HEADER_FIELDS = (
    "format",
    "format_version",
    "variant",
    "metabolites",
    "trained",
    "config",
    "metadata",
)
_MAX_METABOLITES = 64
METABOLITES_0_1_0 = ("tCho", "tCr", "NAA", "Gly", "Gln", "Glu", "Ins")
"""The embedding order of every model file written without a ``metabolites`` field (mrsisr
0.1.0). Frozen here, not read from ``METABOLITES``: a metabolite added later must not
change how those files are read."""

MAX_HEADER_BYTES = 4 * 2**20
"""Largest accepted safetensors header (the shipped model's is 22 kB)."""
MAX_MODEL_VALUES = 100_000_000
"""Largest accepted number of stored values (400 MB of float32); the largest network of the
paper's Table 1 (the hypernetwork) has 26 million, the shipped model 7.4 million."""
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16}


@dataclass(frozen=True)
class TrainedRange:
    """The grids a model was trained on: acquisition sizes ``n`` per axis and output ``N``.

    Args:
        n_min: smallest ``(n_y, n_x)`` seen in training.
        n_max: largest ``(n_y, n_x)`` seen in training.
        grid: the model's output grid ``(N_y, N_x)`` (its ``config.grid``).
        grid_min: smallest output grid per axis seen in training; ``None``: ``grid``.
        grid_max: largest output grid per axis seen in training; ``None``: ``grid``.
    """

    n_min: tuple[int, int]
    n_max: tuple[int, int]
    grid: tuple[int, int]
    grid_min: tuple[int, int] | None = None
    grid_max: tuple[int, int] | None = None

    @classmethod
    def from_n_choices(
        cls,
        n_choices: Sequence[int],
        grid: Sequence[int],
        grids: Sequence[Sequence[int]] = (),
        native_grids: Sequence[Sequence[int]] = (),
    ) -> TrainedRange:
        """The range of square acquisition sizes ``n_choices`` on the output ``grid``, or on
        the training ``grids``, and on the native grids of the training patients (as the
        training data make them: :func:`~mrsisr.data.dataset.scale_n` to a native grid,
        then :func:`~mrsisr.data.dataset.clip_n` to the output grid).

        Args:
            n_choices: the acquisition sizes of training, given for ``grid``.
            grid: the model's output grid ``(N_y, N_x)``.
            grids: the output grids of training of the patients on ``grid``; empty:
                ``grid`` only.
            native_grids: the native grids of the training patients (a merged cohort's);
                empty: ``grid`` only. A patient of another native grid ``N`` is trained on
                ``N`` at ``n x N / grid``.

        Returns:
            The range; ``grid_min`` and ``grid_max`` are ``None`` when training used
            ``grid`` only, so such a header is the same as before they existed.
        """
        model_grid = _pair(grid)
        natives = {_pair(g) for g in native_grids} or {model_grid}
        own = [_pair(g) for g in grids] or [model_grid]
        outputs = [(g, model_grid) for g in own if model_grid in natives]
        outputs += [(native, native) for native in sorted(natives - {model_grid})]
        sizes = [output for output, _ in outputs]

        def trained(n: int) -> list[tuple[int, int]]:
            return [clip_n(scale_n((n, n), native, model_grid), out) for out, native in outputs]

        return cls.spanning(
            _per_axis(min, trained(min(n_choices))),
            _per_axis(max, trained(max(n_choices))),
            model_grid,
            (_per_axis(min, sizes), _per_axis(max, sizes)),
        )

    @classmethod
    def spanning(
        cls,
        n_min: tuple[int, int],
        n_max: tuple[int, int],
        grid: tuple[int, int],
        grids: tuple[tuple[int, int], tuple[int, int]],
    ) -> TrainedRange:
        """The range with trained output grids from ``grids[0]`` to ``grids[1]`` per axis;
        ``grid_min`` and ``grid_max`` are ``None`` when that is ``grid`` alone, so such a
        header is the same as before they existed."""
        only_grid = grids[0] == grids[1] == grid
        return cls(n_min, n_max, grid, *((None, None) if only_grid else grids))

    def union(self, other: TrainedRange) -> TrainedRange:
        """Both ranges per axis (a model trained on what either was trained on, e.g. a
        blend of two); ``other`` must have the same model grid.

        Raises:
            ValueError: the model grids differ.
        """
        if other.grid != self.grid:
            raise ValueError(f"model grids differ: {self.grid} and {other.grid}")
        return TrainedRange.spanning(
            _per_axis(min, [self.n_min, other.n_min]),
            _per_axis(max, [self.n_max, other.n_max]),
            self.grid,
            (
                _per_axis(min, [self.grid_range[0], other.grid_range[0]]),
                _per_axis(max, [self.grid_range[1], other.grid_range[1]]),
            ),
        )

    @property
    def grid_range(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The smallest and largest trained output grid per axis."""
        return (self.grid_min or self.grid, self.grid_max or self.grid)

    def grid_label(self) -> str:
        """The trained output grids as text: ``"64x64"``, or ``"24x32 to 32x40"``."""
        low, high = ("x".join(map(str, size)) for size in self.grid_range)
        return low if low == high else f"{low} to {high}"

    def to_dict(self) -> dict[str, list[int]]:
        """The header's JSON form: ``{"n_min": [..], "n_max": [..], "N": [..]}``, with
        ``"N_min"`` and ``"N_max"`` when training used other grids than ``N``."""
        fields = {"n_min": list(self.n_min), "n_max": list(self.n_max), "N": list(self.grid)}
        if self.grid_min is not None or self.grid_max is not None:
            low, high = self.grid_range
            fields.update(N_min=list(low), N_max=list(high))
        return fields


def _pair(values: Sequence[int]) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def _per_axis(
    pick: Callable[[Iterable[int]], int], sizes: Sequence[tuple[int, int]]
) -> tuple[int, int]:
    """``pick`` (``min`` or ``max``) of ``sizes`` on each axis."""
    return pick(s[0] for s in sizes), pick(s[1] for s in sizes)


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself."""

    variant: Variant
    config: dict[str, Any]
    """Every :class:`~mrsisr.nn.config.GeneratorConfig` field (JSON types), checked."""
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    metabolites: tuple[str, ...] = METABOLITES_0_1_0
    """The file's embedding order as recorded (:data:`METABOLITES_0_1_0` when the file has
    none); the loaded generator always uses ``METABOLITES``'s order."""
    trained: TrainedRange | None = None
    """The grids the model was trained on, when the file records them."""


def save_model(
    path: str | Path,
    model: nn.Module,
    variant: Variant | str,
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    *,
    trained: TrainedRange | None = None,
    half: bool = False,
) -> None:
    """Write ``model``'s tensors and its architecture to one safetensors file, atomically.

    The header records :data:`~mrsisr.metabolites.METABOLITES` as the embedding order.

    Args:
        path: destination ``.safetensors`` file.
        model: the generator (a DDP wrapper is unwrapped).
        variant: its :class:`~mrsisr.nn.config.Variant`.
        config: the keyword arguments that rebuild it with ``build_generator(variant, **config)``
            (JSON-serialisable).
        metadata: free-form JSON-serialisable facts (training data, recipe, metrics).
        trained: the grids it was trained on (recorded when given).
        half: store float32 tensors as float16 (half the file; :func:`load_model` loads them
            into the float32 model). The shipped model's outputs change by less than 0.01 dB
            PSNR (``docs/model-files.md``).

    Raises:
        ValueError: if ``half`` and a weight does not fit float16 (``|w| > 65504``).
    """
    from safetensors.torch import save_file

    model = getattr(model, "module", model)
    header: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "variant": str(variant),
        "metabolites": [m.value for m in METABOLITES],
    }
    if trained is not None:
        header["trained"] = trained.to_dict()
    header |= {"config": config, "metadata": metadata or {}}
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


def _metabolite_order(path: Path, names: Any) -> list[int] | None:
    """Where each of ``METABOLITES`` sits in the file's embedding; ``None``: the same order.

    Raises:
        UserError: not a list of names, or a name unknown, missing or repeated.
    """
    known = [m.value for m in METABOLITES]
    if names is None:
        names = list(METABOLITES_0_1_0)
    if names == known:
        return None
    listed = ", ".join(known)
    if not (
        isinstance(names, list)
        and len(names) <= _MAX_METABOLITES
        and all(isinstance(name, str) for name in names)
    ):
        raise UserError(f"{path}: header field 'metabolites' must be a list of names ({listed})")
    for name in names:
        if name not in known:
            raise UserError(
                f"{path}: the model knows metabolite {name[:40]!r}, which this mrsisr does not "
                f"({listed}); a newer mrsisr may read it"
            )
        if names.count(name) > 1:
            raise UserError(f"{path}: header field 'metabolites' lists {name} twice")
    missing = [name for name in known if name not in names]
    if missing:
        raise UserError(
            f"{path}: the model was not trained for {', '.join(missing)}; this mrsisr needs a "
            f"model of every metabolite ({listed})"
        )
    return [names.index(name) for name in known]


def _trained_range(path: Path, raw: Any, grid: tuple[int, int]) -> TrainedRange | None:
    """The checked ``trained`` field: ``N`` the grid, ``1 <= n_min <= n_max <= N_max`` and
    ``1 <= N_min <= N_max`` per axis (``N_min`` and ``N_max``, optional, default to ``N``)."""
    if raw is None:
        return None
    keys = ("n_min", "n_max", "N")
    grid_keys = ("N_min", "N_max")

    def pair(value: Any) -> bool:
        return (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )

    if not (
        isinstance(raw, dict)
        and set(raw) in (set(keys), set(keys + grid_keys))
        and all(pair(value) for value in raw.values())
    ):
        raise UserError(
            f"{path}: header field 'trained' must hold exactly n_min, n_max and N (and "
            "optionally both N_min and N_max), each two integers (y, x)"
        )
    trained = TrainedRange(
        *(_pair(raw[k]) for k in keys), *(_pair(raw[k]) if k in raw else None for k in grid_keys)
    )
    if trained.grid != tuple(grid):
        raise UserError(
            f"{path}: header field 'trained': N = {list(trained.grid)} is not the model's "
            f"grid {list(grid)}"
        )
    grid_low, grid_high = trained.grid_range
    if not all(
        1 <= low <= high <= size and 1 <= size_low <= size
        for low, high, size_low, size in zip(trained.n_min, trained.n_max, grid_low, grid_high)
    ):
        raise UserError(
            f"{path}: header field 'trained' must hold 1 <= n_min <= n_max <= N_max and "
            f"1 <= N_min <= N_max on each axis (N_min and N_max default to N); got {raw}"
        )
    return trained


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


def _read(path: str | Path) -> tuple[ModelInfo, nn.Module, list[int] | None]:
    """The checked header of a model file, its generator on the ``meta`` device and where
    each of ``METABOLITES`` sits in the file's embedding (``None``: the same order)."""
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
    order = _metabolite_order(path, header.get("metabolites"))
    config = _checked_config(path, header.get("config") or {})
    trained = _trained_range(path, header.get("trained"), config.grid)
    meta = header.get("metadata") or {}
    _check_metadata(path, meta, config.grid)
    model = _check_tensors(path, variant, config, tensors)
    full = json.loads(json.dumps(config.to_dict()))  # every field, defaults included
    names = header.get("metabolites", METABOLITES_0_1_0)
    info = ModelInfo(
        variant=variant,
        config=full,
        metadata=dict(meta),
        path=path,
        metabolites=tuple(names),
        trained=trained,
    )
    return info, model, order


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
    then, and filled with the file's tensors (no random initialisation to overwrite). A file
    whose metabolites are listed in another order has its embedding's rows reordered, so the
    generator's metabolite indices are those of :data:`~mrsisr.metabolites.METABOLITES`.

    Raises:
        UserError: the file is not a valid mrsisr model file (see :func:`read_info`).
    """
    from safetensors.torch import load_file

    from mrsisr.nn.conditioning import FilterConditioner
    from mrsisr.nn.dc import DataConsistency

    info, model, order = _read(path)
    try:
        state = load_file(str(path), device=str(map_location))
    except Exception as err:
        raise UserError(f"{path}: corrupted model tensors ({err})") from None
    model = model.to_empty(device=map_location)
    model.load_state_dict(state, strict=True)
    for module in model.modules():  # buffers outside the state dict
        if isinstance(module, DataConsistency):
            module.reset_buffers()
        if order is not None and isinstance(module, FilterConditioner):
            if module.embedding is not None:  # (L, metabolites, embedding): rows by name
                with torch.no_grad():
                    module.embedding.copy_(module.embedding[:, order].clone())
    return model.eval(), info
