"""A simulated cohort folder, made by any simulator, and its digest.

``make_phantom_cohort("cohort/", patients=15, seed=0)`` writes a cohort in the on-disk format
of :mod:`mrsisr.data.cohort` (64 x 64 x 36 maps at 3.4 mm of tCho, tCr, NAA, Gly, Gln, Glu
and Ins in mM, a quality mask, T1 and FLAIR at 3 times the in-plane resolution); by default
with the paper's glioma phantom (:mod:`mrsisr.sim.glioma`: the MNI152 anatomy, a glioma per
patient and a model of the acquisition), or with another :class:`Simulator`. The same seed
gives byte-identical files (:func:`cohort_digest`).

Each patient folder also holds ``phantom_labels.nii.gz`` (uint8, on the MRSI grid), the
dominant compartment of each voxel: values index :data:`mrsisr.sim.mrsi.LABELS`
(0 background, 1 CSF, 2 GM, 3 WM, 4 oedema, 5 enhancing tumour, 6 necrosis). It is not
part of the cohort format; readers ignore it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mrsisr import __version__
from mrsisr.atomic import staged_folder
from mrsisr.data.cohort import check_new_cohort_folder, write_patient
from mrsisr.data.manifest import Manifest, write_manifest
from mrsisr.data.nifti import save_volume
from mrsisr.metabolites import METABOLITES
from mrsisr.sim.glioma import simulate_patient
from mrsisr.sim.mrsi import PhantomGeometry
from mrsisr.sim.presets import PRESETS, Preset
from mrsisr.sim.simulators import Simulator

__all__ = [
    "LABELS_FILE",
    "PARAMS_FILE",
    "PhantomGeometry",
    "Simulator",
    "cohort_digest",
    "make_phantom_cohort",
    "patient_ids",
]

log = logging.getLogger(__name__)

LABELS_FILE = "phantom_labels.nii.gz"
PARAMS_FILE = "phantom_params.json"
FIELD_STRENGTH_T = 7.0


def patient_ids(patients: int, prefix: str = "P", first: int = 1) -> tuple[str, ...]:
    """Ids of a phantom cohort: ``P01``, ``P02``, ... (wider if the last is 100 or more);
    from ``first`` on, e.g. ``R101`` ... ``R140`` for 40 patients from 101."""
    last = first + patients - 1
    width = max(2, len(str(last)))
    return tuple(f"{prefix}{i:0{width}d}" for i in range(first, last + 1))


def _write_one(
    root: Path,
    index: int,
    patient_id: str,
    seed: int,
    geometry: PhantomGeometry,
    simulator: Simulator,
) -> None:
    """Simulate patient ``index`` of the cohort of ``seed`` and write its folder."""
    # The paper's phantom keeps its seeds (byte-identical cohorts); the randomised presets
    # add their own stream so that no two simulators share a patient's draws.
    stream = [seed, index] if simulator is Simulator.paper else [seed, index, simulator.code]
    rng = np.random.default_rng(stream)
    record = None
    if simulator is Simulator.paper:
        simulated = simulate_patient(patient_id, rng, geometry)
    else:
        from mrsisr.sim.randomised import simulate_randomised_patient

        shifted = simulator in (Simulator.shifted, Simulator.real_like)
        preset = Preset.shifted if shifted else Preset.training
        if simulator is Simulator.realistic:
            preset = Preset.realistic
        settings = PRESETS[preset]
        # The realistic effects draw from a stream of their own: the fourth seed word.
        extra = None if settings.realism is None else np.random.default_rng([*stream, 1])
        simulated, record = simulate_randomised_patient(
            patient_id, rng, geometry, settings, realism_rng=extra
        )
        if simulator is Simulator.real_like:
            from mrsisr.sim.real_like import make_real_like

            patient, effects = make_real_like(simulated.patient, rng)
            simulated = simulated._replace(patient=patient)
            record = {**record, "real_like": effects}
    folder = write_patient(root, simulated.patient)
    save_volume(folder / LABELS_FILE, simulated.labels, simulated.patient.affine, dtype=np.uint8)
    if record is not None:
        text = json.dumps({"patient": patient_id, "seed": stream, **record}, indent=1)
        (folder / PARAMS_FILE).write_text(text + "\n", encoding="utf-8")
    log.info("  %s: %d voxels in the quality mask", patient_id, int(simulated.patient.mask.sum()))


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make_phantom_cohort(
    out: str | Path,
    patients: int = 15,
    seed: int = 0,
    grid: int = 64,
    slices: int | None = None,
    *,
    fine: int = 3,
    workers: int = 1,
    overwrite: bool = False,
    simulator: Simulator | str = Simulator.paper,
    first: int = 1,
) -> Path:
    """Write an in-silico glioma cohort to ``out`` and return its path.

    The cohort is written to a temporary folder next to ``out`` and moved into place at the
    end, so an interrupted run leaves no partial cohort behind.

    Args:
        out: the cohort folder to create; it must not exist or be empty, unless
            ``overwrite`` and it holds a cohort.
        patients: number of patients.
        seed: random seed; patient ``i`` uses ``numpy.random.default_rng([seed, i])``, so a
            patient does not depend on how many others there are or on ``workers``.
        grid: in-plane MRSI matrix ``N`` over a 217.6 mm field of view (64: 3.4 mm voxels;
            32 makes tiny cohorts for tests).
        slices: number of 3.4 mm axial slices, centred on the lateral ventricles; default 36,
            which covers the brain.
        fine: in-plane multiple of the grid on which truth, T1 and FLAIR are built.
        workers: processes simulating patients in parallel.
        overwrite: replace an existing cohort at ``out``.
        first: number of the first patient: the cohort holds patients ``first`` to
            ``first + patients - 1`` of the cohort of ``seed`` (the same draws, ids and
            stream indices), so two cohorts of one simulator and seed, e.g. on two grids,
            hold different patients and can be merged.
        simulator: ``paper`` (the reproduction's phantom), ``randomised`` (training data),
            ``shifted`` (a test set with settings training never used), ``final`` (the
            final test set: the training preset, its own stream), ``real-like`` (a test
            set) or ``realistic`` (training data with maps like real ones); see
            :class:`Simulator`. Patient ids start with P, R, S, F, L or W.

    Raises:
        UserError: if ``out`` exists and may not be replaced.
    """
    patients = _positive_int(patients, "patients")
    try:
        simulator = Simulator(simulator)
    except ValueError:
        valid = ", ".join(s.value for s in Simulator)
        raise ValueError(f"simulator must be one of {valid}, got {simulator!r}") from None
    workers = _positive_int(workers, "workers")
    first = _positive_int(first, "first")
    geometry = PhantomGeometry(grid=grid, slices=36 if slices is None else slices, fine=fine)
    out = Path(out)
    check_new_cohort_folder(out, overwrite)
    ids = patient_ids(patients, simulator.prefix, first)
    with staged_folder(out, replace=overwrite) as staging:
        log.info("simulating %d patients on a %s grid in %s", patients, geometry.shape, out)
        jobs = [
            (staging, first - 1 + i, pid, seed, geometry, simulator) for i, pid in enumerate(ids)
        ]
        if workers > 1 and patients > 1:
            with ProcessPoolExecutor(min(workers, patients, os.cpu_count() or 1)) as pool:
                for future in [pool.submit(_write_one, *job) for job in jobs]:
                    future.result()
        else:
            for job in jobs:
                _write_one(*job)
        which = "" if simulator is Simulator.paper else f"simulator {simulator}, "
        write_manifest(
            staging,
            Manifest(
                patients=ids,
                metabolites=METABOLITES,
                units="mM",
                field_strength_t=FIELD_STRENGTH_T,
                provenance=f"in-silico phantom (mrsisr {__version__}, {which}seed {seed})",
            ),
        )
    return out


def cohort_digest(root: str | Path) -> str:
    """SHA-256 of a cohort's content: every file's path and bytes, NIfTI files decompressed
    (a ``.gz`` header holds a time stamp), in sorted order.

    Two generations of the same cohort on the same software give the same digest, so a
    recipe (command and seed) plus its digest stands in for the data in the repository.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()
