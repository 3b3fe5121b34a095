"""Are the SD maps of :mod:`mrsisr.uncertainty` calibrated? And is bf16 as good as float32?

Measured on held-out patients of a cohort (the test patients of one fold), per metabolite,
over every voxel inside the quality mask of the used slices (:class:`SliceRule`) at every
requested acquisition size ``n``:

* **Spearman correlation** between the SD and the absolute error ``|estimate − truth|``
  (``scipy.stats.spearmanr``): does a larger SD point at a larger error?
* **Coverage**: the fraction of voxels with ``|error| <= 2 SD``; a Gaussian error with that
  SD would give 95.4 %.

Methods: ``tta`` on the noise-free acquisition ``degrade(truth, n)`` (the estimate is the TTA
mean); ``fit`` on a noisy acquisition ``degrade(truth, n) + σ ε`` with the SD map ``σ`` given
to :func:`mrsisr.uncertainty.propagate_fit` (the estimate is its mean). ``σ`` is an
assumption of this measurement, stated in its output: per metabolite, the phantom's
quantification noise SD (:data:`mrsisr.sim.tissue.NOISE_SD_MM`) at every low-resolution
voxel. The error of ``fit`` therefore holds both the propagated noise, which its SD
describes, and the network's own error, which it does not.

The precision check runs the plain prediction at λ = 0 in float32 and in bfloat16 and
reports the mean PSNR of each (inside the mask, data range = truth max − min inside the mask
per map, as :mod:`mrsisr.evaluation.evaluate`), their difference and the speed ratio of the
network's forward passes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrsisr import kspace
from mrsisr.data.normalise import normalise_anatomy
from mrsisr.data.slices import SliceRule
from mrsisr.inference import Anatomy, Precision, Predictor
from mrsisr.machine import machine_info, source_commit
from mrsisr.metabolites import Metabolite
from mrsisr.metrics.pixel import psnr_in_mask
from mrsisr.provenance import FileHashes
from mrsisr.sim.tissue import NOISE_SD_MM
from mrsisr.uncertainty import DEFAULT_DRAWS, Uncertainty, propagate_fit, tta
from mrsisr.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from mrsisr.data.cohort import Patient

__all__ = ["CalibrationResult", "calibrate", "calibration_stats", "source_commit"]

log = logging.getLogger(__name__)

COVERAGE_SDS = 2.0
"""Coverage counts voxels with ``|error| <= COVERAGE_SDS * SD``."""


def calibration_stats(sd: np.ndarray, error: np.ndarray) -> dict[str, float]:
    """Spearman ρ of SD vs ``|error|``, the ±2 SD coverage and summaries, over given voxels.

    Args:
        sd: ``(V,)`` standard deviations.
        error: ``(V,)`` signed errors (estimate − truth), same units.
    """
    from scipy.stats import spearmanr

    sd, error = np.asarray(sd, np.float64).ravel(), np.abs(np.asarray(error, np.float64)).ravel()
    if sd.shape != error.shape or sd.size < 3:
        raise ValueError(f"need matching sd and error with >= 3 voxels, got {sd.size}")
    rho = spearmanr(sd, error).statistic if np.ptp(sd) > 0 else float("nan")
    return {
        "voxels": int(sd.size),
        "spearman": float(rho),
        "within_2sd": float(np.mean(error <= COVERAGE_SDS * sd)),
        "mean_sd": float(sd.mean()),
        "mean_abs_error": float(error.mean()),
        "rmse": float(np.sqrt(np.mean(error**2))),
    }


@dataclass
class CalibrationResult:
    """What :func:`calibrate` measured (JSON-ready through :meth:`to_dict`)."""

    patients: tuple[str, ...]
    n_values: tuple[int, ...]
    draws: int
    calibration: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """``[method][metabolite or "all"]`` -> :func:`calibration_stats`."""
    precision: dict[str, Any] = field(default_factory=dict)
    """PSNR (dB) in float32 and bf16, the difference, seconds of each and the speed ratio."""

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-serialisable."""
        return {
            "patients": list(self.patients),
            "n": list(self.n_values),
            "draws": self.draws,
            "fit_sd_assumption": "sigma = NOISE_SD_MM[metabolite] at every low-resolution voxel",
            "calibration": self.calibration,
            "precision": self.precision,
        }


def _anatomy(patient: Patient, z: Sequence[int]) -> Anatomy:
    mask = patient.mask[:, :, list(z)]
    return Anatomy(
        t1=normalise_anatomy(patient.t1[:, :, list(z)], mask),
        flair=normalise_anatomy(patient.flair[:, :, list(z)], mask),
        mask=mask,
        mask_source="cohort quality mask",
    )


def calibrate(
    predictor: Predictor,
    cohort: Any,
    patients: Sequence[str],
    n_values: Sequence[int],
    metabolites: Sequence[Metabolite] | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    precision_check: bool = True,
) -> CalibrationResult:
    """Measure the calibration of both SD methods and, optionally, bf16 against float32.

    Args:
        predictor: the model (float32; a bf16 copy is made for the precision check).
        cohort: an opened :class:`mrsisr.data.cohort.Cohort`.
        patients: held-out patient ids.
        n_values: square acquisition sizes.
        metabolites: default: every metabolite of the first patient.
        draws: Monte Carlo draws of ``fit``.
        seed: seed of the noise of ``fit`` (inputs and draws).
        precision_check: also compare float32 and bf16 at λ = 0.
    """

    rng = np.random.default_rng(seed)
    rule = SliceRule()
    result = CalibrationResult(tuple(patients), tuple(int(n) for n in n_values), draws)
    pooled: dict[str, dict[str, list[np.ndarray]]] = {m.value: {} for m in Uncertainty}
    psnr: dict[str, list[float]] = {"fp32": [], "bf16": []}
    seconds = {"fp32": 0.0, "bf16": 0.0}
    half = Predictor(
        predictor.model,
        predictor.grid,
        predictor.device,
        predictor.batch_size,
        precision=Precision.bf16,
    )
    for pid in patients:
        patient = cohort.load(pid, anatomy_upsample=1)
        z = rule.select(patient.mask)
        anatomy = _anatomy(patient, z)
        inside = anatomy.mask
        for met in metabolites or list(patient.maps):
            truth = patient.maps[met][:, :, list(z)].astype(np.float64)
            for n in result.n_values:
                lr = np.moveaxis(kspace.degrade(np.moveaxis(truth, 2, 0), n), 0, 2)
                est = tta(predictor, lr, met, anatomy)
                _pool(pooled, "tta", met, est.sd[0][inside], (est.mean[0] - truth)[inside])
                sigma = np.full(lr.shape, NOISE_SD_MM[met])
                noisy = lr + sigma * rng.standard_normal(lr.shape)
                est = propagate_fit(predictor, noisy, sigma, met, anatomy, draws=draws, rng=rng)
                _pool(pooled, "fit", met, est.sd[0][inside], (est.mean[0] - truth)[inside])
                if precision_check:
                    for name, model in (("fp32", predictor), ("bf16", half)):
                        start = time.perf_counter()
                        out = model.super_resolve(lr, met, anatomy)[0]
                        seconds[name] += time.perf_counter() - start
                        psnr[name] += [
                            psnr_in_mask(out[:, :, s], truth[:, :, s], inside[:, :, s])
                            for s in range(len(z))
                        ]
            log.info("calibration: %s %s done", pid, met.value)
    for method, by_met in pooled.items():
        result.calibration[method] = {
            met: calibration_stats(np.concatenate(v[0::2]), np.concatenate(v[1::2]))
            for met, v in by_met.items()
        }
        every = [a for v in by_met.values() for a in v]
        result.calibration[method]["all"] = calibration_stats(
            np.concatenate(every[0::2]), np.concatenate(every[1::2])
        )
    if precision_check:
        fp32, bf16 = np.array(psnr["fp32"]), np.array(psnr["bf16"])
        result.precision = {
            "maps": int(fp32.size),
            "psnr_fp32_db": float(fp32.mean()),
            "psnr_bf16_db": float(bf16.mean()),
            "psnr_difference_db": float(bf16.mean() - fp32.mean()),
            "max_abs_difference_per_map_db": float(np.abs(bf16 - fp32).max()),
            "seconds_fp32": seconds["fp32"],
            "seconds_bf16": seconds["bf16"],
            "speed_ratio": seconds["fp32"] / seconds["bf16"],
        }
    return result


def _pool(
    pooled: dict[str, dict[str, list[np.ndarray]]],
    method: str,
    met: Metabolite,
    sd: np.ndarray,
    error: np.ndarray,
) -> None:
    pooled[method].setdefault(met.value, []).extend([sd, error])


def _model_record(model: str | Path | None) -> dict[str, Any]:
    """The model file by path and SHA-256 (the shipped file when ``model`` is None): a name
    such as "shipped" says nothing once another model ships."""
    path = Path(model) if model else DEFAULT_MODEL
    return {
        "path": str(path.absolute()),
        "sha256": FileHashes()(path),
        "shipped_at_the_time": model is None,
    }


def write_calibration(
    result: CalibrationResult,
    out: str | Path,
    model: str | Path | None = None,
    data: str | Path | None = None,
    commit: str | None = None,
) -> list[Path]:
    """Write ``calibration.json`` and ``calibration.md`` into ``out``; returns their paths.

    ``commit``: the source commit the measurement ran from (take it with
    :func:`source_commit` when the run starts; default: now).
    """

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    record = {
        **result.to_dict(),
        "model": _model_record(model),
        "data": str(data) if data else None,
        "git_commit": commit or source_commit(),
        "machine": machine,
    }
    json_path = out / "calibration.json"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        f"# Calibration of the uncertainty maps ({machine['date'][:10]}, "
        f"commit {(record['git_commit'] or 'unknown')[:10]})",
        "",
        f"Patients {', '.join(result.patients)}; n = {', '.join(map(str, result.n_values))}; "
        f"λ = 0; voxels inside the quality mask of the used slices; fit: {result.draws} draws, "
        "σ = the phantom's noise SD per metabolite (an assumption of this measurement).",
        "",
        "| method | metabolite | voxels | Spearman ρ(SD, abs error) | within ±2 SD | mean SD | "
        "mean abs error |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, rows in result.calibration.items():
        for met, st in rows.items():
            lines.append(
                f"| {method} | {met} | {st['voxels']} | {st['spearman']:.3f} | "
                f"{100 * st['within_2sd']:.1f} % | {st['mean_sd']:.4f} | "
                f"{st['mean_abs_error']:.4f} |"
            )
    if result.precision:
        p = result.precision
        lines += [
            "",
            "## bf16 autocast against float32 (λ = 0, plain prediction)",
            "",
            "| maps | PSNR fp32 (dB) | PSNR bf16 (dB) | difference (dB) | largest per-map "
            "difference (dB) | time fp32 (s) | time bf16 (s) | speed ratio |",
            "|---|---|---|---|---|---|---|---|",
            f"| {p['maps']} | {p['psnr_fp32_db']:.3f} | {p['psnr_bf16_db']:.3f} | "
            f"{p['psnr_difference_db']:+.4f} | {p['max_abs_difference_per_map_db']:.4f} | "
            f"{p['seconds_fp32']:.1f} | {p['seconds_bf16']:.1f} | {p['speed_ratio']:.2f} |",
        ]
    lines += [
        "",
        f"Machine: {machine['cpu']}, {machine['torch_threads']} torch thread(s), "
        f"load {machine['load_average_1min']}, torch {machine['torch']}.",
        "",
    ]
    md_path = out / "calibration.md"
    md_path.write_text("\n".join(lines))
    return [json_path, md_path]
