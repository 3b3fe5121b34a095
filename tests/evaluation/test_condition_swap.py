"""Fig. 2a swaps only the condition: data consistency keeps the input's true n.

Regression guard: the evaluation once swapped n for the whole forward pass, so data
consistency ran at the wrong n and any network with data consistency, conditioned on n or
not, scored best at the matching n.
"""

from __future__ import annotations

import pytest

from mrsisr.evaluation.evaluate import MetricSettings, evaluate, evaluation_dataset
from mrsisr.evaluation.methods import ModelMethod
from mrsisr.nn.variants import build_generator

N_VALUES = (8, 11)
CONDITIONS = (4, 8, 11, 20)
SMALL = {"grid": (32, 32), "channels": (4, 8, 16), "mlp_depth": 2, "filter_latent": 8}


@pytest.fixture(scope="module")
def dataset(eval_cohort):
    return evaluation_dataset(eval_cohort, ["P1"], N_VALUES)


def _scores_by_condition(dataset, model) -> dict[int, list[tuple[float, float]]]:
    methods = [
        ModelMethod(f"cond_n={c}", {None: model}, n_condition=c, tags={"cond_n": c})
        for c in CONDITIONS
    ]
    rows = evaluate(dataset, methods, [0.0], MetricSettings.for_grid((32, 32), lpips=False))
    out: dict[int, list[tuple[float, float]]] = {}
    for row in sorted(rows, key=lambda r: (r["patient"], r["slice"], r["metabolite"], r["n"])):
        out.setdefault(row["cond_n"], []).append((row["psnr"], row["ssim"]))
    return out


def _perturbed(model):
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(lambda: build_generator("unconditioned", **SMALL), id="unconditioned"),
        pytest.param(
            lambda: _perturbed(build_generator("filter_scaling", n_encoding="none", **SMALL)),
            id="filter_scaling_without_n",
        ),
    ],
)
def test_a_network_blind_to_n_scores_the_same_whatever_n_it_is_told(dataset, model) -> None:
    scores = _scores_by_condition(dataset, model())
    reference = scores[CONDITIONS[0]]
    assert len(reference) == len(dataset)
    for condition in CONDITIONS[1:]:
        assert scores[condition] == reference, condition


def test_a_network_conditioned_on_n_scores_differently_per_condition(dataset) -> None:
    scores = _scores_by_condition(dataset, _perturbed(build_generator("filter_scaling", **SMALL)))
    assert scores[4] != scores[20]
