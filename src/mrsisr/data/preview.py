"""A picture of one slice of a patient: T1, FLAIR, the quality mask and every map."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mrsisr.data.cohort import Cohort, Patient
from mrsisr.data.nifti import load_volume
from mrsisr.data.phantom import LABELS_FILE
from mrsisr.data.simulate import TUMOUR_LABELS
from mrsisr.metabolites import Metabolite

__all__ = ["preview_slice", "save_preview"]

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
