"""Read a folder written by ``mrsisr predict`` into a :class:`~mrsisr.report.html.ReportData`.

The files are recognised by the description ``mrsisr predict`` writes into each NIfTI header
(:func:`describe_map`), not by their names: ``mrsisr SR <Met> n=<n_y>x<n_x> lambda=<λ,…>``
for a super-resolved map (3-D, or 4-D with one λ per volume), ``mrsisr SD <method> <Met> …``
for its SD map and ``mrsisr mask …`` for the mask used. The zero-filled input is recomputed
from the map itself: the output is data-consistent, so ``zero_fill(degrade(output, n))`` is
the zero-filled measurement exactly. A provenance sidecar ``<name>.json`` beside a map
(:mod:`mrsisr.provenance`), when present, fills the provenance table (tool version, model
and its hash, inputs, ``n``, ``N``, λ, mask source, …) and names the T1 used. Only the
sidecar of the first map is shown: the maps of one folder share model and anatomy.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr import __version__, kspace
from mrsisr.errors import UserError, argument
from mrsisr.report.html import MapSeries, ReportData
from mrsisr.untrusted import read_json

__all__ = ["describe_map", "describe_sd", "read_predict_folder"]

log = logging.getLogger(__name__)

_DESCRIPTION = re.compile(
    r"^mrsisr (?P<kind>SR|SD)(?: (?P<method>[a-z]+))? (?P<met>\S+) "
    r"n=(?P<ny>\d+)x(?P<nx>\d+) lambda=(?P<lams>[0-9.eE+\-, ]+)$"
)
_LAM_IN_NAME = re.compile(r"_lam(?P<lam>[0-9.eE+\-]+?)(?:_sd)?\.nii(?:\.gz)?$")
MASK_DESCRIPTION = "mrsisr mask used for super-resolution"
_LISTED = 5
"""Sub-folders a message names at most (the rest are counted)."""


def _lams_text(lams: Sequence[float]) -> str:
    return ", ".join(f"{v:g}" for v in lams)


def describe_map(metabolite: str, n: Sequence[int], lams: Sequence[float]) -> str:
    """The header description of a super-resolved map (what this module reads back)."""
    return f"mrsisr SR {metabolite} n={n[0]}x{n[1]} lambda={_lams_text(lams)}"


def describe_sd(method: str, metabolite: str, n: Sequence[int], lams: Sequence[float]) -> str:
    """The header description of an SD map."""
    return f"mrsisr SD {method} {metabolite} n={n[0]}x{n[1]} lambda={_lams_text(lams)}"


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.endswith((".nii", ".nii.gz"))
    )


def _description(path: Path) -> str:
    import nibabel as nib

    try:
        header = nib.load(str(path)).header
    except Exception:  # not NIfTI after all: not ours
        return ""
    if not isinstance(header, nib.Nifti1Header):  # NIfTI-2 headers are NIfTI-1 ones
        return ""
    raw = header.get("descrip")
    value = raw.item() if hasattr(raw, "item") else raw
    return value.decode("latin-1", "replace").strip() if isinstance(value, bytes) else str(value)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from mrsisr.data.nifti import load_volume

    try:
        data, affine = load_volume(path)
    except UserError:
        raise
    except Exception as err:  # nibabel raises several types for unreadable files
        raise UserError(f"{path}: not a readable NIfTI file ({type(err).__name__})") from None
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise UserError(f"{path}: {bad} NaN or infinite values; a report needs finite maps")
    return data, affine


def _sidecar(path: Path) -> dict[str, Any]:
    """The provenance sidecar ``<stem>.json`` of a map, ``{}`` if none or unreadable."""
    side = path.with_name(re.sub(r"\.nii(\.gz)?$", "", path.name) + ".json")
    if not side.is_file():
        return {}
    try:
        record = read_json(side, "a provenance sidecar of mrsisr predict")
    except UserError as err:
        log.warning("ignored: %s", err)
        return {}
    return record if isinstance(record, dict) else {}


class _Entry:
    def __init__(self, path: Path, match: re.Match[str]) -> None:
        self.path = path
        self.kind = match["kind"]
        self.method = match["method"] or ""
        self.met = match["met"]
        self.n = (int(match["ny"]), int(match["nx"]))
        lams = tuple(float(v) for v in match["lams"].replace(" ", "").split(",") if v)
        in_name = _LAM_IN_NAME.search(path.name)
        self.lams = (float(in_name["lam"]),) if in_name and len(lams) == 1 else lams


def _volumes(entry: _Entry) -> tuple[list[np.ndarray], np.ndarray]:
    data, affine = _load(entry.path)
    if data.ndim == 3:
        return [data], affine
    if data.ndim == 4 and data.shape[3] == len(entry.lams):
        return [data[..., i] for i in range(data.shape[3])], affine
    raise UserError(f"{entry.path}: shape {data.shape} does not match its {len(entry.lams)} λ")


def _scan(folder: Path) -> tuple[list[_Entry], list[Path]]:
    entries, masks = [], []
    for path in _nifti_files(folder):
        text = _description(path)
        match = _DESCRIPTION.match(text)
        if match:
            entries.append(_Entry(path, match))
        elif text.startswith("mrsisr mask"):
            masks.append(path)
    return entries, masks


def read_predict_folder(
    folder: Path,
    t1: Path | None = None,
    units: str | None = None,
    provenance: Sequence[tuple[str, str]] = (),
) -> ReportData:
    """Everything a report of one ``mrsisr predict`` output folder shows.

    Args:
        folder: the folder (one patient's outputs).
        t1: a T1-weighted image to show the maps over (any grid covering them); default:
            the T1 named in a provenance sidecar, else none.
        units: the maps' units for the colour bar; default: from a sidecar, else "map units".
        provenance: rows for the provenance table when the maps have no sidecar (e.g.
            what ``mrsisr predict`` knows when it writes the report: model, its hash,
            inputs).

    Raises:
        UserError: not a folder, no super-resolved map in it, inconsistent grids.
    """

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; give the output folder of mrsisr predict")
    entries, masks = _scan(folder)
    maps_found = [e for e in entries if e.kind == "SR"]
    if not maps_found:
        inner = [p.name for p in sorted(folder.iterdir()) if p.is_dir() and _scan(p)[0]]
        more = f" and {len(inner) - _LISTED} more" if len(inner) > _LISTED else ""
        hint = f"; per-patient folders with maps: {', '.join(inner[:_LISTED])}{more}"
        hint = hint if inner else ""
        raise UserError(f"{folder}: no map written by mrsisr predict in this folder{hint}")
    by_met: dict[str, list[tuple[float, np.ndarray, Path]]] = {}
    sds: dict[tuple[str, float], tuple[np.ndarray, str]] = {}
    meta: dict[str, tuple[int, int]] = {}
    grid: tuple[tuple[int, ...], np.ndarray, Path] | None = None
    for entry in entries:
        volumes, aff = _volumes(entry)
        if grid is None:
            grid = (volumes[0].shape, aff, entry.path)
        shape, affine, reference = grid
        if volumes[0].shape != shape or not np.allclose(aff, affine, atol=1e-3):
            raise UserError(f"{entry.path}: on another grid than {reference.name}")
        for lam, vol in zip(entry.lams, volumes):
            if entry.kind == "SR":
                by_met.setdefault(entry.met, []).append((lam, vol, entry.path))
                meta[entry.met] = entry.n
            else:
                sds[entry.met, lam] = (vol, entry.method)
    series = []
    for met, items in by_met.items():
        items.sort(key=lambda item: item[0])
        lams = tuple(lam for lam, _, _ in items)
        sr = np.stack([vol for _, vol, _ in items])
        n = meta[met]
        measured = kspace.degrade(np.moveaxis(sr[0].astype(np.float64), 2, 0), n)
        zero_filled = np.moveaxis(kspace.zero_fill(measured, sr.shape[1:3]), 0, 2)
        have = [sds[met, lam] for lam in lams if (met, lam) in sds]
        sd = np.stack([vol for vol, _ in have]) if len(have) == len(lams) else None
        if have and sd is None:
            log.warning("%s: SD maps for only some λ; the report shows none", met)
        series.append(
            MapSeries(
                name=met,
                lams=lams,
                n=n,
                sr=sr,
                zero_filled=zero_filled.astype(np.float32),
                sd=sd,
                sd_method=have[0][1] if sd is not None else "",
                files=tuple(dict.fromkeys(p.name for _, _, p in items)),
            )
        )
    mask = None
    for path in masks:
        data, aff = _load(path)
        if data.shape == shape and np.allclose(aff, affine, atol=1e-3):
            mask = data != 0
            break
    side = next((s for s in (_sidecar(e.path) for e in maps_found) if s), {})
    t1_path = t1 or _sidecar_input(side, "t1")
    if t1 is None and t1_path and not Path(t1_path).is_file():  # moved since the prediction
        log.warning(
            "%s: the T1 its sidecar names is not there (moved?); the report shows no T1 (give %s)",
            t1_path,
            argument("t1"),
        )
        t1_path = None
    anatomy = _t1_on_grid(Path(t1_path), shape, affine) if t1_path else None
    rows = _provenance_rows(side, __version__, provenance)
    for met, items in by_met.items():
        check = _object(_sidecar(items[0][2]), "self_check")
        if check:
            rows.append((f"self-check: {met}", _self_check_text(check)))
    rows += [("folder", str(folder)), ("grid N", f"{shape[0]} x {shape[1]}, {shape[2]} slices")]
    rows += [("T1 shown", str(t1_path) if t1_path else f"none (give {argument('t1')})")]
    if mask is None:
        rows.append(("mask", "no mask file found: every voxel shown"))
    return ReportData(
        maps=tuple(series),
        t1=anatomy,
        mask=mask,
        units=units or _units(side.get("units")),
        provenance=tuple(rows),
        title=f"mrsisr: {folder.resolve().name}",
        **_in_plane_geometry(affine),
    )


def _in_plane_geometry(affine: np.ndarray) -> dict[str, Any]:
    """The voxel size (mm) along voxel axes 0 and 1 and the direction each points to."""
    from nibabel.orientations import aff2axcodes

    from mrsisr.data.nifti import in_plane_voxel_mm

    try:
        sizes = in_plane_voxel_mm(affine)
    except ValueError:  # a degenerate affine: drawn square
        sizes = (1.0, 1.0)
    codes = aff2axcodes(affine)
    return {
        "voxel_mm": (float(sizes[0]), float(sizes[1])),
        "axes": (str(codes[0] or "?"), str(codes[1] or "?")),
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _units(value: Any) -> str:
    if not isinstance(value, str) or not value or value == "as the input":
        return "map units"
    return value


def _object(record: dict[str, Any], key: str) -> dict[str, Any]:
    """``record[key]`` if it is a JSON object, else ``{}``."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _provenance_rows(
    side: dict[str, Any], version: str, given: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """Rows of the provenance table from a sidecar (:mod:`mrsisr.provenance`), if any."""
    tool = _object(side, "tool")
    rows = [("tool", f"mrsisr {tool.get('version', version)}")]
    if not side:
        none = [("sidecar", "none found: only what the NIfTI headers say")]
        return [*rows, *(given or none)]
    model = _object(side, "model")
    if model:
        rows.append(("model", f"{model.get('path', '?')} (sha256 {model.get('sha256', '?')})"))
    for item in side.get("inputs") or []:
        if isinstance(item, dict):
            rows.append((f"input: {item.get('role', '?')}", f"{item.get('path', '?')}"))
    for key in ("n", "N", "sharpness", "metabolite", "units", "mask_source", "pipeline"):
        if side.get(key) not in (None, "", []):
            rows.append((key, _text(side[key])))
    for key in ("notes", "acquisition", "registration", "coverage"):
        if side.get(key):
            rows.append((key, _text(side[key])))
    if side.get("command_line"):
        rows.append(("command line", " ".join(map(str, side["command_line"]))))
    return rows


def _self_check_text(check: dict[str, Any]) -> str:
    """One line from a sidecar's ``self_check`` record (:class:`mrsisr.selfcheck.SelfCheck`)."""

    def size(value: Any) -> str:
        return "x".join(map(str, value)) if isinstance(value, list) else "?"

    def db(value: Any) -> str:
        return f"{value:+.2f} dB" if isinstance(value, (int, float)) else "n/a"

    if check.get("n_check") is None:
        return f"not possible ({_text(check.get('note', ''))}): output is zero-filling"
    weights = check.get("weights") or []
    used = any(isinstance(w, (int, float)) and w > 0 for w in weights)
    fitted = " ".join(f"{w:.2f}" for w in check.get("fitted") or [] if isinstance(w, float))
    text = (
        f"{size(check.get('n_check'))} -> {size(check.get('n'))}: network "
        f"{db(check.get('gain_raw_db'))}, calibrated {db(check.get('gain_db'))} over "
        f"zero-filling; detail weights {fitted or '?'} "
        + ("(used)" if used else f"(below {check.get('min_gain_db')} dB: output is zero-filling)")
    )
    note = check.get("note")
    return f"{text}; {note}" if isinstance(note, str) and note else text


def _sidecar_input(record: dict[str, Any], role: str) -> str | None:
    for item in record.get("inputs") or []:
        if (
            isinstance(item, dict)
            and item.get("role") == role
            and isinstance(item.get("path"), str)
        ):
            return item["path"]
    return None


def _t1_on_grid(path: Path, shape: Sequence[int], affine: np.ndarray) -> np.ndarray:
    from mrsisr.data.resample import resample_to_grid

    if not path.is_file():
        raise UserError(f"{path}: T1 not found ({argument('t1')})")
    data, aff = _load(path)
    if data.ndim != 3:
        raise UserError(f"{path}: {data.ndim}-D image; expected a 3-D T1-weighted image")
    return resample_to_grid(data, aff, tuple(shape), affine, order=1).astype(np.float32)
