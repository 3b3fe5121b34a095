"""One self-contained HTML page of super-resolved maps: slice scroller, λ slider, SD, T1 overlay.

The page needs no network and no library: its data are embedded as base64 in one JSON block
and drawn by a short vanilla-JavaScript viewer on a canvas (``template.html`` next to this
module). Every map is quantised to 8 bits with a per-metabolite linear scale, shared by the
input and every λ so their colours compare (the SD has its own scale; the range is set by
:data:`CLIP_PERCENTILES`): 7 metabolites × 4 λ × 40 slices of 64 × 64 with SD take about
14 MB.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["MapSeries", "ReportData", "Scale", "quantise", "render_html"]

LEVELS = 256
CLIP_PERCENTILES = (0.05, 99.95)
"""The colour bar spans these percentiles of the values inside the mask (all λ and the input
together; the SD from 0): a handful of extreme voxels would otherwise squeeze every other
value into a few levels. Values beyond are shown at the ends of the bar, and the readout
says so."""


@dataclass(frozen=True)
class MapSeries:
    """One metabolite of a report: the super-resolved map at each λ, its input and its SD.

    Args:
        name: metabolite name shown.
        lams: the λ values, in slider order.
        n: acquisition size ``(n_y, n_x)``.
        sr: ``(L, X, Y, S)`` super-resolved maps.
        zero_filled: ``(X, Y, S)`` the zero-filled input on the same grid.
        sd: ``(L, X, Y, S)`` SD maps, or ``None``.
        sd_method: how the SD was computed (``"tta"``, ``"fit"``), ``""`` without SD.
        files: the files the maps came from (shown in the page).
    """

    name: str
    lams: tuple[float, ...]
    n: tuple[int, int]
    sr: np.ndarray
    zero_filled: np.ndarray
    sd: np.ndarray | None = None
    sd_method: str = ""
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sr.ndim != 4 or self.sr.shape[0] != len(self.lams):
            raise ValueError(
                f"{self.name}: sr must be (L={len(self.lams)}, X, Y, S), got {self.sr.shape}"
            )
        if self.zero_filled.shape != self.sr.shape[1:]:
            raise ValueError(f"{self.name}: zero_filled must be {self.sr.shape[1:]}")
        if self.sd is not None and self.sd.shape != self.sr.shape:
            raise ValueError(f"{self.name}: sd must have the shape of sr {self.sr.shape}")


@dataclass(frozen=True)
class ReportData:
    """Everything one report shows; every volume ``(X, Y, S)`` is on the maps' grid.

    Args:
        maps: one :class:`MapSeries` per metabolite.
        t1: T1-weighted image on the maps' grid (any scale), or ``None``.
        mask: the mask used by the prediction, or ``None``.
        units: the maps' units (e.g. ``"mM"``), shown on the colour bar.
        provenance: ``(field, value)`` rows of the provenance table.
        title: page title.
        voxel_mm: the in-plane voxel size along voxel axes 0 and 1 (mm): the page draws
            voxels at this aspect ratio.
        axes: the anatomical direction each of voxel axes 0 and 1 points to (``"R"``,
            ``"A"``, … as nibabel's ``aff2axcodes``), labelled on the page.
    """

    maps: tuple[MapSeries, ...]
    t1: np.ndarray | None = None
    mask: np.ndarray | None = None
    units: str = "map units"
    provenance: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    title: str = "mrsisr report"
    voxel_mm: tuple[float, float] = (1.0, 1.0)
    axes: tuple[str, str] = ("?", "?")


@dataclass(frozen=True)
class Scale:
    """``value = offset + level * step`` for 8-bit levels ``0 ... 255``."""

    offset: float
    step: float

    @classmethod
    def spanning(cls, lo: float, hi: float) -> Scale:
        """The scale whose levels 0 and 255 are ``lo`` and ``hi`` (a tiny span if equal)."""
        span = hi - lo if hi > lo else max(abs(lo), 1.0) * 1e-6
        return cls(float(lo), float(span / (LEVELS - 1)))


def quantise(values: np.ndarray, scale: Scale) -> np.ndarray:
    """8-bit levels of ``values``; values outside the scale are clipped to 0 or 255."""
    levels = np.rint((np.asarray(values, np.float64) - scale.offset) / scale.step)
    return np.clip(levels, 0, LEVELS - 1).astype(np.uint8)


def _b64(levels: np.ndarray | None) -> str | None:
    return (
        None
        if levels is None
        else base64.b64encode(np.ascontiguousarray(levels).tobytes()).decode()
    )


def _slices_first(volume: np.ndarray) -> np.ndarray:
    """``(..., X, Y, S)`` -> ``(..., S, X, Y)``: one slice is contiguous in the page."""
    return np.moveaxis(volume, -1, -3)


def _lut(name: str) -> list[int]:
    from matplotlib import colormaps

    rgb = colormaps[name](np.linspace(0, 1, LEVELS))[:, :3]
    return [int(v) for v in np.rint(rgb * 255).astype(int).ravel()]


def _series_json(m: MapSeries, inside: np.ndarray) -> dict[str, Any]:
    both = np.concatenate([m.sr[:, inside].ravel(), m.zero_filled[inside].ravel()])
    scale = Scale.spanning(*(float(v) for v in np.percentile(both, CLIP_PERCENTILES)))
    entry: dict[str, Any] = {
        "name": m.name,
        "lams": [float(v) for v in m.lams],
        "n": [int(v) for v in m.n],
        "files": list(m.files),
        "sd_method": m.sd_method,
        "scale": scale.__dict__,
        "sr": _b64(quantise(_slices_first(m.sr), scale)),
        "input": _b64(quantise(_slices_first(m.zero_filled), scale)),
        "sd": None,
        "sd_scale": None,
    }
    if m.sd is not None:
        sd_scale = Scale.spanning(0.0, float(np.percentile(m.sd[:, inside], CLIP_PERCENTILES[1])))
        entry["sd"] = _b64(quantise(_slices_first(m.sd), sd_scale))
        entry["sd_scale"] = sd_scale.__dict__
    return entry


def _anatomy_levels(t1: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """T1 as 8-bit grey, 0 to its 99.5th percentile inside the mask."""
    top = float(np.percentile(t1[inside], 99.5)) if inside.any() else float(t1.max())
    return quantise(_slices_first(t1), Scale.spanning(0.0, top if top > 0 else 1.0))


def report_payload(data: ReportData) -> dict[str, Any]:
    """The JSON block the page reads (quantised, base64): useful to check a page's contents."""
    if not data.maps:
        raise ValueError("a report needs at least one map")
    shape = data.maps[0].zero_filled.shape
    for m in data.maps:
        if m.zero_filled.shape != shape:
            raise ValueError(f"{m.name}: grid {m.zero_filled.shape} differs from {shape}")
    for name, volume in (("t1", data.t1), ("mask", data.mask)):
        if volume is not None and volume.shape != shape:
            raise ValueError(f"{name}: grid {volume.shape} differs from the maps' {shape}")
    inside = np.ones(shape, bool) if data.mask is None else np.asarray(data.mask) != 0
    if not inside.any():
        inside = np.ones(shape, bool)
    mask = None if data.mask is None else _slices_first(inside.astype(np.uint8))
    return {
        "shape": [int(s) for s in shape],
        "voxel_mm": [float(v) for v in data.voxel_mm],
        "axes": [str(a) for a in data.axes],
        "units": data.units,
        "start_slice": int(np.argmax(inside.sum(axis=(0, 1)))),
        "luts": {"map": _lut("viridis"), "sd": _lut("magma")},
        "t1": None if data.t1 is None else _b64(_anatomy_levels(np.asarray(data.t1), inside)),
        "mask": _b64(mask),
        "maps": [_series_json(m, inside) for m in data.maps],
    }


def render_html(data: ReportData) -> str:
    """The whole page as one string (UTF-8 when written)."""
    template = resources.files("mrsisr.report").joinpath("template.html").read_text("utf-8")
    payload = json.dumps(report_payload(data), separators=(",", ":"))
    # "<" only occurs inside JSON strings: as \u003c no text (units, names) can close the
    # script element or open a comment ("<!--<script>" would swallow the page's script)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in data.provenance
    )
    parts = {"TITLE": html.escape(data.title), "PROVENANCE": rows, "DATA": payload}
    return re.sub(r"__(TITLE|PROVENANCE|DATA)__", lambda m: parts[m.group(1)], template)
