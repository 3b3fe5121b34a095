"""PSNR, MSE and NRMSE against scikit-image and NumPy, with and without masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import normalized_root_mse, peak_signal_noise_ratio

from mrsisr.metrics import mse, nrmse, psnr

SHAPES = [(64, 64), (33, 37), (7, 19)]


def _pair(shape: tuple[int, int], seed: int, smooth: bool = False) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    if smooth:
        yy, xx = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape), indexing="ij")
        target = 3.0 * np.exp(-(xx**2 + yy**2) / 0.3) + 0.5
    else:
        target = rng.random(shape) * 5.0
    pred = target + 0.2 * rng.standard_normal(shape)
    return pred, target


def _t(*arrays: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays))[:, None]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("smooth", [False, True])
def test_psnr_matches_skimage(shape: tuple[int, int], smooth: bool) -> None:
    pred, target = _pair(shape, seed=1, smooth=smooth)
    expected = peak_signal_noise_ratio(target, pred, data_range=4.0)
    got = psnr(_t(pred), _t(target), data_range=4.0)
    assert got.shape == (1,)
    np.testing.assert_allclose(got.numpy(), [expected], rtol=1e-12)


def test_psnr_per_sample_data_range_and_mask_match_numpy() -> None:
    (p0, t0), (p1, t1) = _pair((33, 37), 2), _pair((33, 37), 3)
    rng = np.random.default_rng(4)
    masks = rng.random((2, 33, 37)) > 0.4
    ranges = np.array([5.0, 2.5])
    got = psnr(_t(p0, p1), _t(t0, t1), data_range=torch.tensor(ranges), mask=_t(*masks))
    for i, (p, t, m) in enumerate([(p0, t0, masks[0]), (p1, t1, masks[1])]):
        expected = 10 * np.log10(ranges[i] ** 2 / np.mean((p[m] - t[m]) ** 2))
        np.testing.assert_allclose(got[i].item(), expected, rtol=1e-12)


def test_psnr_identity_is_infinite() -> None:
    target = torch.rand(3, 1, 16, 16)
    assert torch.isposinf(psnr(target.clone(), target, data_range=1.0)).all()


def test_mask_ignores_voxels_outside() -> None:
    pred, target = (torch.from_numpy(a)[None, None] for a in _pair((20, 20), 5))
    mask = torch.zeros_like(target)
    mask[..., 5:15, 5:15] = 1
    spoiled = pred.clone()
    spoiled[mask == 0] = 1e6
    assert torch.equal(psnr(spoiled, target, 5.0, mask), psnr(pred, target, 5.0, mask))
    assert torch.equal(nrmse(spoiled, target, mask), nrmse(pred, target, mask))


def test_empty_mask_gives_nan() -> None:
    target = torch.rand(2, 1, 8, 8)
    mask = torch.ones_like(target)
    mask[1] = 0
    out = mse(target + 1, target, mask)
    assert out[0].item() == pytest.approx(1.0) and torch.isnan(out[1])


@pytest.mark.parametrize("shape", SHAPES)
def test_nrmse_matches_skimage(shape: tuple[int, int]) -> None:
    pred, target = _pair(shape, seed=6)
    expected = normalized_root_mse(target, pred, normalization="euclidean")
    np.testing.assert_allclose(nrmse(_t(pred), _t(target)).numpy(), [expected], rtol=1e-12)
    mask = np.random.default_rng(7).random(shape) > 0.5
    masked = normalized_root_mse(target[mask], pred[mask], normalization="euclidean")
    got = nrmse(_t(pred), _t(target), mask=torch.from_numpy(mask))
    np.testing.assert_allclose(got.numpy(), [masked], rtol=1e-12)


def test_nrmse_is_scale_invariant() -> None:
    pred, target = torch.rand(2, 1, 9, 9), torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(nrmse(7 * pred, 7 * target), nrmse(pred, target))


@pytest.mark.parametrize(
    ("data_range", "match"),
    [(None, "data_range is required"), (0.0, "positive"), (torch.ones(3), r"shape \(2,\)")],
)
def test_psnr_rejects_bad_data_range(data_range: object, match: str) -> None:
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=match):
        psnr(x, x, data_range=data_range)  # type: ignore[arg-type]


def test_rejects_bad_shapes_and_masks() -> None:
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="pred must have shape"):
        psnr(x[0], x[0], 1.0)
    with pytest.raises(ValueError, match="same shape"):
        mse(x, x[:, :, :4])
    with pytest.raises(ValueError, match="does not broadcast"):
        mse(x, x, mask=torch.ones(3, 1, 8, 8))
    with pytest.raises(ValueError, match="floating-point"):
        mse(x.long(), x.long())
