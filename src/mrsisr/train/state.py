"""Training checkpoints: every tensor in safetensors, everything else in its JSON header.

A checkpoint holds the state dicts of the networks, optimisers and schedulers and the random
generators' states, so that a resumed run continues bit for bit. Nested state (an optimiser's
``{"state": {0: {...}}, "param_groups": [...]}``) is flattened: tensors go to safetensors
under a path-like key, the rest becomes JSON with ``{"__tensor__": key}`` placeholders
(``{"__tuple__": [...]}`` and ``{"__items__": [[k, v], ...]}`` keep tuples and non-string dict
keys). Loading reads only tensors and JSON, so it can never execute code. Writes are atomic
(:func:`mrsisr.checkpoint.atomic_write`): a kill at any moment leaves the previous checkpoint.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from mrsisr.atomic import atomic_write
from mrsisr.errors import UserError, argument

__all__ = [
    "FORMAT",
    "capture_rng",
    "check_resume_metadata",
    "load_state",
    "read_state_header",
    "restore_rng",
    "save_state",
]

FORMAT = "mrsisr-train-state"
_HEADER_KEY = "mrsisr_train_state"


def _flatten(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able copy of ``obj`` with its tensors moved into ``tensors`` (keys from paths)."""
    if torch.is_tensor(obj):
        key = prefix
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _flatten(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[k, _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a training checkpoint ({prefix})")


def _unflatten(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`_flatten`."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__tuple__"}:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        if set(obj) == {"__items__"}:
            return {k: _unflatten(v, tensors) for k, v in obj["__items__"]}
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


def capture_rng() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's global generators (CPU and CUDA)."""
    py_version, py_state, py_gauss = random.getstate()
    # The legacy global generator is an MT19937: its state is the legacy 5-tuple.
    np_legacy = cast(
        "tuple[str, np.ndarray, int, int, float]",
        np.random.get_state(legacy=True),  # noqa: NPY002
    )
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np_legacy
    state: dict[str, Any] = {
        "python": (py_version, torch.tensor(py_state, dtype=torch.int64), py_gauss),
        "numpy": (
            np_name,
            torch.from_numpy(np_keys.astype(np.int64)),
            np_pos,
            np_has_gauss,
            np_gauss,
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`capture_rng`."""
    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(int(v) for v in py_state.tolist()), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            np_name,
            np_keys.numpy().astype(np.uint32),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: str | Path, state: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Write a training checkpoint atomically.

    Args:
        path: destination ``.safetensors`` file.
        state: nested dict of state dicts (tensors anywhere), e.g.
            ``{"generator": g.state_dict(), "g_optimizer": opt.state_dict(), ...}``.
        metadata: JSON-serialisable facts (epoch, step, config hash, metrics history).
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "s", tensors)
    header = json.dumps({"format": FORMAT, "metadata": metadata, "state": skeleton})
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={_HEADER_KEY: header}))


def _placeholders(obj: Any) -> list[str]:
    """The tensor keys a state skeleton refers to (``{"__tensor__": key}``)."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return [obj["__tensor__"] if isinstance(obj["__tensor__"], str) else ""]
        return [k for v in obj.values() for k in _placeholders(v)]
    if isinstance(obj, list):
        return [k for v in obj for k in _placeholders(v)]
    return []


def check_resume_metadata(path: str | Path, meta: Any) -> None:
    """Check the metadata fields a training resume uses: epoch, step, history, best, hash.

    Raises:
        UserError: naming the file and the fields needed.
    """

    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63

    best = meta.get("best") if isinstance(meta, dict) else None
    if not (
        isinstance(meta, dict)
        and count(meta.get("epoch"))
        and count(meta.get("step"))
        and isinstance(meta.get("history"), list)
        and all(isinstance(row, dict) for row in meta["history"])
        and isinstance(best, dict)
        and isinstance(best.get("val_loss"), (int, float))
        and isinstance(meta.get("config_hash"), str)
    ):
        raise UserError(
            f"{path}: invalid training checkpoint metadata; needs epoch and step (integers "
            ">= 0), history (a list of rows), best.val_loss (a number) and config_hash"
        )


def _read_header(path: Path) -> tuple[dict[str, Any], dict[str, tuple[str, list]]]:
    """The checked JSON header and the tensor list of a training checkpoint (no data read)."""
    from mrsisr.checkpoint import read_safetensors_header

    if not path.is_file():
        raise UserError(f"{path}: training checkpoint not found")
    metadata, tensors = read_safetensors_header(path, "training checkpoint")
    raw = metadata.get(_HEADER_KEY)
    try:
        header = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError):
        raise UserError(f"{path}: unreadable training checkpoint (invalid JSON header)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UserError(f"{path}: not an mrsisr training checkpoint")
    refs = _placeholders(header.get("state"))
    if not isinstance(header.get("metadata"), dict):
        raise UserError(f"{path}: corrupted training checkpoint (its metadata is not an object)")
    if not isinstance(header.get("state"), dict) or not set(refs) <= set(tensors):
        raise UserError(f"{path}: corrupted training checkpoint (its state and tensors differ)")
    return header, tensors


def read_state_header(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a training checkpoint, checked, without loading its tensors."""
    return dict(_read_header(Path(path))[0]["metadata"])


def load_state(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    expect: dict[str, torch.nn.Module | None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_state`.

    Args:
        path: the checkpoint.
        map_location: device of the loaded tensors.
        expect: modules whose state dicts the checkpoint must hold under these names (e.g.
            ``{"generator": g}``); names and shapes are compared before any tensor is read.

    Returns:
        ``(state, metadata)``: the nested state with its tensors on ``map_location``, and the
        JSON metadata.

    Raises:
        UserError: missing, corrupt or foreign file, or tensors unlike the expected modules.
    """
    from safetensors.torch import load_file

    path = Path(path)
    header, listed = _read_header(path)
    for name, module in (expect or {}).items():
        if module is None:
            continue
        want = {f"s.{name}.{k}": list(v.shape) for k, v in module.state_dict().items()}
        have = {k: list(v[1]) for k, v in listed.items() if k.startswith(f"s.{name}.")}
        if want != have:
            raise UserError(
                f"{path}: its {name} does not match the run's configuration "
                f"(resume with the run's config.toml or start a new {argument('out')})"
            )
    tensors = load_file(str(path), device=str(map_location))
    try:
        state = _unflatten(header["state"], tensors)
    except (TypeError, ValueError, KeyError):  # malformed __tuple__ / __items__ entries
        raise UserError(f"{path}: corrupted training checkpoint (malformed state)") from None
    return state, dict(header["metadata"])
