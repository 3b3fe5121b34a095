"""Model files: safetensors round trip, refusal of foreign or corrupted files, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mrsisr.atomic import atomic_write
from mrsisr.checkpoint import load_model, read_info, save_model
from mrsisr.errors import UserError
from mrsisr.nn.variants import build_generator

CONFIG = {"grid": [32, 32], "channels": [4, 8, 8, 8, 8]}


def inputs(batch: int = 2, size: int = 32) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(batch, 1, size, size, generator=gen) for _ in range(3)]
    mask = torch.ones(batch, 1, size, size)
    n = torch.tensor([[16, 16], [9, 12]])[:batch]
    return (*images, mask, n, torch.tensor([0, 5])[:batch], torch.tensor([0.0, 0.05])[:batch])


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = build_generator("full", **CONFIG).eval()
    with torch.no_grad():  # move away from the identity initialisation of the conditioning
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "m.safetensors"
    save_model(path, model, "full", CONFIG, {"trained_on": "nothing"})
    loaded, info = load_model(path)
    assert info.variant == "full"
    assert info.metadata == {"trained_on": "nothing"}
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="not an mrsisr model file"):
        read_info(path)


def test_corrupted_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_model(path, build_generator("full", **CONFIG), "full", CONFIG)
    data = path.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"truncated\.safetensors"):
        load_model(tmp_path / "truncated.safetensors")
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UserError, match=r"pickle\.pt: not a readable safetensors"):
        load_model(tmp_path / "pickle.pt")
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "absent.safetensors")


def test_mismatched_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_model(path, build_generator("unconditioned", **CONFIG), "full", CONFIG)
    with pytest.raises(UserError, match="do not match the 'full' model"):
        load_model(path)


def test_atomic_write_keeps_the_old_file_on_failure_and_normal_permissions(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f.txt"
    atomic_write(path, lambda tmp: tmp.write_text("old"))
    mode = stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
