"""Training checkpoints: exact round trips, RNG states, atomic writes, no pickle."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

import mrsisr.atomic
from mrsisr.errors import UserError
from mrsisr.train.state import (
    capture_rng,
    load_state,
    read_state_header,
    restore_rng,
    save_state,
)


def trained_parts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.InstanceNorm2d(4, affine=True), nn.Conv2d(4, 1, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.9))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        model(torch.rand(2, 1, 9, 9)).square().mean().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def test_round_trip_restores_weights_optimiser_and_scheduler_exactly(tmp_path):
    model, opt, sched = trained_parts()
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
    save_state(tmp_path / "c.safetensors", state, {"epoch": 3, "history": [{"loss": 0.5}]})
    loaded, meta = load_state(tmp_path / "c.safetensors")
    assert meta == {"epoch": 3, "history": [{"loss": 0.5}]}
    assert read_state_header(tmp_path / "c.safetensors")["epoch"] == 3
    model2, opt2, sched2 = trained_parts()
    torch.manual_seed(9)
    for p in model2.parameters():
        p.data.normal_()
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["opt"])
    sched2.load_state_dict(loaded["sched"])
    assert opt2.state_dict()["param_groups"][0]["betas"] == (0.5, 0.9)  # a tuple again
    assert sched2.state_dict() == sched.state_dict()
    x = torch.rand(2, 1, 9, 9)
    for m, o in ((model, opt), (model2, opt2)):  # one more identical step each
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002 - the global generators are what is captured
    torch.manual_seed(3)
    save_state(tmp_path / "c.safetensors", {"rng": capture_rng()}, {})
    expected = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    state, _ = load_state(tmp_path / "c.safetensors")
    restore_rng(state["rng"])
    got = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert got[0] == expected[0] and got[1] == expected[1]
    assert torch.equal(got[2], expected[2])


def test_a_failure_during_the_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.safetensors"
    save_state(path, {"w": torch.ones(3)}, {"epoch": 1})
    before = path.read_bytes()

    import safetensors.torch

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half a checkpoint")  # the process dies mid-write
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_state(path, {"w": torch.zeros(3)}, {"epoch": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    state, meta = load_state(path)
    assert meta["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))


def test_a_kill_before_the_rename_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.safetensors"
    save_state(path, {"w": torch.ones(3)}, {"epoch": 1})

    def killed(src, dst):
        raise SystemExit("killed")

    monkeypatch.setattr(mrsisr.atomic.os, "replace", killed)
    with pytest.raises(SystemExit):
        save_state(path, {"w": torch.zeros(3)}, {"epoch": 2})
    monkeypatch.undo()
    assert read_state_header(path)["epoch"] == 1


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_unreadable_or_foreign_files_raise_user_errors(tmp_path, content):
    path = tmp_path / "c.safetensors"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"c\.safetensors"):
        load_state(path)


def test_objects_that_json_cannot_hold_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store"):
        save_state(tmp_path / "c.safetensors", {"f": lambda: 0}, {})
