"""Every generator variant: shapes, gradients, per-sample conditioning, data consistency, mask."""

from __future__ import annotations

import pytest
import torch
from nn_inputs import make_inputs, perturb_, sample

from mrsisr.kspace import degrade
from mrsisr.nn.variants import Variant, build_generator

GRID = (32, 48)  # rectangular and not 64: the grid is an option
SMALL = {"grid": GRID, "channels": (4, 8, 16, 16, 32)}  # five levels, narrower: fast tests
USES = {  # which conditions a variant's network (before data consistency) depends on
    Variant.single_scale: set(),
    Variant.unconditioned: set(),
    Variant.amlayer: {"n"},
    Variant.hypernetwork: {"n"},
    Variant.filter_scaling: {"n"},
    Variant.filter_scaling_met: {"n", "met"},
    Variant.full: {"n", "met", "lam"},
}
CONDITIONED = [v for v in Variant if USES[v]]


def model_for(variant: Variant, seed: int = 0, **config) -> torch.nn.Module:
    """A generator with small random changes to every parameter (so every head acts)."""
    torch.manual_seed(seed)
    return perturb_(build_generator(variant, **{**SMALL, **config}), seed)


def head_output(model, inputs) -> torch.Tensor:
    """The network's map before data consistency and mask."""
    seen = []
    handle = model.head.register_forward_hook(lambda mod, args, out: seen.append(out))
    try:
        model(*inputs)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("variant", list(Variant))
def test_forward_backward_reaches_every_parameter(variant: Variant) -> None:
    model = model_for(variant)
    inputs = make_inputs(3, GRID)
    out = model(*inputs)
    assert out.shape == (3, 1, *GRID) and out.dtype == torch.float32
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize("variant", list(Variant))
def test_network_depends_on_exactly_the_conditions_it_uses(variant: Variant) -> None:
    model = model_for(variant).eval()
    base = make_inputs(2, GRID, n=[(16, 16), (20, 24)], met=[0, 3], lam=[0.0, 0.05])
    changed = {
        "n": make_inputs(2, GRID, n=[(30, 12), (8, 31)], met=[0, 3], lam=[0.0, 0.05]),
        "met": make_inputs(2, GRID, n=[(16, 16), (20, 24)], met=[5, 6], lam=[0.0, 0.05]),
        "lam": make_inputs(2, GRID, n=[(16, 16), (20, 24)], met=[0, 3], lam=[0.1, 0.01]),
    }
    with torch.no_grad():
        reference = head_output(model, base)
        for condition, inputs in changed.items():
            # Same images: only the condition differs (lr depends on n, keep the base one).
            mixed = (*base[:4], *inputs[4:])
            diff = (head_output(model, mixed) - reference).abs().max().item()
            if condition in USES[variant]:
                assert diff > 1e-4, f"{variant} ignores {condition}"
            else:
                assert diff == 0.0, f"{variant} depends on {condition}"


@pytest.mark.parametrize("variant", CONDITIONED)
def test_mixed_batch_equals_each_sample_alone(variant: Variant) -> None:
    model = model_for(variant).eval()
    inputs = make_inputs(4, GRID, n=[(16, 16), (17, 9), (32, 48), (2, 5)], met=[0, 6, 3, 3])
    with torch.no_grad():
        batched = model(*inputs)
        for b in range(4):
            alone = model(*sample(inputs, b))
            torch.testing.assert_close(batched[b : b + 1], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", [Variant.full, Variant.hypernetwork])
def test_grouped_and_loop_models_agree(variant: Variant) -> None:
    grouped = model_for(variant, conv_impl="grouped").eval()
    loop = build_generator(variant, **SMALL, conv_impl="loop").eval()
    loop.load_state_dict(grouped.state_dict())
    inputs = make_inputs(3, GRID)
    with torch.no_grad():
        torch.testing.assert_close(grouped(*inputs), loop(*inputs), atol=1e-5, rtol=1e-5)


def test_output_is_data_consistent_and_masked() -> None:
    model = model_for(Variant.full).eval()
    ns = [(17, 17), (16, 23), (31, 2)]  # odd, mixed, rectangular
    inputs = make_inputs(3, GRID, n=ns)
    lr, mask = inputs[0], inputs[3]
    with torch.no_grad():
        out = model(*inputs)
        raw = head_output(model, inputs)
        consistent = model.data_consistency(raw, lr, inputs[4])
    torch.testing.assert_close(out, consistent * mask)
    assert (out[mask == 0] == 0).all()
    for b, n in enumerate(ns):  # the measurement survives: degrade(out) == degrade(lr)
        torch.testing.assert_close(
            degrade(consistent[b].double(), n), degrade(lr[b].double(), n), atol=2e-5, rtol=0
        )


def test_default_grid_and_odd_looking_grid() -> None:
    """On the default grid and a rectangular one, each sample's output holds its own
    measured k-space exactly (its own n), adds detail beyond zero-filling, is zero outside
    its mask, and does not depend on the other samples of the batch."""
    for grid in [(64, 64), (48, 80)]:
        model = perturb_(build_generator(Variant.full, grid=grid)).eval()
        lr, t1, flair, mask, n, met, lam = make_inputs(2, grid, n=[(16, 16), (33, 61)])
        ones = torch.ones_like(mask)
        with torch.no_grad():
            out = model(lr, t1, flair, ones, n, met, lam)
            masked = model(lr, t1, flair, mask, n, met, lam)
            alone = model(*sample((lr, t1, flair, ones, n, met, lam), 1))
        assert out.shape == (2, 1, *grid) and torch.isfinite(out).all()
        for b in range(2):
            size = (int(n[b, 0]), int(n[b, 1]))
            torch.testing.assert_close(
                degrade(out[b].double(), size), degrade(lr[b].double(), size), atol=1e-4, rtol=0
            )
            assert (out[b] - lr[b]).abs().max() > 1e-3  # not zero-filling itself
        assert (masked[mask == 0] == 0).all()
        torch.testing.assert_close(alone[0], out[1], atol=1e-5, rtol=1e-5)


def test_encoder_layout_and_channels_are_options() -> None:
    model = build_generator(
        "filter_scaling", grid=[16, 16], channels=[4, 8], encoders=[["lr", "t1", "flair"]]
    )
    assert len(model.encoders) == 1 and model.num_conditioned_layers == 2 * 2 + 2
    out = model(*make_inputs(2, (16, 16), n=[(4, 4), (16, 9)]))
    assert out.shape == (2, 1, 16, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    model = model_for(Variant.full).eval()
    inputs = make_inputs(3, GRID)
    with torch.no_grad():
        cpu = model(*inputs)
        gpu = model.cuda()(*(x.cuda() for x in inputs))
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
