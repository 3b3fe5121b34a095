"""The generator refuses bad inputs with a ValueError naming the argument and what it accepts."""

from __future__ import annotations

import math

import pytest
import torch
from nn_inputs import make_inputs

from mrsisr.nn.variants import build_generator

GRID = (16, 32)
ARGS = ("lr", "t1", "flair", "mask", "n", "met", "lam")


def replaced(name: str, value) -> tuple:
    inputs = dict(zip(ARGS, make_inputs(2, GRID, n=[(16, 16), (4, 9)])))
    inputs[name] = value(inputs[name]) if callable(value) else value
    return tuple(inputs.values())


def with_value(index: tuple, value: float):
    def change(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[index] = value
        return x

    return change


CASES = [
    # any grid, but every image on lr's (the network is fully convolutional)
    ("lr", lambda x: x[:, :, :8], r"t1 must have shape \(B, 1, 8, 32\) with the batch size"),
    ("lr", lambda x: x[:, :, :1], r"lr must be on a grid of 2 to 256 voxels per axis; got 1x32"),
    ("t1", lambda x: x[:1], r"t1 must have shape \(B, 1, 16, 32\) with the batch size B of lr"),
    ("flair", lambda x: x.squeeze(1), "flair must have shape"),
    ("mask", lambda x: x.bool(), "mask must be a floating-point tensor"),
    ("lr", with_value((0, 0, 3, 3), math.nan), "lr must be finite"),
    ("flair", with_value((1, 0, 0, 0), math.inf), "flair must be finite"),
    ("t1", with_value((1, 0, 0, 0), -math.inf), "t1 must be finite"),
    ("mask", with_value((0, 0, 1, 1), 0.5), "mask must hold only 0 and 1"),
    ("n", lambda x: x.float(), r"n must be an int64 tensor of shape \(2, 2\)"),
    ("n", lambda x: x[:, 0], r"n must be an int64 tensor of shape \(2, 2\)"),
    ("n", with_value((0, 0), 1), r"n must hold 2 <= n_y <= 16 and 2 <= n_x <= 32"),
    ("n", with_value((1, 0), 17), r"n must hold 2 <= n_y <= 16 .*\[\[16, 16\], \[17, 9\]\]"),
    ("n", with_value((1, 1), 33), "n must hold"),
    ("met", with_value((1,), 7), r"met must hold metabolite indices 0..6 \(0=tCho.*6=Ins\)"),
    ("met", with_value((0,), -1), "met must hold metabolite indices"),
    ("met", lambda x: x.float(), "met must be an int64 tensor"),
    ("lam", with_value((1,), -0.1), "lam must be finite and >= 0"),
    ("lam", with_value((0,), math.nan), "lam must be finite and >= 0"),
    ("lam", lambda x: x[:, None], r"lam must be a floating-point tensor of shape \(2,\)"),
    ("lr", lambda x: x.numpy(), "lr must be a torch.Tensor"),
]


@pytest.fixture(scope="module")
def model():
    return build_generator("full", grid=GRID, channels=(4, 8, 8, 8, 8)).eval()


@pytest.mark.parametrize(("name", "change", "message"), CASES)
def test_bad_input_raises_value_error(model, name, change, message) -> None:
    with pytest.raises(ValueError, match=message):
        model(*replaced(name, change))


def test_the_same_inputs_pass(model) -> None:
    with torch.no_grad():
        assert model(*replaced("lam", lambda x: x)).shape == (2, 1, *GRID)
