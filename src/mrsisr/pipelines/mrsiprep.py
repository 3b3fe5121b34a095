"""MRSIPrep's BIDS derivatives (the reader ``mrsiprep``).

The layout, as ``mrsiprep/io/bids.py`` and ``mrsiprep/io/loaders.py`` write and read it
(MRSI-Psychosis-UP/MRSIPrep)::

    DIR/derivatives/mrsi-orig/sub-X[/ses-Y]/
        sub-X[_ses-Y]_space-orig_met-<Label>_desc-signal_mrsi.nii.gz   the map
        sub-X[_ses-Y]_space-orig_met-<Label>_desc-crlb_mrsi.nii.gz     CRLB in percent
        sub-X[_ses-Y]_space-orig_desc-snr_mrsi.nii.gz                  spectrum SNR
        sub-X[_ses-Y]_space-orig_desc-fwhm_mrsi.nii.gz                 FWHM (or desc-linewidth)
        sub-X[_ses-Y]_space-orig_desc-brainmask_mrsi.nii.gz            brain mask

  Labels run together (``NAANAAG``, ``GPCPCh``, ``CrPCr``); MRSIPrep's own fallback layout
  ``derivatives/mrsiprep/sub-X/ses-Y/mrsi/orig/`` is found too (the folder is searched).
"""

from __future__ import annotations

import re
from pathlib import Path

from mrsisr.errors import UserError, argument
from mrsisr.metabolites import normalise_name
from mrsisr.pipelines._common import (
    QC,
    Candidate,
    MapRecord,
    PipelineMaps,
    PipelineReader,
    QualityThresholds,
    choose,
    load_values,
    spectrum_checks,
    unusable,
)

__all__ = ["FILTERED_NOTE", "READER", "read"]

_BIDS_MRSI = re.compile(
    r"^(?P<prefix>sub-(?P<sub>[A-Za-z0-9]+)(?:_ses-(?P<ses>[A-Za-z0-9]+))?)"
    r"_space-(?P<space>[A-Za-z0-9]+)"
    r"(?:_res-[^_]+)?(?:_met-(?P<met>[A-Za-z0-9+]+))?_desc-(?P<desc>[A-Za-z0-9]+)"
    r"(?:_(?P<variant>[^_]+))?_mrsi\.nii(?:\.gz)?$"
)
_MRSIPREP_QC = {"crlb", "snr", "fwhm", "linewidth", "brainmask"}
FILTERED_NOTE = (
    "a spatially filtered map is not a k-space truncation of the measurement: data "
    "consistency keeps the filter's low frequencies, and the model was trained on measured maps"
)
"""Why the reader ``mrsiprep`` reads the measured ``desc-signal`` maps by default."""


def _bids_root(folder: Path) -> Path | None:
    """The BIDS dataset a folder belongs to: itself if it holds ``derivatives/``, else the
    folder above the nearest ``derivatives`` folder on its path."""
    if (folder / "derivatives").is_dir():
        return folder
    resolved = folder.resolve()
    for parent in (resolved, *resolved.parents):
        if parent.name == "derivatives":
            return parent.parent
    return None


def _bids_anatomy(
    root: Path | None, sub: str, ses: str, suffix: str, skipped: list[tuple[Path, str]]
) -> Path | None:
    """The one raw ``sub-X[/ses-Y]/anat/*_<suffix>.nii[.gz]`` of a subject, or None."""
    if root is None:
        return None
    anat = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "anat"
    if not anat.is_dir():
        return None
    found = sorted(
        p
        for p in anat.iterdir()
        if re.search(rf"_{suffix}\.nii(\.gz)?$", p.name) and "_desc-" not in p.name
    )
    if len(found) > 1:
        option = argument({"T1w": "t1", "FLAIR": "flair"}[suffix])
        skipped += [(p, f"one of several {suffix} images; give {option}") for p in found]
        return None
    return found[0] if found else None


def read(folder: Path, th: QualityThresholds, variant: str | None = None) -> PipelineMaps:
    """Every ``desc-signal`` map (``variant``: the ``desc-signal_<variant>`` ones instead) of
    the space-orig MRSI derivatives below ``folder``, with each subject's BIDS anatomy."""
    if variant is not None and not re.fullmatch(r"[A-Za-z0-9]+", variant):
        raise UserError(
            f"{argument('variant')} {variant!r}: give the letters and digits after desc-signal_"
        )
    skipped: list[tuple[Path, str]] = []
    per_subject: dict[str, dict[str, dict[str, Path]]] = {}  # sub-X_ses-Y -> desc -> met -> file
    labels: dict[str, tuple[str, str]] = {}  # sub-X_ses-Y -> (X, Y)
    for path in sorted(folder.rglob("*_mrsi.nii*")):
        m = _BIDS_MRSI.match(path.name)
        if m is None:
            skipped.append((path, "not a BIDS MRSI derivative name (sub-X_space-Y_…_mrsi)"))
            continue
        if m["space"] != "orig":
            skipped.append((path, f"space-{m['space']}: not the acquisition grid (space-orig)"))
            continue
        why = unusable(path)
        if why:
            skipped.append((path, why))
            continue
        labels[m["prefix"]] = (m["sub"], m["ses"] or "")
        desc = f"{m['desc']}_{m['variant']}" if m["variant"] else m["desc"]
        entries = per_subject.setdefault(m["prefix"], {}).setdefault(desc, {})
        key = m["met"] or ""
        if key in entries:
            skipped.append((path, f"another file gives the same map: {entries[key].name}"))
            continue
        entries[key] = path
    signal = f"signal_{variant}" if variant else "signal"
    candidates = []
    for subject, descs in per_subject.items():
        for desc, mets in descs.items():
            if desc == signal or desc in _MRSIPREP_QC:
                continue
            if desc.startswith("signal_"):
                name = desc.removeprefix("signal_")
                why = f"desc-{desc}: {FILTERED_NOTE}; {argument('variant')} {name} reads it"
            elif desc == "signal":
                why = (
                    f"desc-signal: the measured map, not read with {argument('variant')} {variant}"
                )
            else:
                why = f"desc-{desc}: not read"
            skipped += [(p, why) for p in mets.values()]
        for met, path in descs.get(signal, {}).items():
            if not met or met.lower() == "water":
                skipped.append((path, "water reference or no met- label: not a metabolite map"))
                continue
            try:
                candidates.append(Candidate(path, normalise_name(met), subject))
            except ValueError:
                skipped.append((path, f"met-{met} is not a metabolite the model knows"))
    root = _bids_root(folder)
    anatomy = {
        prefix: tuple(
            _bids_anatomy(root, *labels[prefix], kind, skipped) for kind in ("T1w", "FLAIR")
        )
        for prefix in {c.subject for c in candidates}
    }
    records = []
    for c in choose(candidates, skipped):
        descs = per_subject[c.subject]
        sub, ses = labels[c.subject]
        values = load_values(c.path)
        crlb = descs.get("crlb", {}).get(c.match.label)
        fwhm = descs.get("fwhm", {}).get("") or descs.get("linewidth", {}).get("")
        qc = QC(values.shape, skipped)
        quality, source = spectrum_checks(qc, descs.get("snr", {}).get(""), fwhm, crlb, th)
        records.append(
            MapRecord(
                path=c.path,
                metabolite=c.match.metabolite,
                label=c.match.label,
                units="arbitrary units",
                sd=crlb,
                sd_percent=True,
                quality=quality,
                quality_source=source,
                brain_mask=descs.get("brainmask", {}).get(""),
                subject=sub,
                session=ses,
                t1=anatomy[c.subject][0],
                flair=anatomy[c.subject][1],
                notes=(*c.match.notes, *((f"desc-{signal}: {FILTERED_NOTE}",) if variant else ())),
            )
        )
    return PipelineMaps(tuple(records), tuple(skipped))


READER = PipelineReader(
    name="mrsiprep",
    read=read,
    options={"variant": "its desc-signal_<NAME> maps"},
)
