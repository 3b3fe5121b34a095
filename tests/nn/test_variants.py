"""The variant registry: names, configs from JSON, parameter counts against the paper, critic."""

from __future__ import annotations

import json

import pytest
import torch

from mrsisr.nn.config import CriticConfig, GeneratorConfig
from mrsisr.nn.variants import (
    PAPER_PARAMS,
    Variant,
    build_critic,
    build_generator,
    count_parameters,
    parameter_table,
)


def test_parameter_counts_within_20_percent_of_table_1() -> None:
    rows = {row.variant: row for row in parameter_table()}
    assert list(rows) == [*(v.value for v in Variant), "critic"]
    for name, paper in PAPER_PARAMS.items():
        assert rows[name].paper_params == paper
        if paper is not None:
            assert abs(rows[name].params / paper - 1) <= 0.20, (name, rows[name].params, paper)
    # The paper's single-scale row is nine networks: the table reports nine times one UNet.
    assert rows["single_scale"].params == 9 * rows["unconditioned"].params
    assert rows["full"].params > rows["filter_scaling_met"].params


def test_unknown_variant_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown variant 'fsm'.*filter_scaling_met"):
        build_generator("fsm")


def test_config_round_trips_through_json() -> None:
    config = GeneratorConfig(grid=(32, 48), channels=(4, 8, 16), conv_impl="loop")
    again = json.loads(json.dumps(config.to_dict()))  # lists instead of tuples
    model = build_generator("full", **again)
    assert model.config == config
    reference = build_generator("full", **config.to_dict())
    assert model.state_dict().keys() == reference.state_dict().keys()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"grid": (60, 64)}, "divisible by 16"),
        ({"channels": (8,)}, "at least 2 levels"),
        ({"encoders": (("lr", "pd"),)}, "lr, t1, flair"),
        ({"conv_impl": "fft"}, "grouped, loop"),
        ({"lam_scale": 0.0}, "lam_scale"),
        ({"mlp_depth": 0}, "mlp_depth"),
        # A configuration may come from a model file someone sent: sizes are bounded, and
        # nothing is coerced from another type.
        ({"channels": (4096, 8192, 16384, 32768, 65536)}, r"channels must be in 1\.\.1024"),
        ({"grid": (512, 512)}, r"grid must be in 1\.\.256"),
        ({"channels": [8] * 9}, "1 to 8 integers"),
        ({"grid": (256, 256), "channels": (64, 64)}, "features per slice"),
        ({"channels": (8.0, 16)}, "must be an integer"),
        ({"channels": ("8", 16)}, "must be an integer"),
        ({"grid": (True, 64)}, "must be an integer"),
        ({"mlp_depth": 17}, r"mlp_depth must be in 1\.\.16"),
        ({"filter_latent": 10**30}, "filter_latent must be in"),
        ({"lam_scale": float("nan")}, "finite"),
        ({"lam_scale": float("inf")}, "finite"),
        ({"encoders": [["lr"]] * 9}, "1 to 8 image lists"),
    ],
)
def test_bad_options_raise_value_error(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        build_generator("full", **options)


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        build_generator("full", chanels=(8, 16))


@pytest.mark.parametrize("grid", [(64, 64), (48, 80)])
def test_critic_scores_each_sample(grid) -> None:
    torch.manual_seed(0)
    critic = build_critic()
    images = [torch.rand(3, 1, *grid, requires_grad=(i == 3)) for i in range(4)]
    scores = critic(*images)
    assert scores.shape == (3,)
    # Gradient penalty needs double backward through the critic.
    (grad,) = torch.autograd.grad(scores.sum(), images[3], create_graph=True)
    grad.square().sum().backward()
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    # Samples are independent (instance norm): scoring one alone gives the same.
    alone = critic(*(x[1:2] for x in images))
    torch.testing.assert_close(alone, scores[1:2], atol=1e-5, rtol=1e-5)


def test_critic_layout_and_bad_shapes() -> None:
    critic = build_critic()
    assert critic.config == CriticConfig()
    convs = [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in critic.convs]
    assert convs == [
        (4, 32, (4, 4), (2, 2)),
        (32, 64, (4, 4), (2, 2)),
        (64, 128, (4, 4), (2, 2)),
        (128, 256, (4, 4), (2, 2)),
    ]
    assert (critic.fc1.in_features, critic.fc1.out_features) == (256 * 4 * 4, 16)
    assert count_parameters(critic) == 755_745
    x = torch.rand(2, 1, 64, 64)
    with pytest.raises(ValueError, match="same shape"):
        critic(x, x, x, torch.rand(2, 1, 32, 32))
