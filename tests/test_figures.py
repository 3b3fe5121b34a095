"""Fig. 3-style panels: scores inside the mask and the drawing itself."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.figures import PanelRow, Tile, masked_scores, plot_panel, sharpness_row


def maps(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(1, 5, (24, 20))
    pred = target + rng.normal(0, 0.3, target.shape)
    mask = np.zeros(target.shape, dtype=bool)
    mask[3:20, 4:17] = True
    return pred, target, mask


def test_masked_psnr_matches_scikit_image_on_the_mask_voxels() -> None:
    from skimage.metrics import peak_signal_noise_ratio

    pred, target, mask = maps()
    data_range = target[mask].max() - target[mask].min()
    expected = peak_signal_noise_ratio(target[mask], pred[mask], data_range=data_range)
    psnr, ssim = masked_scores(pred, target, mask)
    assert psnr == pytest.approx(expected, rel=1e-6)
    assert 0 < ssim < 1


def test_masked_scores_ignore_voxels_outside_the_mask() -> None:
    pred, target, mask = maps(1)
    noisy_outside = np.where(mask, pred, 1e3)
    assert masked_scores(noisy_outside, target, mask)[0] == pytest.approx(
        masked_scores(pred, target, mask)[0]
    )
    psnr, ssim = masked_scores(target, target, mask)
    assert psnr == np.inf and ssim == pytest.approx(1.0)
    with pytest.raises(ValueError, match="empty"):
        masked_scores(pred, target, np.zeros_like(mask))


def test_sharpness_row_layout_and_panel_file(tmp_path) -> None:
    pred, target, mask = maps(2)
    row = sharpness_row("Gln, n = 16", target * 0.9, [pred, pred + 0.1], target, target, mask)
    assert len(row.tiles) == 5  # zero-filling, two outputs, ground truth, FLAIR
    assert row.tiles[0].caption and row.tiles[1].caption and not row.tiles[3].caption
    assert row.tiles[3].vmax == pytest.approx(target[mask].max())
    assert np.all(row.tiles[1].image[~mask] == 0)  # maps are shown inside the mask
    path = plot_panel([row, row], ["zf", "λ=0", "λ=0.03", "GT", "FLAIR"], tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_panel_checks_the_layout(tmp_path) -> None:
    row = PanelRow("a", (Tile(np.zeros((4, 4))),))
    with pytest.raises(ValueError, match="2 column titles"):
        plot_panel([row], ["x", "y"], tmp_path / "f.png")
    with pytest.raises(ValueError, match="at least one"):
        plot_panel([], ["x"], tmp_path / "f.png")
