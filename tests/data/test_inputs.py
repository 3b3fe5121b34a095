"""network_inputs: the one builder of the generator's image inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.data.inputs import network_inputs
from mrsisr.data.normalise import map_scale


def _slices(shape=(3, 9, 7)):
    rng = np.random.default_rng(0)
    zero_filled = rng.normal(1.0, 0.5, shape)
    t1, flair = (rng.random(shape).astype(np.float32) for _ in range(2))
    return zero_filled, t1, flair, rng.random(shape) > 0.3


def test_channels_are_the_map_over_its_float64_scale_the_images_and_the_mask() -> None:
    zero_filled, t1, flair, mask = _slices()
    inputs, scale = network_inputs(zero_filled, t1, flair, mask)
    assert inputs.shape == (3, 4, 9, 7) and inputs.dtype == np.float32
    assert scale.dtype == np.float64
    np.testing.assert_array_equal(scale, map_scale(zero_filled, mask))
    lr = (zero_filled / scale[:, None, None]).astype(np.float32)  # rounded once, at the end
    for channel, expected in enumerate((lr, t1, flair, mask.astype(np.float32))):
        np.testing.assert_array_equal(inputs[:, channel], expected)


def test_an_absent_image_is_zeros_and_one_slice_has_no_leading_axis() -> None:
    zero_filled, t1, _, mask = _slices((9, 7))
    inputs, scale = network_inputs(zero_filled, t1, None, mask)
    assert inputs.shape == (4, 9, 7) and scale.shape == ()
    assert not inputs[2].any() and inputs[1].any()
    both_absent, _ = network_inputs(zero_filled, None, None, mask)
    assert not both_absent[1:3].any()


@pytest.mark.parametrize("name", ["t1", "flair", "mask"])
def test_an_image_on_another_grid_is_refused_by_name(name: str) -> None:
    zero_filled, t1, flair, mask = _slices()
    images = {"t1": t1, "flair": flair, "mask": mask, name: np.zeros((3, 9, 8))}
    with pytest.raises(ValueError, match=f"{name} has shape"):
        network_inputs(zero_filled, images["t1"], images["flair"], images["mask"])
