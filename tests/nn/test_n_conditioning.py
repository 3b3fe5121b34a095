"""How n reaches the conditioning: encodings, the start of the filter-scaling heads, ``cond_n``."""

from __future__ import annotations

import math

import pytest
import torch
from nn_inputs import make_inputs, perturb_

from mrsisr.kspace import degrade
from mrsisr.nn.conditioning import encode_n
from mrsisr.nn.config import GeneratorConfig, HeadInit, NEncoding
from mrsisr.nn.variants import build_generator

SMALL = {"grid": (32, 32), "channels": (4, 8, 16), "mlp_depth": 2, "filter_latent": 8}
N = torch.tensor([[16, 16], [24, 20], [32, 32]])


def test_encodings_against_their_formulas() -> None:
    grid = encode_n(N, GeneratorConfig(grid=(64, 64)), torch.float64)
    torch.testing.assert_close(grid, N.double() / 64)
    unit = encode_n(N, GeneratorConfig(n_encoding="range"), torch.float64)
    torch.testing.assert_close(unit, (N.double() - 16) / 16)
    assert unit.min() == 0 and unit.max() == 1
    assert not encode_n(N, GeneratorConfig(n_encoding="none"), torch.float64).any()
    cfg = GeneratorConfig(n_encoding="fourier", n_fourier=3, n_range=(8, 40))
    four = encode_n(N, cfg, torch.float64)
    assert four.shape == (3, cfg.n_features) == (3, 2 * (1 + 2 * 3))
    u = (24 - 8) / 32  # sample 1, axis y
    expected = [u, *(math.sin(math.pi * 2**k * u) for k in range(3))]
    expected += [math.cos(math.pi * 2**k * u) for k in range(3)]
    got = [four[1, 0], four[1, 2], four[1, 3], four[1, 4], four[1, 8], four[1, 9], four[1, 10]]
    torch.testing.assert_close(torch.stack(got), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_encoding": "log"}, "n_encoding"),
        ({"filter_head_init": "zero"}, "filter_head_init"),
        ({"n_range": (32, 16)}, "n_range"),
        ({"n_fourier": 0}, "n_fourier"),
    ],
)
def test_bad_options_name_themselves(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**options)


def test_the_default_config_keeps_the_options_models_were_trained_with() -> None:
    cfg = GeneratorConfig()
    assert cfg.n_encoding == NEncoding.grid and cfg.filter_head_init == HeadInit.identity
    rebuilt = GeneratorConfig(**cfg.to_dict())
    assert rebuilt == cfg and isinstance(rebuilt.n_encoding, NEncoding)


def _outputs_by_condition(model, conditions) -> list[torch.Tensor]:
    lr, t1, flair, mask, n, met, lam = make_inputs(3, (32, 32), n=[(12, 12)] * 3)
    with torch.no_grad():
        return [
            model(lr, t1, flair, mask, n, met, lam, cond_n=torch.full_like(n, c))
            for c in conditions
        ]


@pytest.mark.parametrize("encoding", ["grid", "range", "fourier"])
def test_identity_heads_start_the_same_for_every_n_and_linear_heads_do_not(encoding) -> None:
    torch.manual_seed(0)
    ours = build_generator("filter_scaling", n_encoding=encoding, **SMALL)
    first, *others = _outputs_by_condition(ours, [8, 12, 20])
    for other in others:
        torch.testing.assert_close(other, first, rtol=0, atol=0)
    authors = build_generator(
        "filter_scaling", n_encoding=encoding, filter_head_init="linear", **SMALL
    )
    first, *others = _outputs_by_condition(authors, [8, 12, 20])
    assert all((other - first).abs().max() > 1e-4 for other in others)


def test_without_n_in_the_trunks_the_swapped_condition_changes_nothing() -> None:
    model = perturb_(build_generator("full", n_encoding="none", filter_head_init="linear", **SMALL))
    first, *others = _outputs_by_condition(model, [4, 12, 32])
    for other in others:
        torch.testing.assert_close(other, first, rtol=0, atol=0)


@pytest.mark.parametrize("variant", ["filter_scaling", "amlayer", "hypernetwork", "full"])
def test_cond_n_moves_only_the_conditioning_and_dc_keeps_the_true_n(variant) -> None:
    model = perturb_(build_generator(variant, **SMALL)).double()
    lr, t1, flair, mask, n, met, lam = make_inputs(
        3, (32, 32), seed=1, n=[(12, 12), (9, 14), (20, 6)]
    )
    lr, t1, flair = lr.double(), t1.double(), flair.double()
    ones = torch.ones_like(mask)
    with torch.no_grad():
        true = model(lr, t1, flair, ones, n, met, lam)
        swapped = model(lr, t1, flair, ones, n, met, lam, cond_n=torch.full_like(n, 28))
        same = model(lr, t1, flair, ones, n, met, lam, cond_n=n.clone())
    torch.testing.assert_close(same, true, rtol=0, atol=0)
    assert (swapped - true).abs().max() > 1e-6  # the conditioning saw n = 28
    for b in range(3):
        size = tuple(int(v) for v in n[b])
        torch.testing.assert_close(degrade(swapped[b], size), degrade(lr[b], size))
        # DC at n = 28 would have replaced the 28 x 28 centre with the (zero-filled) input:
        assert not torch.allclose(degrade(swapped[b], (28, 28)), degrade(lr[b], (28, 28)))


def test_cond_n_out_of_range_is_refused() -> None:
    model = build_generator("filter_scaling", **SMALL)
    lr, t1, flair, mask, n, met, lam = make_inputs(2, (32, 32))
    with pytest.raises(ValueError, match="cond_n must hold"):
        model(lr, t1, flair, mask, n, met, lam, cond_n=torch.full_like(n, 33))
    with pytest.raises(ValueError, match="cond_n must be an int64"):
        model(lr, t1, flair, mask, n, met, lam, cond_n=n.float())
