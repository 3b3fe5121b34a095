"""Normalisation shared with inference: the map scale and anatomical normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrsisr.data.normalise import map_scale, normalise_anatomy


def masked_max_reference(lr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.ma.masked_array(lr, mask=~mask).max(axis=(-2, -1)).filled(np.nan)


def test_scale_is_the_masked_maximum_for_numpy_and_torch():
    rng = np.random.default_rng(0)
    lr = rng.normal(1.0, 1.0, size=(3, 5, 9, 7))
    mask = rng.random((3, 5, 9, 7)) > 0.3
    expected = masked_max_reference(lr, mask)
    np.testing.assert_allclose(map_scale(lr, mask), expected)
    got = map_scale(torch.from_numpy(lr), torch.from_numpy(mask))
    assert got.shape == (3, 5)
    np.testing.assert_allclose(got.numpy(), expected)


def test_scale_of_one_image_is_zero_dimensional_and_round_trips():
    rng = np.random.default_rng(1)
    lr = rng.random((16, 16)).astype(np.float32) * 7
    mask = np.zeros((16, 16), bool)
    mask[4:12, 3:13] = True
    scale = map_scale(lr, mask)
    assert scale.shape == () and scale.dtype == np.float32
    np.testing.assert_allclose((lr / scale) * scale, lr, rtol=2e-7)  # one float32 rounding
    assert (lr / scale)[mask].max() == 1.0


def test_a_mask_broadcasts_over_a_batch():
    lr = torch.rand(4, 1, 8, 8)
    mask = torch.zeros(8, 8)
    mask[2:5, 2:5] = 1
    np.testing.assert_allclose(
        map_scale(lr, mask).numpy(), lr[..., 2:5, 2:5].amax(dim=(-2, -1)).numpy()
    )


@pytest.mark.parametrize("backend", [np.asarray, torch.as_tensor])
def test_degenerate_maps_get_a_positive_scale(backend):
    mask = np.ones((6, 6), bool)
    negative = -np.arange(1.0, 37.0).reshape(6, 6)  # no positive value inside the mask
    assert float(map_scale(backend(negative), backend(mask))) == pytest.approx(0.36)
    assert float(map_scale(backend(np.zeros((6, 6))), backend(mask))) == 1.0
    empty = np.zeros((6, 6), bool)
    assert float(map_scale(backend(negative + 100), backend(empty))) == 1.0
    mostly_negative = negative.copy()
    mostly_negative[0, 0] = 0.001  # tiny peak: floored at 1 % of the largest magnitude
    assert float(map_scale(backend(mostly_negative), backend(mask))) == pytest.approx(0.36)


def test_anatomy_percentile_inside_the_mask_maps_to_one():
    rng = np.random.default_rng(2)
    volume = rng.gamma(2.0, 100.0, size=(20, 20, 10))
    mask = rng.random(volume.shape) > 0.5
    volume[~mask] = 1e6  # outside the mask: ignored
    out = normalise_anatomy(volume, mask)
    assert out.dtype == np.float32
    assert np.mean(out[mask] > 1) == pytest.approx(0.005, abs=0.001)
    np.testing.assert_allclose(normalise_anatomy(3 * volume, mask), out, rtol=1e-6)


def test_anatomy_fallbacks_and_checks():
    volume = np.linspace(0, 10, 1000).reshape(10, 10, 10)
    empty = np.zeros_like(volume, dtype=bool)
    assert normalise_anatomy(volume, empty).max() == pytest.approx(1 / 0.995, rel=1e-3)
    np.testing.assert_array_equal(normalise_anatomy(np.zeros((4, 4)), np.ones((4, 4))), 0)
    with pytest.raises(ValueError, match="same shape"):
        normalise_anatomy(volume, empty[..., :5])
    with pytest.raises(ValueError, match="percentile"):
        normalise_anatomy(volume, empty, percentile=0)
