"""Figure panels of super-resolved maps, like Fig. 3 of Dong et al. (MICCAI 2022).

A panel is a grid of image tiles: one row per case (a metabolite at one acquisition size), one
column per method, with the scores of each map printed under it. :func:`sharpness_row` builds
the row of the paper's Fig. 3 (zero-filling, the network at several λ, ground truth, FLAIR);
:func:`plot_panel` draws any rows. Matplotlib is imported only when a panel is drawn, and no
GUI backend is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "FIG3_METABOLITES",
    "MAP_CMAP",
    "PanelRow",
    "Tile",
    "masked_scores",
    "plot_panel",
    "sharpness_row",
]

FIG3_METABOLITES: tuple[str, ...] = ("tCho", "Gln", "Ins")
"""The metabolites of the paper's Fig. 3 (the demo's figure and its reproduction)."""

MAP_CMAP = "inferno"
"""Colour map of metabolite maps (perceptually uniform)."""


@dataclass(frozen=True)
class Tile:
    """One image of a panel.

    Args:
        image: ``(X, Y)`` slice in voxel order (axis 0 is drawn left to right, axis 1 upwards).
        caption: text under the image (e.g. ``"31.2 dB / 0.951"``).
        cmap: matplotlib colour map.
        vmin: lower end of the colour scale (``None``: the image's minimum).
        vmax: upper end of the colour scale (``None``: the image's maximum).
    """

    image: np.ndarray
    caption: str = ""
    cmap: str = MAP_CMAP
    vmin: float | None = None
    vmax: float | None = None


@dataclass(frozen=True)
class PanelRow:
    """A row of tiles with a label on its left (e.g. ``"tCho, n = 16"``)."""

    label: str
    tiles: tuple[Tile, ...]


def masked_scores(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one 2-D map inside a mask, data range = target max − min there.

    Args:
        pred: ``(H, W)`` estimate.
        target: ``(H, W)`` ground truth.
        mask: ``(H, W)`` bool or {0, 1}; must contain at least one voxel.

    Returns:
        ``(psnr, ssim)`` computed by :mod:`mrsisr.metrics` (SSIM averaged over the mask).
    """
    import torch

    from mrsisr.metrics import masked_data_range, psnr, ssim

    inside = np.asarray(mask) != 0
    if not inside.any():
        raise ValueError("mask is empty; the scores are defined inside the mask only")

    def as_batch(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))[None, None]

    data_range = masked_data_range(as_batch(target), as_batch(inside))
    if not bool(data_range > 0):  # a constant map: undefined, as in the evaluation tables
        return float("nan"), float("nan")

    p, t, m = as_batch(pred), as_batch(target), as_batch(inside)
    win = min(11, *(s - 1 + s % 2 for s in inside.shape))
    return (
        float(psnr(p, t, data_range, mask=m)[0]),
        float(ssim(p, t, data_range, mask=m, win_size=win)[0]),
    )


def sharpness_row(
    label: str,
    zero_filled: np.ndarray,
    outputs: Sequence[np.ndarray],
    target: np.ndarray,
    flair: np.ndarray,
    mask: np.ndarray,
) -> PanelRow:
    """The Fig. 3 row of one case: zero-filling, the outputs, ground truth and FLAIR.

    Every map is shown inside the mask (zero outside), on the colour scale of the ground
    truth inside the mask; under each map its PSNR / SSIM against the ground truth
    (:func:`masked_scores`).

    Args:
        label: row label, e.g. ``"Ins, n = 16"``.
        zero_filled: ``(X, Y)`` zero-filled input (the standard reconstruction).
        outputs: ``(X, Y)`` super-resolved maps, one per λ.
        target: ``(X, Y)`` ground truth.
        flair: ``(X, Y)`` FLAIR on the same grid.
        mask: ``(X, Y)`` brain/quality mask.
    """
    inside = np.asarray(mask) != 0
    vmax = float(np.asarray(target)[inside].max()) if inside.any() else None

    def tile(image: np.ndarray, scored: bool = True) -> Tile:
        caption = ""
        if scored and inside.any():
            p, s = masked_scores(image, target, inside)
            caption = f"{p:.2f} / {s:.4f}"
        return Tile(np.where(inside, image, 0.0), caption, vmin=0.0, vmax=vmax)

    tiles = [tile(zero_filled), *(tile(o) for o in outputs), tile(target, scored=False)]
    tiles.append(Tile(np.asarray(flair), "", cmap="gray"))
    return PanelRow(label, tuple(tiles))


def plot_panel(
    rows: Sequence[PanelRow],
    column_titles: Sequence[str],
    path: str | Path,
    title: str | None = None,
    dpi: int = 150,
) -> Path:
    """Draw rows of tiles with column titles, row labels and captions; save to ``path``.

    Args:
        rows: the rows; each has as many tiles as there are column titles.
        column_titles: one per column.
        path: output image (format from the suffix, e.g. ``.png`` or ``.pdf``).
        title: optional title above the panel.
        dpi: resolution of raster outputs.

    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("rows must contain at least one PanelRow")
    cols = len(column_titles)
    for row in rows:
        if len(row.tiles) != cols:
            raise ValueError(
                f"row {row.label!r} has {len(row.tiles)} tiles for {cols} column titles"
            )
    fig = Figure(figsize=(1.6 * cols + 0.6, 1.85 * len(rows) + (0.5 if title else 0.2)))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row.tiles):
            ax = axes[r][c]
            ax.imshow(
                np.asarray(tile.image, dtype=np.float64).T,
                origin="lower",
                cmap=tile.cmap,
                vmin=tile.vmin,
                vmax=tile.vmax,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(tile.caption, fontsize=7)
            if r == 0:
                ax.set_title(column_titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(row.label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
