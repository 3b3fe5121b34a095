"""The retraining's two keys: start from a model file (``init_model``) and draw ``n`` per
axis (``data.n_axes``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mrsisr.errors import UserError
from mrsisr.train.builders import acquisition_sizes, initial_generator
from mrsisr.train.config import TrainConfig
from mrsisr.train.config_io import load_config
from tiny_model import TINY, save_tiny_model


def tiny_config(**changes) -> TrainConfig:
    model = dataclasses.replace(TrainConfig().model, **TINY)
    return dataclasses.replace(TrainConfig(model=model), **changes)


def test_square_sizes_are_the_choices_and_independent_ones_every_pair():
    config = load_config(None, ["data.n_choices=[8, 12, 16]"])
    assert acquisition_sizes(config) == [8, 12, 16]
    config.data.n_axes = "independent"
    pairs = acquisition_sizes(config)
    assert len(pairs) == 9 and (8, 16) in pairs and (16, 8) in pairs and (12, 12) in pairs


def test_an_unknown_n_axes_is_refused_naming_the_key():
    with pytest.raises(UserError, match=r"data\.n_axes = 'diagonal' must be 'square' or"):
        load_config(None, ['data.n_axes="diagonal"'])


def test_a_run_starts_from_the_model_file_it_names(tmp_path):
    path = save_tiny_model(tmp_path / "base.safetensors")
    from mrsisr.checkpoint import load_model

    base, _ = load_model(path)
    started = initial_generator(tiny_config(init_model=str(path)))
    fresh = initial_generator(tiny_config())
    for (name, a), b in zip(started.state_dict().items(), base.state_dict().values()):
        assert torch.equal(a, b), name
    assert not all(
        torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), base.state_dict().values())
    )


def test_a_model_file_of_another_architecture_is_refused(tmp_path):
    path = save_tiny_model(tmp_path / "base.safetensors")
    wider = tiny_config(init_model=str(path))
    wider.model.channels = [8, 16]
    with pytest.raises(UserError, match=r"init_model .*base\.safetensors: its architecture"):
        initial_generator(wider)
