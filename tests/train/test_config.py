"""The configuration: defaults, TOML round trip, overrides and their errors."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from mrsisr.cli import main
from mrsisr.errors import UserError
from mrsisr.nn.config import GeneratorConfig
from mrsisr.train.config import Device, TrainConfig
from mrsisr.train.config_io import (
    apply_overrides,
    builtin_configs,
    config_from_dict,
    config_hash,
    config_to_dict,
    load_config,
    to_toml,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_paper_recipe():
    c = TrainConfig()
    assert (c.epochs, c.batch_size, c.variant) == (100, 8, "full")
    assert (c.optim.lr, c.optim.betas, c.optim.step_epochs, c.optim.gamma) == (
        1e-4,
        (0.5, 0.9),
        40,
        0.5,
    )
    assert (c.loss.alpha, c.adversarial.n_critic, c.adversarial.gp_weight) == (0.84, 5, 10.0)
    assert c.data.n_choices == list(range(16, 33, 2))
    assert (c.data.lam_range, c.data.lam_zero_prob) == ((0.0, 0.1), 0.1)
    assert c.model == GeneratorConfig()


@pytest.mark.parametrize(
    "name", ["paper", "paper_noadv", "quick", "randomised", "realistic", "tiny"]
)
def test_shipped_configs_round_trip_through_toml(name):
    config = load_config(name)
    text = to_toml(config)
    assert config_from_dict(tomllib.loads(text)) == config
    assert to_toml(config_from_dict(tomllib.loads(text))) == text


def test_repository_configs_are_the_shipped_ones():
    assert builtin_configs() == ["paper", "paper_noadv", "quick", "randomised", "realistic", "tiny"]
    for name in builtin_configs():
        assert load_config(REPO / "configs" / f"{name}.toml") == load_config(name)


def test_paper_configs_differ_only_in_the_adversarial_term():
    paper, noadv = load_config("paper"), load_config("paper_noadv")
    assert paper.uses_critic and paper.lam_range == (0.0, 0.1)
    assert not noadv.uses_critic and noadv.lam_range == (0.0, 0.0)
    assert load_config(None, ["data.lam_range=[0, 0]"]).uses_critic is False


def test_realistic_config_is_a_fine_tuning_of_the_randomised_one_on_wider_acquisitions():
    """The next model's recipe differs from the shipped model's in exactly what
    configs/realistic.toml says: windows, n from 8 per axis, folds, epochs and rates."""
    randomised, realistic = load_config("randomised"), load_config("realistic")
    assert randomised.data.window_probs == (1.0, 0.0, 0.0, 0.0)  # the default: no draw
    assert realistic.data.window_probs[0] < 1 and min(realistic.data.window_probs[1:]) > 0
    assert realistic.data.n_choices == list(range(8, 33, 2))
    assert realistic.data.n_axes == "independent" and randomised.data.n_axes == "square"
    assert (realistic.epochs, realistic.optim.lr, realistic.optim.step_epochs) == (16, 5e-5, 8)
    realistic.data.window_probs = randomised.data.window_probs
    realistic.data.n_choices, realistic.data.n_axes = randomised.data.n_choices, "square"
    realistic.data.folds = randomised.data.folds
    realistic.epochs = randomised.epochs
    realistic.optim.lr = randomised.optim.lr
    realistic.optim.critic_lr = randomised.optim.critic_lr
    realistic.optim.step_epochs = randomised.optim.step_epochs
    assert realistic == randomised


def test_randomised_config_is_the_paper_recipe_with_its_epoch_length_folds_presence_target():
    paper, randomised = load_config("paper"), load_config("randomised")
    assert randomised.steps_per_epoch == 112  # 112 batches of 8 = the paper's 890 maps
    assert randomised.data.folds == 10
    assert randomised.model.presence and randomised.data.presence_probs == (0.7, 0.15, 0.1, 0.05)
    assert randomised.data.target == "noiseless" and paper.data.target == "measured"
    same_data = dataclasses.replace(
        randomised.data,
        folds=paper.data.folds,
        presence_probs=paper.data.presence_probs,
        target=paper.data.target,
    )
    same_model = dataclasses.replace(randomised.model, presence=paper.model.presence)
    assert (
        dataclasses.replace(randomised, steps_per_epoch=0, data=same_data, model=same_model)
        == paper
    )


def test_overrides_parse_toml_values_into_the_field_types():
    c = load_config(
        "paper",
        [
            "epochs=3",
            "optim.lr=2e-4",
            "data.n_choices=[16, 24]",
            "optim.betas=[0.9, 0.99]",
            "device=cpu",
            "model.channels=[4, 8]",
            "adversarial.enabled=false",
        ],
    )
    assert c.epochs == 3 and c.optim.lr == 2e-4 and c.data.n_choices == [16, 24]
    assert c.optim.betas == (0.9, 0.99) and c.device is Device.cpu
    assert c.model.channels == (4, 8) and c.model.grid == (64, 64)
    assert not c.adversarial.enabled
    assert isinstance(c.optim.lr, float) and isinstance(
        load_config(None, ["optim.lr=1"]).optim.lr, float
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", r"unknown config key 'optim.lrr'; did you mean optim.lr"),
        ("epoch=3", r"did you mean epochs"),
        ("epochs=three", r"epochs must be an integer"),
        ("adversarial.enabled=1", r"must be true or false"),
        ("optim.betas=[0.5]", r"must hold 2 values"),
        ("device=tpu", r"use one of auto, cpu, cuda"),
        ("optim=1", r"optim is a section"),
        ("epochs", r"expected KEY=VALUE"),
        ("epochs=0", r"epochs = 0 must be in 1..100000"),
        ("data.lam_range=[0.2, 0.1]", r"data.lam_range"),
        ("model.channels=[4, 8, 16, 32, 64, 128, 256, 512]", r"\[model\].*divisible"),
        ("loss.ms_ssim_scales=5", r"loss.ms_ssim_window .* coarsest"),
        # A configuration may come from a file someone sent: counts are bounded before any
        # rule computes with them (2 ** (scales - 1) with a huge scales never ended).
        ("loss.ms_ssim_scales=100000000000000000000", r"loss.ms_ssim_scales .* in 1..8"),
        ("data.num_workers=100000", r"data.num_workers .* in 0..256"),
        ("optim.lr=inf", r"optim.lr = inf must be finite"),
        ("optim.weight_decay=nan", r"optim.weight_decay = nan"),
        ("data.lam_range=[0, inf]", r"data.lam_range"),
        ("model.channels=[8, 65536]", r"\[model\] channels must be in 1..1024"),
        ("data.grids=[[64, 4]]", r"data.grids = \[\[64, 4\]\] must be .* pairs .* in 8..256"),
        ("data.grids=[[64, 300]]", r"data.grids .* each in 8..256"),
        ("data.grids=[[64, 64, 64]]", r"data.grids .* \[N_y, N_x\] pairs"),
        ("data.grids=[[64, true]]", r"data.grids must be an integer"),
        ("data.grids=[[64, 64], [24, 40]]", r"loss.ms_ssim_window .* 24-voxel grid"),
    ],
)
def test_bad_overrides_raise_one_line_user_errors(override, message):
    with pytest.raises(UserError, match=message) as err:
        load_config("paper", [override])
    assert "\n" not in str(err.value)


def test_bad_config_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 1\n")
    with pytest.raises(UserError, match=r"bad.toml: unknown config key 'optim.learning_rate'"):
        load_config(bad)
    bad.write_text("epochs = \n")
    with pytest.raises(UserError, match="invalid TOML"):
        load_config(bad)
    with pytest.raises(
        UserError, match="one of paper, paper_noadv, quick, randomised, realistic, tiny"
    ):
        load_config("papper")


def test_an_override_error_names_the_parameter_from_python_and_the_flag_in_mrsisr_train(
    capsys,
):
    """Issue 22: a caller of load_config has no --set; mrsisr train's user typed it."""
    with pytest.raises(UserError) as err:
        load_config(None, ["optim.lr"])
    assert (
        str(err.value) == "overrides 'optim.lr': expected KEY=VALUE, e.g. overrides optim.lr=2e-4"
    )
    with pytest.raises(UserError) as err:
        load_config(None, ["qqqqqqqq=1"])
    assert str(err.value).endswith("; see the fields of mrsisr.train.config.TrainConfig")
    assert main(["train", "--set", "optim.lr", "--show-config"]) == 2
    assert capsys.readouterr().err == (
        "mrsisr train: error: --set 'optim.lr': expected KEY=VALUE, e.g. --set optim.lr=2e-4\n"
    )
    assert main(["train", "--set", "qqqqqqqq=1", "--show-config"]) == 2
    assert capsys.readouterr().err.endswith("; see `mrsisr train --show-config`\n")


def test_hash_ignores_resume_safe_keys_only():
    base = config_hash(TrainConfig())
    same = apply_overrides(TrainConfig(), ["epochs=200", "threads=2", "progress=false"])
    assert config_hash(same) == base
    assert config_hash(apply_overrides(TrainConfig(), ["seed=1"])) != base


def test_every_key_of_the_dataclass_is_written():
    flat = config_to_dict(TrainConfig())
    for f in dataclasses.fields(TrainConfig):
        assert f.name in flat
