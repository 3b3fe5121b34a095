"""The self-check protocol on a cohort: what it estimates, and (with truth) what it is worth.

For every map of every patient and every acquisition size ``n``, the map is cut to ``n``
(:func:`mrsisr.kspace.degrade`) and :func:`mrsisr.selfcheck.self_check` estimates, from that
low-resolution map alone, what the network adds one scale down (``n' -> n``) and the detail
weights. Where the cohort's maps are a truth (simulated, or measured at a higher resolution
than ``n``), the raw and the calibrated super-resolution (``n -> N``) are also scored against
them: the *actual* gains over zero-filling that the estimates are checked against. Without
truth (real low-resolution maps, ``n`` = their own size) only the estimates exist: what a
user can measure on their data, and what it cannot say about ``n -> N``
(docs/self-check.md).

Every gain is a whole map's (slices pooled) PSNR minus zero-filling's, inside the mask.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from mrsisr import kspace
from mrsisr.bands import blend
from mrsisr.data.normalise import normalise_anatomy
from mrsisr.inference import Anatomy, Predictor
from mrsisr.metabolites import Metabolite
from mrsisr.metrics.pixel import psnr_in_mask
from mrsisr.selfcheck import SelfCheck, self_check

if TYPE_CHECKING:
    from mrsisr.data.cohort import Cohort, Patient

__all__ = ["CheckRow", "check_cohort", "check_table", "scored_check", "summarise"]

log = logging.getLogger(__name__)

HARM_TOLERANCE_DB = 0.05
"""A calibrated map counts as doing no harm at or above zero-filling minus this."""


@dataclass(frozen=True)
class CheckRow:
    """One map's self-check and, with truth, its actual gains (dB over zero-filling)."""

    patient: str
    metabolite: str
    n: int
    n_check: int
    """``n'`` (first axis; 0 when no self-check was possible)."""
    estimated_raw_db: float
    """The self-check's gain of the raw network, ``n' -> n``."""
    estimated_db: float
    """The self-check's gain with the fitted weights, ``n' -> n``."""
    used: bool
    """Whether the fitted weights were used (the self-check gain reached the bar)."""
    weights: tuple[float, ...]
    """The weights applied, inner to outer ring."""
    actual_raw_db: float = math.nan
    """The raw network's gain ``n -> N`` against the truth (NaN without truth)."""
    actual_db: float = math.nan
    """The calibrated output's gain ``n -> N`` against the truth (NaN without truth)."""

    def to_dict(self) -> dict:
        """A flat, JSON-ready row (NaN as ``None``)."""
        row = asdict(self)
        row["weights"] = " ".join(f"{w:.3f}" for w in self.weights)
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()
        }


def _anatomy(patient: Patient, slices: Sequence[int], images: tuple[bool, bool]) -> Anatomy:
    mask = np.asarray(patient.mask[:, :, list(slices)], dtype=bool)
    t1, flair = (
        normalise_anatomy(img[:, :, list(slices)], mask) if keep else None
        for img, keep in zip((patient.t1, patient.flair), images)
    )
    return Anatomy(t1=t1, flair=flair, mask=mask, mask_source="cohort quality mask")


def scored_check(
    predictor: Predictor,
    lr: np.ndarray,
    metabolite: Metabolite,
    anatomy: Anatomy,
    truth: np.ndarray,
) -> tuple[SelfCheck, float, float]:
    """The self-check of one map and the actual gains (dB over zero-filling, ``n -> N``) of
    the raw and the calibrated output against the truth, every slice pooled in the mask.

    Args:
        predictor: the model.
        lr: ``(n_y, n_x, S)`` low-resolution map.
        metabolite: which metabolite it is.
        anatomy: its inputs on the output grid.
        truth: ``(S, N_y, N_x)`` the map it should give.

    Returns:
        ``(check, raw gain, calibrated gain)``.
    """
    check = self_check(predictor, lr, metabolite, anatomy)
    measured = np.moveaxis(lr, 2, 0)
    raw = np.moveaxis(predictor.super_resolve(lr, metabolite, anatomy)[0], 2, 0)
    zero = kspace.zero_fill(measured, anatomy.grid)
    calibrated = blend(zero, raw.astype(np.float64), measured.shape[-2:], check.weights)
    inside = np.moveaxis(anatomy.mask, 2, 0)
    base = psnr_in_mask(zero, truth, inside)
    return (
        check,
        psnr_in_mask(raw, truth, inside) - base,
        psnr_in_mask(calibrated, truth, inside) - base,
    )


def check_cohort(
    predictor: Predictor,
    cohort: Cohort,
    patients: Iterable[str],
    n_values: Sequence[int],
    metabolites: Sequence[Metabolite] | None = None,
    images: tuple[bool, bool] = (True, True),
) -> list[CheckRow]:
    """The self-check of every map of ``patients`` at every ``n``, scored against the truth.

    Args:
        predictor: the model.
        cohort: an opened :class:`mrsisr.data.cohort.Cohort` whose maps are the truth.
        patients: patient ids.
        n_values: square acquisition sizes to cut the maps to.
        metabolites: default: every metabolite of each patient.
        images: which of T1 and FLAIR the network is given.

    Returns:
        One :class:`CheckRow` per (patient, metabolite, n).
    """
    from mrsisr.data.slices import SliceRule

    rows = []
    for pid in patients:
        patient = cohort.load(pid, anatomy_upsample=1)
        slices = SliceRule().select(patient.mask)
        anatomy = _anatomy(patient, slices, images)
        for met in metabolites or list(patient.maps):
            truth = np.moveaxis(patient.maps[met][:, :, list(slices)].astype(np.float64), 2, 0)
            for n in n_values:
                lr = np.moveaxis(kspace.degrade(truth, n), 0, 2)
                check, raw_db, calibrated_db = scored_check(predictor, lr, met, anatomy, truth)
                rows.append(
                    CheckRow(
                        patient=pid,
                        metabolite=met.value,
                        n=int(n),
                        n_check=check.n_check[0] if check.n_check else 0,
                        estimated_raw_db=check.gain_raw_db,
                        estimated_db=check.gain_db,
                        used=any(w > 0 for w in check.weights),
                        weights=check.weights,
                        actual_raw_db=raw_db,
                        actual_db=calibrated_db,
                    )
                )
        log.info("self-check: %s done", pid)
    return rows


def summarise(rows: Sequence[CheckRow]) -> dict:
    """The protocol's numbers over ``rows``: mean gains, the share of calibrated maps that do
    no harm, and how the estimates rank and miss the actual gains (Spearman ρ, mean absolute
    error; where the rows have truth)."""
    from scipy.stats import spearmanr

    def column(name: str) -> np.ndarray:
        return np.array([getattr(r, name) for r in rows], dtype=np.float64)

    summary: dict = {
        "maps": len(rows),
        "self_check_ran": int(sum(r.n_check > 0 for r in rows)),
        "weights_used": int(sum(r.used for r in rows)),
        "estimated_raw_db": float(np.nanmean(column("estimated_raw_db"))) if rows else math.nan,
    }
    actual, actual_raw = column("actual_db"), column("actual_raw_db")
    if rows and np.isfinite(actual).all():
        summary["actual_raw_db"] = float(actual_raw.mean())
        summary["actual_db"] = float(actual.mean())
        summary["calibrated_minus_raw_db"] = float((actual - actual_raw).mean())
        summary["no_harm_share"] = float((actual >= -HARM_TOLERANCE_DB).mean())
        summary["worst_db"] = float(actual.min())
        for kind, est, act in (
            ("raw", column("estimated_raw_db"), actual_raw),
            ("calibrated", column("estimated_db"), actual),
        ):
            ok = np.isfinite(est)
            if ok.sum() > 2:
                summary[f"spearman_{kind}"] = float(spearmanr(est[ok], act[ok]).statistic)
                summary[f"mae_{kind}_db"] = float(np.abs(est[ok] - act[ok]).mean())
    return summary


def check_table(rows: Sequence[CheckRow]) -> str:
    """A markdown table per metabolite and n of the mean gains (dB over zero-filling)."""
    truth = bool(rows) and all(math.isfinite(r.actual_db) for r in rows)
    head = "| metabolite | n | maps | weights used | estimated raw | estimated calibrated |"
    rule = "|---|---|---|---|---|---|"
    if truth:
        head += " actual raw | actual calibrated | no harm |"
        rule += "---|---|---|"
    lines = [head, rule]
    keys = sorted({(r.metabolite, r.n) for r in rows})
    for met, n in keys:
        group = [r for r in rows if (r.metabolite, r.n) == (met, n)]
        line = (
            f"| {met} | {n} | {len(group)} | {sum(r.used for r in group)} | "
            f"{_mean(r.estimated_raw_db for r in group)} | {_mean(r.estimated_db for r in group)} |"
        )
        if truth:
            no_harm = np.mean([r.actual_db >= -HARM_TOLERANCE_DB for r in group])
            line += (
                f" {_mean(r.actual_raw_db for r in group)} | "
                f"{_mean(r.actual_db for r in group)} | {100 * no_harm:.0f} % |"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


def _mean(values: Iterable[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    return f"{np.mean(finite):+.2f}" if finite else "–"
