"""The methods an evaluation scores: trained generators and classical baselines.

A method turns an :class:`EvalBatch` (maps of one acquisition size ``n``) into estimates in
the cohort's units; the evaluation masks and scores them. :func:`load_model_methods` turns
model files into methods: single-scale networks (one per ``n``) become one method that picks
the network of each input's ``n``, as the paper's "Single-scale" row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import nn

from mrsisr import kspace
from mrsisr.data.inputs import network_inputs
from mrsisr.errors import UserError, argument
from mrsisr.evaluation.baselines import Baseline, run_baseline
from mrsisr.inference import Predictor
from mrsisr.nn.config import Variant

if TYPE_CHECKING:
    from mrsisr.data.dataset import Case

__all__ = [
    "BaselineMethod",
    "EvalBatch",
    "Method",
    "ModelMethod",
    "check_held_out",
    "load_model_methods",
]


class EvalBatch(NamedTuple):
    """A batch of evaluation maps, all with the same acquisition size ``n``."""

    zero_filled: np.ndarray
    """``(B, N_y, N_x)`` float64 zero-filled input in cohort units (a network's input before
    :func:`~mrsisr.data.inputs.network_inputs`)."""
    t1: torch.Tensor
    """``(B, 1, N_y, N_x)`` normalised T1."""
    flair: torch.Tensor
    """``(B, 1, N_y, N_x)`` normalised FLAIR."""
    mask: torch.Tensor
    """``(B, 1, N_y, N_x)`` quality mask in {0, 1}."""
    n: torch.Tensor
    """``(B, 2)`` int64 acquisition size."""
    met: torch.Tensor
    """``(B,)`` int64 metabolite index."""
    native: np.ndarray
    """``(B, n_y, n_x)`` float64 measured map in cohort units."""
    target: torch.Tensor
    """``(B, 1, N_y, N_x)`` float64 ground truth in cohort units, masked."""

    @classmethod
    def of(cls, cases: Sequence[Case]) -> EvalBatch:
        """The batch of dataset cases (:meth:`~mrsisr.data.dataset.MRSIDataset.case`) of one
        ``n``, in float64 where the Dataset's samples are rounded to float32.

        Raises:
            ValueError: a case without its T1 or FLAIR (the methods choose which images
                they use, :attr:`ModelMethod.present`), or cases of several ``n``.
        """
        sizes = {case.n for case in cases}
        if len(sizes) != 1:
            raise ValueError(f"an evaluation batch holds one n, got {sorted(sizes)}")
        if any(case.t1 is None or case.flair is None for case in cases):
            raise ValueError("evaluation cases must hold their T1 and FLAIR (no presence_probs)")

        def stacked(name: str) -> np.ndarray:
            return np.stack([getattr(case, name) for case in cases])

        def image(name: str) -> torch.Tensor:
            return torch.from_numpy(stacked(name)[:, None])

        mask = stacked("mask")[:, None]
        zero_filled = stacked("zero_filled")
        return cls(
            zero_filled=zero_filled,
            t1=image("t1"),
            flair=image("flair"),
            mask=torch.from_numpy(mask.astype(np.float32)),
            n=torch.tensor([case.n for case in cases], dtype=torch.int64),
            met=torch.tensor([case.met for case in cases], dtype=torch.int64),
            native=kspace.degrade(zero_filled, sizes.pop()),
            target=torch.from_numpy(stacked("target")[:, None] * mask),
        )


class Method(Protocol):
    """A super-resolution method under evaluation."""

    @property
    def name(self) -> str:
        """The method's name in the tables."""
        ...

    lam_conditioned: bool
    tags: dict[str, Any]

    def predict(self, batch: EvalBatch, lam: float) -> torch.Tensor:
        """``(B, 1, N_y, N_x)`` estimate in cohort units (masking is done by the caller)."""
        ...


@dataclass
class BaselineMethod:
    """A classical method of :mod:`mrsisr.evaluation.baselines`."""

    baseline: Baseline
    tags: dict[str, Any] = field(default_factory=dict)
    lam_conditioned: bool = False

    @property
    def name(self) -> str:
        """The baseline's name (e.g. ``zero_fill``)."""
        return self.baseline.value

    def predict(self, batch: EvalBatch, lam: float) -> torch.Tensor:
        """Run the baseline on the native maps."""
        out = run_baseline(
            self.baseline,
            batch.native,
            batch.t1[:, 0].double().numpy(),
            batch.flair[:, 0].double().numpy(),
            batch.mask[:, 0].numpy(),
        )
        return torch.from_numpy(out)[:, None]


@dataclass
class ModelMethod:
    """A trained generator (or one per ``n``, as the single-scale networks), in eval mode.

    Args:
        name: label in the results.
        models: ``{n: generator}`` for per-``n`` networks, or ``{None: generator}``.
        lam_conditioned: whether the generator takes λ (the full model); others run once.
        n_condition: give the network's conditioning this ``n`` instead of the input's
            (Fig. 2a); data consistency keeps the input's true ``n``.
        met_condition: give the network this metabolite index instead (Fig. 2b).
        present: ``(T1, FLAIR)``: which images the network is given (an absent one is
            zeros and flagged absent, as ``mrsisr predict`` does); ``None``: both.
        tags: extra columns written into every result row of this method.
        infos: the model files' :class:`~mrsisr.checkpoint.ModelInfo` (for checks).
    """

    name: str
    models: dict[int | None, nn.Module]
    lam_conditioned: bool = False
    n_condition: int | None = None
    met_condition: int | None = None
    present: tuple[bool, bool] | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    infos: list[Any] = field(default_factory=list)

    def model_for(self, n: int) -> nn.Module:
        """The generator that handles acquisition size ``n``."""
        model = self.models.get(None, self.models.get(int(n)))
        if model is None:
            have = ", ".join(str(k) for k in sorted(k for k in self.models if k is not None))
            raise ValueError(f"{self.name}: no network for n={n}; it has networks for n={have}")
        return model

    def predict(self, batch: EvalBatch, lam: float) -> torch.Tensor:
        """Super-resolve the batch as ``mrsisr predict`` does: the inputs of
        :func:`~mrsisr.data.inputs.network_inputs` (an image not in :attr:`present` is
        absent), then :meth:`~mrsisr.inference.Predictor.infer` (the generator, its scale,
        data consistency with the measured map in float64)."""
        model = self.model_for(int(batch.n[0, 0]))
        present = self.present or (True, True)
        images = (batch.t1, batch.flair)
        t1, flair = (img[:, 0].numpy() if keep else None for img, keep in zip(images, present))
        prepared = network_inputs(batch.zero_filled, t1, flair, batch.mask[:, 0].numpy())
        rows, grid = batch.zero_filled.shape[0], batch.zero_filled.shape[-2:]
        device = next(model.parameters()).device
        predictor = Predictor(model, (int(grid[0]), int(grid[1])), device, batch_size=rows)
        met = batch.met.numpy() if self.met_condition is None else self.met_condition
        cond_n = None if self.n_condition is None else (self.n_condition, self.n_condition)
        out = predictor.infer(prepared, batch.native, met, [lam], present, cond_n)
        return torch.from_numpy(out[0])[:, None]


def _lam_conditioned(variant: str) -> bool:
    from mrsisr.nn.unet import NormKind
    from mrsisr.nn.variants import CONDITIONING, Variant

    return CONDITIONING[Variant.parse(variant)].norm == NormKind.cin


def load_model_methods(paths: Sequence[str | Path], device: str = "cpu") -> list[ModelMethod]:
    """Model files as methods; single-scale networks trained on one ``n`` are grouped.

    Each method is named after its variant; two files of the same variant are told apart by
    their folder names. The model files' metadata are kept in ``ModelMethod.infos``.

    Raises:
        UserError: an unreadable model file, or two single-scale networks for one ``n``.
    """
    from mrsisr.checkpoint import load_model

    singles: dict[int, Any] = {}
    single_infos: list[Any] = []
    loaded = []
    for path in paths:
        model, info = load_model(path, map_location=device)
        ns = list(info.metadata.get("n_choices") or [])
        if info.variant == Variant.single_scale and len(ns) == 1:
            if int(ns[0]) in singles:
                raise UserError(
                    f"{argument('model_files')} {path}: a second single-scale network for n={ns[0]}"
                )
            singles[int(ns[0])] = model
            single_infos.append(info)
        else:
            loaded.append((model, info))
    counts: dict[str, int] = {}
    for _, info in loaded:
        counts[info.variant] = counts.get(info.variant, 0) + 1
    methods = []
    if singles:
        models: dict[int | None, nn.Module] = dict(sorted(singles.items()))
        methods.append(ModelMethod(Variant.single_scale, models, infos=single_infos))
    names: set[str] = {m.name for m in methods}
    for model, info in loaded:
        name = str(info.variant)
        if counts[info.variant] > 1 or name in names:
            name = f"{info.variant}:{Path(str(info.path)).parent.name}"
        base, k = name, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.add(name)
        methods.append(
            ModelMethod(name, {None: model}, _lam_conditioned(info.variant), infos=[info])
        )
    return methods


def check_held_out(methods: Sequence[Any], patients: Sequence[str]) -> None:
    """Refuse to score a model on patients it was trained or validated on.

    Uses the split recorded in each model file (``metadata["split"]``); a file without one
    cannot be checked and passes.

    Raises:
        UserError: naming the model file and the overlapping patients.
    """
    wanted = set(patients)
    for method in methods:
        for info in getattr(method, "infos", []):
            split = info.metadata.get("split") or {}
            seen = wanted & (set(split.get("train", [])) | set(split.get("val", [])))
            if seen:
                raise UserError(
                    f"{argument('model_files')} {info.path}: was trained or validated on "
                    f"{', '.join(sorted(seen))}; evaluate it on its own test fold "
                    f"({argument('fold')}) or on other {argument('patients')}"
                )
