"""The fast paths of the conditioned UNet give the numbers of the per-sample reference.

* Samples that share ``(n, m)`` share one filter-scaled kernel (``group_conditions``,
  ``conditioned_conv2d``): outputs and gradients equal the ``loop`` reference.
* Conditional instance norm runs as one batch-norm kernel with a per-sample affine
  (``_modulate``): equal to the textbook formula computed with NumPy.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from nn_inputs import make_inputs, perturb_

from mrsisr.nn.blocks import _modulate, conditioned_conv2d
from mrsisr.nn.conditioning import group_conditions
from mrsisr.nn.unet import PerSampleLoop
from mrsisr.nn.variants import build_generator

SMALL = {"grid": (32, 32), "channels": (4, 8, 16), "mlp_depth": 2, "filter_latent": 8}
"""A small architecture: float64 reference runs stay fast."""


def _reference_groups(n: torch.Tensor, met: torch.Tensor | None) -> list[int]:
    """Group label of each sample, numbered by first appearance (plain Python)."""
    labels: dict[tuple, int] = {}
    keys = [tuple(n[b].tolist()) + (() if met is None else (int(met[b]),)) for b in range(len(n))]
    return [labels.setdefault(key, len(labels)) for key in keys]


@pytest.mark.parametrize(
    ("n", "met"),
    [
        ([[16, 16], [16, 16], [20, 16], [16, 16]], [1, 1, 1, 2]),
        ([[24, 24]] * 5, [3] * 5),
        ([[16, 20], [20, 16]], [0, 0]),
        ([[9, 9], [9, 9], [9, 9]], [0, 1, 0]),
    ],
)
@pytest.mark.parametrize("use_met", [True, False])
def test_group_conditions_matches_a_python_grouping(n, met, use_met) -> None:
    n_t, met_t = torch.tensor(n), torch.tensor(met)
    groups = group_conditions(n_t, met_t if use_met else None)
    labels = _reference_groups(n_t, met_t if use_met else None)
    if len(set(labels)) == len(labels):
        assert groups is None
        return
    assert groups is not None
    assert len(groups.first) == len(set(labels))
    # Same partition: two samples share a group exactly when their conditions are equal.
    inverse = groups.inverse.tolist()
    for a in range(len(n)):
        for b in range(len(n)):
            assert (inverse[a] == inverse[b]) == (labels[a] == labels[b])
    # ``first`` holds the first sample of each group.
    for group, sample in enumerate(groups.first.tolist()):
        assert inverse[sample] == group and inverse.index(group) == sample


@pytest.mark.parametrize("inverse", [[0, 0, 0], [1, 0, 1, 1], None])
def test_conditioned_conv_uses_the_kernel_of_each_sample_group(inverse) -> None:
    gen = torch.Generator().manual_seed(3)
    batch = 3 if inverse is None else len(inverse)
    groups = batch if inverse is None else max(inverse) + 1
    x = torch.randn(batch, 4, 9, 7, generator=gen)
    weight = torch.randn(groups, 5, 4, 3, 3, generator=gen)
    inv = None if inverse is None else torch.tensor(inverse)
    out = conditioned_conv2d(x, weight, inv)
    for b in range(batch):
        kernel = weight[b if inverse is None else inverse[b]]
        expected = F.conv2d(x[b : b + 1], kernel, padding=1)
        torch.testing.assert_close(out[b : b + 1], expected, atol=1e-5, rtol=1e-5)


def _forward_backward(model, inputs):
    out = model(*inputs)
    out.square().mean().backward()
    return out.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}


@pytest.mark.parametrize(
    ("variant", "layout"),
    [("full", "one_group"), ("full", "two_groups"), ("hypernetwork", "two_groups")],
)
def test_batches_sharing_conditions_equal_the_loop_reference(variant, layout) -> None:
    """Outputs in float32 (1e-5) and, in float64, outputs and every gradient (round-off)."""
    n = [(12, 12)] * 4 if layout == "one_group" else [(12, 12), (20, 8), (12, 12), (20, 8)]
    met = [2] * 4 if layout == "one_group" else [2, 5, 2, 5]
    inputs = make_inputs(4, grid=(32, 32), seed=4, n=n, met=met)
    results = {}
    for dtype, impl in (
        (torch.float32, "grouped"),
        (torch.float64, "grouped"),
        (torch.float64, "loop"),
    ):
        torch.manual_seed(0)
        model = perturb_(build_generator(variant, conv_impl=impl, **SMALL)).to(dtype)
        cast = tuple(x.to(dtype) if x.is_floating_point() else x for x in inputs)
        results[dtype, impl] = _forward_backward(model, cast)
    (out64, grads), (ref64, ref_grads) = (
        results[torch.float64, "grouped"],
        results[torch.float64, "loop"],
    )
    out32 = results[torch.float32, "grouped"][0].double()
    torch.testing.assert_close(out32, ref64, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out64, ref64, atol=1e-12, rtol=1e-10)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], atol=1e-12, rtol=1e-9, msg=name)


def test_the_per_sample_loop_reference_gives_the_batched_outputs_and_gradients() -> None:
    torch.manual_seed(0)
    model = perturb_(build_generator("full", **SMALL), seed=4).double()  # conditioning acts
    n = [(16, 16), (20, 12), (32, 30)]  # a mixed batch: one kernel per sample
    inputs = make_inputs(3, grid=(32, 32), seed=4, n=n, met=[0, 3, 6])
    inputs = tuple(x.double() if x.is_floating_point() else x for x in inputs)
    out, ref = model(*inputs), PerSampleLoop(model)(*inputs)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    weight = torch.randn_like(out)
    grads = torch.autograd.grad((out * weight).sum(), model.parameters())
    ref_grads = torch.autograd.grad((ref * weight).sum(), model.parameters())
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-11)


def test_shared_conditions_batch_equals_each_sample_alone() -> None:
    torch.manual_seed(1)
    model = perturb_(build_generator("full", **SMALL), seed=2)
    inputs = make_inputs(5, grid=(32, 32), seed=6, n=[(16, 16)] * 5, met=[4] * 5)
    with torch.no_grad():
        together = model(*inputs)
        alone = PerSampleLoop(model)(*inputs)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 4, 6, 5), (1, 2, 8, 8), (2, 6, 2, 2)])
def test_conditional_instance_norm_equals_the_numpy_formula(shape) -> None:
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, generator=gen, dtype=torch.float64) * 3 + 1
    gamma = torch.randn(shape[:2], generator=gen, dtype=torch.float64)
    beta = torch.randn(shape[:2], generator=gen, dtype=torch.float64)
    xn = x.numpy()
    mean = xn.mean(axis=(2, 3), keepdims=True)
    var = xn.var(axis=(2, 3), keepdims=True)
    expected = (1 + gamma.numpy())[..., None, None] * (xn - mean) / np.sqrt(var + 1e-5)
    expected = expected + beta.numpy()[..., None, None]
    np.testing.assert_allclose(_modulate(x, gamma, beta).numpy(), expected, rtol=1e-10, atol=1e-10)
    out32 = _modulate(x.float(), gamma.float(), beta.float())
    np.testing.assert_allclose(out32.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_conditional_instance_norm_gradients_match_finite_differences() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 3, 4, generator=gen, dtype=torch.float64)
    gamma = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    beta = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    args = tuple(t.requires_grad_() for t in (x, gamma, beta))
    assert torch.autograd.gradcheck(_modulate, args)


# Fingerprints of ``name:shape:dtype`` of every state-dict entry, taken from the
# implementation the shipped weights were trained with (before the fast paths).
STATE_DICT_LAYOUT = {
    "full": ("a7b9844ee6cd38d2", 205),
    "hypernetwork": ("7597d2538da29fc0", 102),
    "amlayer": ("872e6aaf734b82d4", 690),
    "unconditioned": ("5b2a64ca3e968d31", 66),
}


@pytest.mark.parametrize("variant", sorted(STATE_DICT_LAYOUT))
def test_state_dict_layout_is_the_one_trained_models_were_saved_with(variant) -> None:
    """Regression guard: speed work must not rename, reshape or add parameters or buffers."""
    state = build_generator(variant).state_dict()
    text = "\n".join(f"{k}:{tuple(v.shape)}:{v.dtype}" for k, v in state.items())
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert (digest, len(state)) == STATE_DICT_LAYOUT[variant]
