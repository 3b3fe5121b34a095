"""A picture of one slice of a patient: T1, FLAIR, the quality mask and every map."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mrsisr.data.cohort import Cohort, Patient
from mrsisr.data.nifti import load_volume
from mrsisr.metabolites import Metabolite
from mrsisr.sim.cohort import LABELS_FILE
from mrsisr.sim.mrsi import TUMOUR_LABELS

__all__ = ["preview_slice", "save_patients_preview", "save_preview"]

log = logging.getLogger(__name__)


def preview_slice(patient: Patient, labels: np.ndarray | None = None) -> int:
    """The slice to show: most tumour (by labels, else by glycine), else most mask voxels."""
    if labels is not None and np.isin(labels, TUMOUR_LABELS).any():
        return int(np.argmax(np.isin(labels, TUMOUR_LABELS).sum(axis=(0, 1))))
    if Metabolite.Gly in patient.maps:
        gly = patient.maps[Metabolite.Gly]
        return int(np.argmax(np.percentile(gly, 99.5, axis=(0, 1))))
    return int(np.argmax(patient.mask.sum(axis=(0, 1))))


def save_preview(
    cohort_root: str | Path,
    out: str | Path,
    patient_id: str | None = None,
    slice_index: int | None = None,
) -> Path:
    """Write a PNG of one axial slice: T1, FLAIR and mask beside one panel per metabolite.

    T1 and FLAIR are shown at three times the MRSI grid in-plane (as fine as the phantom
    stores them); each map has its own colour scale, 0 to its 99.5th percentile.

    Args:
        cohort_root: a cohort folder.
        out: the PNG to write.
        patient_id: the patient to show; default the first one.
        slice_index: the slice; default the one through the tumour.

    Returns:
        The PNG path.
    """
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    cohort = Cohort.open(cohort_root)
    pid = patient_id or cohort.patients[0]
    patient = cohort.load(pid, anatomy_upsample=3)
    labels_path = cohort.root / pid / LABELS_FILE
    labels = load_volume(labels_path)[0] if labels_path.is_file() else None
    z = preview_slice(patient, labels) if slice_index is None else int(slice_index)
    if not 0 <= z < patient.shape[2]:
        raise ValueError(f"slice_index must be in [0, {patient.shape[2] - 1}], got {z}")

    panels = [("T1", patient.t1, "gray"), ("FLAIR", patient.flair, "gray")]
    panels.append(("quality mask", patient.mask.astype(np.float32), "gray"))
    panels += [
        (f"{met} ({cohort.manifest.units})", v, "inferno") for met, v in patient.maps.items()
    ]
    columns = 5
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(3.0 * columns, 3.1 * rows))
    axes = fig.subplots(rows, columns)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, (title, volume, cmap) in zip(np.ravel(axes), panels):
        image = volume[:, :, z].T  # first voxel axis left-right, second bottom-top
        top = float(np.percentile(volume[:, :, z], 99.5)) or 1.0
        shown = ax.imshow(image, cmap=cmap, origin="lower", vmin=0.0, vmax=top)
        ax.set_title(title, fontsize=10)
        if cmap != "gray":
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(f"{cohort.root.name}/{pid}, slice {z}: {cohort.manifest.provenance}", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    log.info("wrote %s (patient %s, slice %d)", out, pid, z)
    return out


PATIENTS_METABOLITES = (Metabolite.NAA, Metabolite.tCr, Metabolite.tCho, Metabolite.Glu)
"""The maps :func:`save_patients_preview` shows, those with the highest SNR."""


def save_patients_preview(
    cohort_root: str | Path,
    out: str | Path,
    patient_ids: list[str],
    slice_index: int | None = None,
) -> Path:
    """Write a PNG with one row per patient: T1, the mask and the maps of
    :data:`PATIENTS_METABOLITES`, the whole field of view (values outside the mask too).

    Args:
        cohort_root: a cohort folder.
        out: the PNG to write.
        patient_ids: the patients to show, one row each.
        slice_index: the slice (the same for every patient); default the middle one.

    Returns:
        The PNG path.
    """
    from matplotlib.figure import Figure

    cohort = Cohort.open(cohort_root)
    mets = [m for m in PATIENTS_METABOLITES if m in cohort.manifest.metabolites]
    columns = 2 + len(mets)
    fig = Figure(figsize=(2.2 * columns, 2.2 * len(patient_ids)))
    axes = np.atleast_2d(fig.subplots(len(patient_ids), columns))
    for row, pid in zip(axes, patient_ids):
        patient = cohort.load(pid)
        z = patient.shape[2] // 2 if slice_index is None else int(slice_index)
        if not 0 <= z < patient.shape[2]:
            raise ValueError(f"slice_index must be in [0, {patient.shape[2] - 1}], got {z}")
        panels = [("T1", patient.t1, "gray"), ("mask", patient.mask.astype(np.float32), "gray")]
        panels += [(met.value, patient.maps[met], "inferno") for met in mets]
        for ax, (title, volume, cmap) in zip(row, panels):
            image = volume[:, :, z]
            top = float(np.percentile(image, 99.5)) or 1.0
            ax.imshow(image.T, cmap=cmap, origin="lower", vmin=0.0, vmax=top)
            ax.set_title(f"{pid} {title}" if title == "T1" else title, fontsize=9)
            ax.axis("off")
    fig.suptitle(f"{cohort.root.name}: {cohort.manifest.provenance}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=60)
    log.info("wrote %s (patients %s)", out, ", ".join(patient_ids))
    return out
