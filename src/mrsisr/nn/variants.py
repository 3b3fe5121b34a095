"""The rows of the paper's Table 1 (and the shipped model) as named variants of one UNet.

=====================  =======================================================================
variant                blocks of :class:`~mrsisr.nn.unet.MultiEncoderUNet`
=====================  =======================================================================
``single_scale``       plain convs + IN; one network per n (the paper trains nine)
``unconditioned``      plain convs + IN, trained on every n
``amlayer``            plain convs + AMLayer on n (Hui et al. CVPR 2021)
``hypernetwork``       every kernel predicted from n by FC layers, no base weights; plain IN
``filter_scaling``     filter scaling on n + IN
``filter_scaling_met`` filter scaling on n and the metabolite + IN
``full``               filter scaling on n, m + CIN on lambda: the Multi-Conditional Module
=====================  =======================================================================

Every variant has the same call ``model(lr, t1, flair, mask, n, met, lam)`` and ignores the
conditions it does not use.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from mrsisr.nn.config import CriticConfig, GeneratorConfig, Variant
from mrsisr.nn.critic import Critic
from mrsisr.nn.unet import Conditioning, ConvKind, MultiEncoderUNet, NormKind

__all__ = [
    "CONDITIONING",
    "PAPER_PARAMS",
    "CriticConfig",
    "GeneratorConfig",
    "ParamRow",
    "Variant",
    "build_critic",
    "build_generator",
    "count_parameters",
    "parameter_table",
]


CONDITIONING: dict[Variant, Conditioning] = {
    Variant.single_scale: Conditioning(),
    Variant.unconditioned: Conditioning(),
    Variant.amlayer: Conditioning(norm=NormKind.amlayer),
    Variant.hypernetwork: Conditioning(conv=ConvKind.hypernetwork),
    Variant.filter_scaling: Conditioning(conv=ConvKind.filter_scaling),
    Variant.filter_scaling_met: Conditioning(conv=ConvKind.filter_scaling, met=True),
    Variant.full: Conditioning(conv=ConvKind.filter_scaling, met=True, norm=NormKind.cin),
}

SINGLE_SCALE_NETWORKS = 9
"""The paper's single-scale row is nine networks, one per n in {16, 18, ..., 32}."""

PAPER_PARAMS: dict[str, int | None] = {
    Variant.single_scale.value: 8_700_000,
    Variant.unconditioned.value: 1_000_000,
    Variant.amlayer.value: 1_500_000,
    Variant.hypernetwork.value: 26_000_000,
    Variant.filter_scaling.value: 3_900_000,
    Variant.filter_scaling_met.value: 6_900_000,
    Variant.full.value: None,
    "critic": None,
}
"""Parameter counts of the paper's Table 1 (None: the paper has no such row)."""


def build_generator(variant: Variant | str = Variant.full, **config: Any) -> MultiEncoderUNet:
    """The generator of a variant.

    Args:
        variant: a :class:`Variant` or its name.
        **config: fields of :class:`~mrsisr.nn.config.GeneratorConfig` (lists are accepted
            for tuples, as JSON and TOML give them).

    Raises:
        ValueError: unknown variant or bad option; TypeError: unknown option name.
    """
    return MultiEncoderUNet(GeneratorConfig(**config), CONDITIONING[Variant.parse(variant)])


def build_critic(**config: Any) -> Critic:
    """The conditional WGAN-GP critic; ``config``: fields of :class:`CriticConfig`."""
    return Critic(CriticConfig(**config))


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (buffers such as the data-consistency matrices excluded)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class ParamRow(NamedTuple):
    """One row of :func:`parameter_table`."""

    variant: str
    params: int
    """Parameters of the built module(s); nine networks for ``single_scale``."""
    paper_params: int | None


def parameter_table(**config: Any) -> list[ParamRow]:
    """Parameter counts of every variant and of the critic, built with ``config``, vs the paper."""
    rows = []
    for variant in Variant:
        params = count_parameters(build_generator(variant, **config))
        if variant == Variant.single_scale:
            params *= SINGLE_SCALE_NETWORKS
        rows.append(ParamRow(variant.value, params, PAPER_PARAMS[variant.value]))
    rows.append(ParamRow("critic", count_parameters(build_critic()), PAPER_PARAMS["critic"]))
    return rows
