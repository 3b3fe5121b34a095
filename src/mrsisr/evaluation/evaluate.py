"""Score super-resolution methods on held-out patients, per (patient, slice, metabolite, n, λ).

The evaluation set is built by the training code's own parts, so that it is exactly the
data a fold holds out: the fold's test patients (:func:`mrsisr.data.splits.kfold_splits`),
the slices of the training coverage rule (:class:`mrsisr.data.slices.SliceRule`), every
requested acquisition size ``n`` with the low-resolution map made by
:func:`mrsisr.kspace.degrade` (deterministic, no augmentation).

How each map is scored (stated in every output):

* on de-normalised maps (cohort units): a network runs as ``mrsisr predict`` runs it
  (:meth:`mrsisr.inference.Predictor.infer`): its output is multiplied by the input's scale
  and made data-consistent with the measured map in float64;
* every prediction and the ground truth are multiplied by the quality mask, and the metrics
  use only the voxels inside it (SSIM: the full-size SSIM map averaged over the mask);
* ``data_range`` = max − min of the ground truth inside the mask, per map (PSNR, SSIM,
  MS-SSIM); NRMSE = ‖pred − gt‖ / ‖gt‖ inside the mask;
* LPIPS (AlexNet, v0.1) on the masked maps scaled by ``2 x / max − 1``, ``max`` the ground
  truth's maximum inside the mask; NaN, with a note, when the weights are not installed.

With ``truth`` (:class:`NoiselessTruth`, for cohorts that hold noiseless maps, as the
simulators write; ``mrsisr evaluate`` offers it), every output is also scored against the
noiseless map, the true concentrations before quantification noise, in the columns
``<metric>_true`` of
:data:`TRUTH_METRICS`: how close a method comes to the truth, not only to a noisy
measurement of it. No method can remove the noise of the acquired k-space (data consistency
keeps it), so the distance to the truth has a floor that the measured-map scores do not show.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mrsisr.data.dataset import Case, MRSIDataset
from mrsisr.data.manifest import noiseless_file
from mrsisr.data.nifti import load_volume
from mrsisr.errors import argument
from mrsisr.evaluation.methods import EvalBatch, Method
from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.metrics.registry import METRICS as METRIC_SPECS
from mrsisr.scales import fitting_scales

__all__ = [
    "DATA_RANGE_RULE",
    "METRICS",
    "TRUTH_METRICS",
    "TRUTH_SUFFIX",
    "MetricSettings",
    "NoiselessTruth",
    "evaluate",
    "evaluation_dataset",
    "score",
]

log = logging.getLogger(__name__)

METRICS: tuple[str, ...] = tuple(METRIC_SPECS)
"""The metric columns of every result, in order (:data:`mrsisr.metrics.registry.METRICS`)."""

TRUTH_METRICS: tuple[str, ...] = ("psnr", "ssim", "nrmse")
"""The metrics also computed against the true (noiseless) maps with ``truth``."""
TRUTH_SUFFIX = "_true"
"""Column suffix of the scores against the true maps: ``psnr_true``."""

DATA_RANGE_RULE = "data_range = max - min of the ground truth inside the quality mask, per map"
LPIPS_RULE = (
    "LPIPS (AlexNet v0.1) on masked maps scaled to [-1, 1] as 2 x / max - 1, max = ground-truth "
    "maximum inside the mask"
)


@dataclass(frozen=True)
class MetricSettings:
    """How the metrics are computed; :meth:`describe` goes into every output.

    Args:
        win_size: Gaussian window width of SSIM and MS-SSIM (odd).
        ms_ssim_scales: MS-SSIM scales (standard weights of the first scales, renormalised).
        lpips_weights: LPIPS weights file; ``None`` uses the user cache.
        lpips: compute LPIPS when its weights are available.
    """

    win_size: int = 11
    ms_ssim_scales: int = 3
    lpips_weights: Path | None = None
    lpips: bool = True
    _lpips_model: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def for_grid(cls, grid: Sequence[int], **kwargs: Any) -> MetricSettings:
        """The standard settings (11-voxel window, 3 scales), reduced to fit a small grid."""
        side = min(int(g) for g in grid)
        win = min(11, side if side % 2 else side - 1)
        return cls(win_size=win, ms_ssim_scales=fitting_scales(side, win, 3), **kwargs)

    def lpips_model(self) -> Any:
        """The LPIPS network, or ``None`` when LPIPS is off or its weights are absent."""
        if not self.lpips:
            return None
        if self._lpips_model is None:
            from mrsisr.metrics import LPIPS, lpips_available
            from mrsisr.metrics.lpips_weights import default_weights_path

            path = self.lpips_weights or default_weights_path()
            model = LPIPS.from_file(path) if lpips_available(path) else False
            object.__setattr__(self, "_lpips_model", model)
        return self._lpips_model or None

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description of the metric definitions."""
        if not self.lpips:
            lpips_note = f"not computed ({argument('lpips')}); reported as NaN"
        elif self.lpips_model() is None:
            lpips_note = (
                "unavailable (weights not installed: run `mrsisr lpips-weights`); reported as NaN"
            )
        else:
            lpips_note = LPIPS_RULE
        return {
            "region": "inside the quality mask (predictions and ground truth multiplied by it)",
            "units": "de-normalised maps (cohort units)",
            "data_range": DATA_RANGE_RULE,
            "psnr": "10 log10(data_range^2 / MSE inside the mask)",
            "ssim": f"Gaussian window {self.win_size}, sigma 1.5, K1 0.01, K2 0.03; "
            "full-size SSIM map averaged over the mask",
            "ms_ssim": f"{self.ms_ssim_scales} scales, window {self.win_size}",
            "nrmse": "||pred - gt|| / ||gt|| inside the mask",
            "lpips": lpips_note,
        }


class NoiselessTruth:
    """The noiseless maps of a simulated cohort, one slice at a time (read once per file).

    Args:
        root: the cohort folder; every patient scored must have ``noiseless_<met>.nii.gz``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._volumes: dict[tuple[str, str], np.ndarray] = {}

    def missing(self, patients: Sequence[str], metabolites: Sequence[str]) -> list[Path]:
        """The noiseless files the evaluation would need and the cohort lacks."""
        files = [
            self.root / p / noiseless_file(Metabolite(m)) for p in patients for m in metabolites
        ]
        return [f for f in files if not f.is_file()]

    def slice(self, patient: str, metabolite: str, z: int) -> np.ndarray:
        """``(N_y, N_x)`` float64 noiseless map of one slice."""
        key = (patient, metabolite)
        if key not in self._volumes:
            path = self.root / patient / noiseless_file(Metabolite(metabolite))
            self._volumes[key] = load_volume(path)[0]
        return self._volumes[key][:, :, z].astype(np.float64)


def evaluation_dataset(
    source: Any,
    patients: Sequence[str],
    n_values: Sequence[int],
    metabolites: Sequence[str] | None = None,
) -> MRSIDataset:
    """The deterministic evaluation set: every used slice and metabolite at every ``n``.

    Args:
        source: a cohort, its folder, or in-memory patients.
        patients: the held-out patients.
        n_values: acquisition sizes (square).
        metabolites: the metabolites; ``None``: those every patient has.

    Raises:
        ValueError: the patients lie on several in-plane grids (a merged cohort): ``n``
            would mean another acquisition on each, so each source is evaluated alone.
    """
    dataset = MRSIDataset(
        source,
        list(patients),
        metabolites,
        n_choices=[int(n) for n in n_values],
        lam_range=(0.0, 0.0),
        lam_zero_prob=1.0,
        augment=False,
        expand_n=True,
        deterministic=True,
    )
    if dataset.mixed_grids:
        grids = ", ".join(f"{g[0]} x {g[1]}" for g in dataset.native_grids)
        raise ValueError(
            f"the patients lie on several in-plane grids ({grids}); evaluate each cohort of "
            "one grid alone (the sources of a merged cohort)"
        )
    return dataset


def _batches(dataset: MRSIDataset, batch_size: int) -> Iterator[tuple[EvalBatch, list[Case]]]:
    """Batches of one ``n`` each, with their cases (for the row keys)."""
    repeat = len(dataset.n_choices)
    for n_pos in range(repeat):
        indices = range(n_pos, len(dataset), repeat)
        for start in range(0, len(indices), batch_size):
            cases = [dataset.case(i) for i in indices[start : start + batch_size]]
            yield EvalBatch.of(cases), cases


def score(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, settings: MetricSettings
) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for a batch of masked maps in cohort units.

    Args:
        pred: ``(B, 1, N_y, N_x)`` estimate (multiplied by the mask here).
        target: ``(B, 1, N_y, N_x)`` ground truth.
        mask: ``(B, 1, N_y, N_x)`` quality mask.
        settings: metric definitions.

    Returns:
        Metric name -> ``(B,)`` (computed in float32), plus ``data_range`` and ``voxels``
        (mask size). A map with an empty mask or a constant ground truth gets NaN for every
        metric.
    """
    from mrsisr.metrics import lpips, masked_extrema, ms_ssim, ms_ssim_weights, nrmse, psnr, ssim

    # float32: torch's float64 convolutions (SSIM windows) are ~10x slower on CPU, and float32
    # holds the maps' 7 significant digits; an exact prediction still scores exactly.
    inside = (mask > 0).float()
    pred, target = pred.float() * inside, target.float() * inside
    low, high = masked_extrema(target, inside)  # NaN for an empty mask
    data_range = high - low  # 0 for a constant map: every metric NaN below
    valid = torch.isfinite(data_range) & (data_range > 0)
    safe_range = torch.where(valid, data_range, torch.ones_like(data_range))
    weights = ms_ssim_weights(settings.ms_ssim_scales)
    out = {
        "psnr": psnr(pred, target, safe_range, mask=inside),
        "ssim": ssim(pred, target, safe_range, mask=inside, win_size=settings.win_size),
        "ms_ssim": ms_ssim(
            pred, target, safe_range, mask=inside, weights=weights, win_size=settings.win_size
        ),
        "nrmse": nrmse(pred, target, mask=inside),
    }
    model = settings.lpips_model()
    peak_ok = valid & (high > 0)
    if model is not None:
        peak = torch.where(peak_ok, high, torch.ones_like(high))
        values = lpips(pred, target, peak, weights=model, data_min=0.0)
        out["lpips"] = torch.where(peak_ok, values, torch.full_like(values, torch.nan))
    else:
        out["lpips"] = torch.full_like(data_range, torch.nan)
    result = {
        k: torch.where(valid, v, torch.full_like(v, torch.nan)).numpy() for k, v in out.items()
    }
    result["data_range"] = data_range.numpy()
    result["voxels"] = inside.flatten(1).sum(1).numpy()
    return result


def evaluate(
    dataset: MRSIDataset,
    methods: Sequence[Method],
    lams: Sequence[float] = (0.0,),
    settings: MetricSettings | None = None,
    batch_size: int = 32,
    truth: NoiselessTruth | None = None,
) -> list[dict[str, Any]]:
    """Score every method on every map of ``dataset`` (and every λ for λ-conditioned ones).

    Args:
        dataset: the evaluation set (:func:`evaluation_dataset`, ``expand_n=True``).
        methods: networks and baselines.
        lams: sharpness weights for λ-conditioned methods; other methods run once, λ empty.
        settings: metric definitions; default :meth:`MetricSettings.for_grid` of the data.
        batch_size: maps per forward pass.
        truth: the true (noiseless) maps; each output is also scored against them
            (columns ``<metric>_true`` of :data:`TRUTH_METRICS`).

    Returns:
        One row per (method, λ, patient, slice, metabolite, n) with the columns
        ``method, lam, patient, slice, metabolite, n``, the method's tags, :data:`METRICS`,
        ``data_range`` and ``voxels`` (and the ``_true`` columns with ``truth``).
    """
    if not dataset.expand_n:
        raise ValueError("dataset must expand every n (evaluation_dataset builds one)")
    settings = settings or MetricSettings.for_grid(dataset.grid)
    rows: list[dict[str, Any]] = []
    for batch, cases in _batches(dataset, batch_size):
        keys: dict[str, list[Any]] = {
            "patient": [dataset.patient_ids[case.patient] for case in cases],
            "slice": [case.slice for case in cases],
            "metabolite": [METABOLITES[case.met].value for case in cases],
            "n": [case.n[0] for case in cases],
        }
        true_maps = None
        if truth is not None:
            stack = [
                truth.slice(p, m, z)
                for p, m, z in zip(keys["patient"], keys["metabolite"], keys["slice"])
            ]
            true_maps = torch.from_numpy(np.stack(stack)[:, None]) * batch.mask.double()
        no_lpips = replace(settings, lpips=False)
        for method in methods:
            for lam in lams if method.lam_conditioned else [None]:
                pred = method.predict(batch, 0.0 if lam is None else float(lam))
                scores = score(pred, batch.target, batch.mask, settings)
                if true_maps is not None:
                    against = score(pred, true_maps, batch.mask, no_lpips)
                    scores.update({f"{k}{TRUTH_SUFFIX}": against[k] for k in TRUTH_METRICS})
                for b in range(len(keys["n"])):
                    row: dict[str, Any] = {"method": method.name, "lam": lam}
                    row.update({k: v[b] for k, v in keys.items()})
                    row.update(method.tags)
                    row.update({k: float(v[b]) for k, v in scores.items()})
                    rows.append(row)
        log.debug("evaluated %d rows", len(rows))
    return rows
