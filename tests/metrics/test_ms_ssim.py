"""MS-SSIM against pytorch-msssim and an independent NumPy/SciPy reference, and properties."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_msssim
import torch
from scipy.ndimage import gaussian_filter

from mrsisr.metrics import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_weights, ssim


def _noisy_pair(shape, batch: int = 2, noise: float = 0.1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(batch, 1, *shape, generator=g, dtype=torch.float64)
    target = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1)  # some structure
    pred = target + noise * torch.randn(target.shape, generator=g, dtype=torch.float64)
    return pred, target


@pytest.mark.parametrize(
    ("weights", "win_size", "sigma"),
    [
        (list(MS_SSIM_WEIGHTS), 11, 1.5),
        (list(ms_ssim_weights(3)), 11, 1.5),
        ([0.2, 0.3, 0.5], 7, 1.0),
    ],
)
def test_matches_pytorch_msssim(weights: list[float], win_size: int, sigma: float) -> None:
    pred, target = _noisy_pair((176, 192))
    expected = pytorch_msssim.ms_ssim(
        pred,
        target,
        data_range=2.0,
        size_average=False,
        win_size=win_size,
        win_sigma=sigma,
        weights=weights,
    ).flatten()
    got = ms_ssim(pred, target, 2.0, weights=weights, win_size=win_size, sigma=sigma)
    # pytorch-msssim builds its window in float32, hence the tolerance.
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-9)


def test_default_is_three_renormalised_standard_scales() -> None:
    weights = ms_ssim_weights()
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
    np.testing.assert_allclose(np.array(weights) * sum(MS_SSIM_WEIGHTS[:3]), MS_SSIM_WEIGHTS[:3])
    pred, target = _noisy_pair((64, 64))
    torch.testing.assert_close(
        ms_ssim(pred, target, 1.0), ms_ssim(pred, target, 1.0, weights=weights)
    )


def _block_mean(a: np.ndarray) -> np.ndarray:
    """2 × 2 block means; a trailing odd row/column is averaged over what exists."""
    h, w = a.shape
    padded = np.full((h + h % 2, w + w % 2), np.nan)
    padded[:h, :w] = a
    return np.nanmean(padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2), (1, 3))


def _reference(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None, weights) -> float:
    """MS-SSIM of one 2-D image from SciPy filters and NumPy block means (data range 1).

    Without a mask: the mean over the voxels whose window fits in the image; with one: the
    reflect-padded full map averaged over the (block-averaged) mask.
    """
    c1, c2, r = 0.01**2, 0.03**2, 5
    x, y = pred, target
    m = np.ones_like(pred) if mask is None else mask.astype(float)
    value = 1.0
    for level, w in enumerate(weights):
        f = lambda a: gaussian_filter(a, 1.5, truncate=3.5, mode="reflect")  # noqa: E731
        mx, my = f(x), f(y)
        vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        cs = (2 * cxy + c2) / (vx + vy + c2)
        full = cs * (2 * mx * my + c1) / (mx**2 + my**2 + c1)
        stat = full if level == len(weights) - 1 else cs
        if mask is None:
            mean = stat[r:-r, r:-r].mean()
        else:
            mean = (stat * m).sum() / m.sum()
        value *= max(mean, 0.0) ** w
        x, y, m = _block_mean(x), _block_mean(y), _block_mean(m)
    return value


@pytest.mark.parametrize("shape", [(64, 64), (67, 71), (45, 64)])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy_reference(shape: tuple[int, int], masked: bool) -> None:
    pred, target = _noisy_pair(shape, batch=1, seed=3)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    ellipse = ((yy - 30) ** 2 / 28**2 + (xx - 33) ** 2 / 24**2) <= 1
    mask = ellipse if masked else None
    expected = _reference(pred[0, 0].numpy(), target[0, 0].numpy(), mask, ms_ssim_weights())
    got = ms_ssim(pred, target, 1.0, mask=None if mask is None else torch.from_numpy(mask))
    np.testing.assert_allclose(got.item(), expected, rtol=1e-10)


def test_one_scale_equals_ssim() -> None:
    pred, target = _noisy_pair((33, 37))
    mask = torch.rand(2, 1, 33, 37, generator=torch.Generator().manual_seed(1)) > 0.5
    for m in (None, mask):
        torch.testing.assert_close(
            ms_ssim(pred, target, 1.0, m, weights=[1.0]), ssim(pred, target, 1.0, m).clamp_min(0)
        )


def test_properties_identity_symmetry_noise() -> None:
    pred, target = _noisy_pair((64, 64), noise=0.0)
    torch.testing.assert_close(ms_ssim(pred, target, 1.0), torch.ones(2, dtype=torch.float64))
    values = [ms_ssim(*_noisy_pair((64, 64), noise=s, seed=9), 1.0) for s in (0.02, 0.1, 0.4)]
    assert torch.all(values[0] > values[1]) and torch.all(values[1] > values[2])
    a, b = _noisy_pair((64, 64), noise=0.2, seed=2)
    torch.testing.assert_close(ms_ssim(a, b, 1.0), ms_ssim(b, a, 1.0))


@pytest.mark.parametrize("masked", [False, True])
def test_gradients_finite_including_constant_regions(masked: bool) -> None:
    target = torch.zeros(3, 1, 64, 64)
    target[:, :, 16:48, 16:48] = 2.0
    target[2] = 1.0  # a constant image: every variance is zero
    pred = target + 0.01 * torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    mask = (target > 0).float() if masked else None
    for p in (target.clone(), pred, -pred):  # identical, close, anticorrelated (cs < 0)
        p = p.requires_grad_(True)
        value = ms_ssim(p, target, 2.0, mask=mask)
        (grad,) = torch.autograd.grad(value.sum(), p)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all()


def test_rejects_too_many_scales_and_bad_weights() -> None:
    x = torch.rand(1, 1, 64, 64)
    with pytest.raises(ValueError, match="coarsest scale"):
        ms_ssim(x, x, 1.0, weights=MS_SSIM_WEIGHTS)
    with pytest.raises(ValueError, match="weights"):
        ms_ssim(x, x, 1.0, weights=[])
    with pytest.raises(ValueError, match="scales"):
        ms_ssim_weights(6)
