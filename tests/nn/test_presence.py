"""Presence flags (``GeneratorConfig.presence``): a generator that works without T1 and/or FLAIR.

* Off (the default, every Table 1 variant and the shipped model): the call with ``present``
  all true, or ``None``, is the seven-argument call; an absent image is refused.
* On: an absent image is zeros whatever the caller gave; the flags are a condition of the
  filter trunks (so they change the output once the heads have moved from the identity);
  samples with other flags are never grouped onto one kernel.
"""

from __future__ import annotations

import pytest
import torch
from nn_inputs import make_inputs, perturb_, sample

from mrsisr.nn.conditioning import group_conditions
from mrsisr.nn.variants import Variant, build_generator

SMALL = {"grid": (32, 32), "channels": (4, 8, 16), "mlp_depth": 2, "filter_latent": 8}
SETS = torch.tensor([[True, True], [True, False], [False, True], [False, False]])


def presence_model(variant: Variant = Variant.full, seed: int = 0, **config) -> torch.nn.Module:
    torch.manual_seed(seed)
    return perturb_(build_generator(variant, presence=True, **SMALL, **config), seed).eval()


def four_samples(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Four samples with one (n, m, λ), so that only the presence flags tell them apart."""
    return make_inputs(4, SMALL["grid"], seed, n=[(16, 16)] * 4, met=[2] * 4, lam=[0.0] * 4)


def test_without_presence_the_flags_all_true_are_the_usual_call() -> None:
    torch.manual_seed(0)
    model = perturb_(build_generator(Variant.full, **SMALL)).eval()
    inputs = four_samples()
    with torch.no_grad():
        usual = model(*inputs)
        flagged = model(*inputs, torch.ones(4, 2, dtype=torch.bool))
    assert torch.equal(usual, flagged)
    assert not model.accepts_missing_images


def test_without_presence_an_absent_image_is_refused() -> None:
    model = build_generator(Variant.full, **SMALL)
    with pytest.raises(ValueError, match="needs both T1 and FLAIR"):
        model(*four_samples(), SETS)


@pytest.mark.parametrize("variant", [Variant.unconditioned, Variant.amlayer, Variant.single_scale])
def test_presence_needs_conditioned_convolutions(variant: Variant) -> None:
    with pytest.raises(ValueError, match="presence needs conditioned convolutions"):
        build_generator(variant, presence=True, **SMALL)


@pytest.mark.parametrize(
    "present",
    [torch.ones(4, 2), torch.ones(4, 3, dtype=torch.bool), torch.ones(3, 2, dtype=torch.bool)],
)
def test_bad_presence_flags_are_refused_with_their_shape_and_type(present) -> None:
    with pytest.raises(ValueError, match=r"present must be a bool tensor of shape \(4, 2\)"):
        presence_model()(*four_samples(), present)


@pytest.mark.parametrize("variant", [Variant.full, Variant.filter_scaling, Variant.hypernetwork])
def test_an_absent_image_is_zeros_whatever_it_holds(variant: Variant) -> None:
    model = presence_model(variant)
    lr, t1, flair, *rest = four_samples()
    nan = torch.tensor(torch.nan)
    # NaN where an image is absent (T1 of samples 2, 3; FLAIR of samples 1, 3).
    t1_nan = torch.where(SETS[:, 0, None, None, None], t1, nan)
    flair_nan = torch.where(SETS[:, 1, None, None, None], flair, nan)
    t1_zero = torch.where(SETS[:, 0, None, None, None], t1, 0.0)
    flair_zero = torch.where(SETS[:, 1, None, None, None], flair, 0.0)
    with torch.no_grad():
        given = model(lr, t1_nan, flair_nan, *rest, SETS)
        zeros = model(lr, t1_zero, flair_zero, *rest, SETS)
        real = model(lr, t1, flair, *rest, SETS)
    torch.testing.assert_close(given, zeros, rtol=0, atol=0)
    torch.testing.assert_close(real, zeros, rtol=0, atol=0)
    # A present image is used: change sample 1's T1 (present) and its output changes.
    t1_other = t1.clone()
    t1_other[1] = torch.rand_like(t1[1])
    with torch.no_grad():
        other = model(lr, t1_other, flair, *rest, SETS)
    assert (other[1] - real[1]).abs().max() > 1e-4


def test_the_flags_are_a_condition_of_the_network() -> None:
    model = presence_model()
    lr, t1, _flair, *rest = four_samples()
    blank = torch.zeros_like(t1)
    # The same (zero) images, flagged present or absent: only the flags differ.
    with torch.no_grad():
        flagged_present = model(lr, blank, blank, *rest, torch.ones(4, 2, dtype=torch.bool))
        flagged_absent = model(lr, blank, blank, *rest, torch.zeros(4, 2, dtype=torch.bool))
    assert (flagged_present - flagged_absent).abs().max() > 1e-4


def test_none_means_both_images_present() -> None:
    model = presence_model()
    inputs = four_samples()
    with torch.no_grad():
        torch.testing.assert_close(
            model(*inputs), model(*inputs, torch.ones(4, 2, dtype=torch.bool)), rtol=0, atol=0
        )


def test_samples_with_other_flags_are_not_grouped_together() -> None:
    n, met = torch.full((4, 2), 16), torch.full((4,), 2)
    assert group_conditions(n, met, SETS) is None
    groups = group_conditions(n, met, SETS[[0, 1, 0, 1]])
    assert groups is not None
    inverse = groups.inverse.tolist()
    assert inverse[0] == inverse[2] != inverse[1] == inverse[3]


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [1, 1, 0, 0], [3, 3, 3, 3], [0, 0, 0, 1]])
def test_a_batch_of_mixed_flags_equals_each_sample_alone(order: list[int]) -> None:
    """Shared (n, m) with mixed flags exercises the grouped kernels against the single path."""
    model = presence_model()
    inputs = (*four_samples(), SETS[order])
    with torch.no_grad():
        batched = model(*inputs)
        for b in range(4):
            torch.testing.assert_close(
                batched[b : b + 1], model(*sample(inputs, b)), atol=1e-5, rtol=1e-5
            )


def test_presence_changes_only_the_trunk_on_n() -> None:
    """The only new parameters: the flag columns of each layer's first trunk matrix."""
    plain = build_generator(Variant.full, **SMALL).state_dict()
    flagged = build_generator(Variant.full, presence=True, **SMALL).state_dict()
    assert plain.keys() == flagged.keys()
    changed = {k for k in plain if plain[k].shape != flagged[k].shape}
    assert changed == {"conv_trunk.n_trunk.weights.0"}
    copies, fan_in, width = plain["conv_trunk.n_trunk.weights.0"].shape
    assert flagged["conv_trunk.n_trunk.weights.0"].shape == (copies, fan_in + 2, width)
