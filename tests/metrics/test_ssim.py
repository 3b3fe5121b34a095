"""SSIM against scikit-image (valid mean without a mask, full map over a mask) and properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from mrsisr.metrics import ssim

# (win_size, sigma) pairs that scikit-image's Gaussian SSIM (truncate = 3.5) can express.
WINDOWS = [(11, 1.5), (7, 0.8)]
SHAPES = [(64, 64), (33, 37), (11, 23)]


def _images(shape: tuple[int, int], seed: int, smooth: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if smooth:
        yy, xx = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
        target = 2.0 * np.exp(-((xx - 0.2) ** 2 + yy**2) / 0.2) + np.cos(3 * xx) + 1.0
        pred = target + 0.3 * np.sin(5 * yy) + 0.05 * rng.standard_normal(shape)
    else:
        target = rng.random(shape)
        pred = np.clip(target + 0.15 * rng.standard_normal(shape), 0, None)
    return pred, target


def _skimage(pred: np.ndarray, target: np.ndarray, data_range: float, sigma: float, **kw):
    return structural_similarity(
        target,
        pred,
        data_range=data_range,
        gaussian_weights=True,
        sigma=sigma,
        use_sample_covariance=False,
        **kw,
    )


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)[None, None]


@pytest.mark.parametrize(("win_size", "sigma"), WINDOWS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("smooth", [False, True])
def test_ssim_matches_skimage(win_size: int, sigma: float, shape, smooth: bool) -> None:
    pred, target = _images(shape, seed=sum(shape), smooth=smooth)
    expected = _skimage(pred, target, 3.0, sigma)
    got = ssim(_t(pred), _t(target), data_range=3.0, win_size=win_size, sigma=sigma)
    np.testing.assert_allclose(got.numpy(), [expected], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("win_size", "sigma"), WINDOWS)
@pytest.mark.parametrize("shape", SHAPES)
def test_masked_ssim_is_skimage_full_map_over_mask(win_size: int, sigma: float, shape) -> None:
    pred, target = _images(shape, seed=3, smooth=True)
    rng = np.random.default_rng(4)
    mask = rng.random(shape) > 0.3
    mask[0, :] = True  # the border counts too
    _, full = _skimage(pred, target, 2.0, sigma, full=True)
    got = ssim(_t(pred), _t(target), 2.0, mask=_t(mask), win_size=win_size, sigma=sigma)
    np.testing.assert_allclose(got.numpy(), [full[mask].mean()], rtol=1e-10, atol=1e-12)


def test_batch_with_per_sample_range_equals_samples_alone() -> None:
    pairs = [_images((33, 37), seed, smooth=seed % 2 == 0) for seed in range(3)]
    pred = torch.from_numpy(np.stack([p for p, _ in pairs]))[:, None]
    target = torch.from_numpy(np.stack([t for _, t in pairs]))[:, None]
    ranges = torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    mask = torch.from_numpy(np.random.default_rng(0).random((3, 1, 33, 37)) > 0.5)
    for m in (None, mask):
        batch = ssim(pred, target, ranges, mask=m)
        for i in range(3):
            alone = ssim(
                pred[i : i + 1],
                target[i : i + 1],
                ranges[i].item(),
                mask=None if m is None else m[i : i + 1],
            )
            torch.testing.assert_close(batch[i : i + 1], alone)


def test_identity_symmetry_and_noise_ordering() -> None:
    target = torch.from_numpy(_images((40, 40), 5, smooth=True)[1])[None, None]
    assert ssim(target, target, 3.0).item() == pytest.approx(1.0, abs=1e-12)
    noise = torch.randn_like(target, generator=torch.Generator().manual_seed(0))
    a, b = target + 0.1 * noise, target + 0.5 * noise
    torch.testing.assert_close(ssim(a, target, 3.0), ssim(target, a, 3.0))
    assert ssim(a, target, 3.0).item() > ssim(b, target, 3.0).item()


def test_gradient_is_finite_on_constant_regions() -> None:
    target = torch.zeros(2, 1, 32, 32, dtype=torch.float64)
    target[:, :, 8:24, 8:24] = 1.0
    pred = target.clone().requires_grad_(True)
    mask = torch.ones_like(target)
    for m in (None, mask):
        (grad,) = torch.autograd.grad(ssim(pred, target, 1.0, mask=m).sum(), pred)
        assert torch.isfinite(grad).all()
        assert grad.abs().max().item() < 1e-6  # the optimum: identical inputs


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"win_size": 8}, "odd"), ({"win_size": 13}, "exceeds"), ({"sigma": 0.0}, "sigma")],
)
def test_rejects_bad_windows(kwargs: dict, match: str) -> None:
    x = torch.rand(1, 1, 12, 12)
    with pytest.raises(ValueError, match=match):
        ssim(x, x, 1.0, **kwargs)
