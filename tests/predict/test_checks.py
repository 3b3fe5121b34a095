"""The per-patient checks of predict: the measured region and a brain cut by the anatomy."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.data.nifti import Volume
from mrsisr.data.resample import upsampled_grid
from mrsisr.errors import UserError
from mrsisr.predict.checks import check_brain_covered, measured_mask


def test_measured_mask_ands_zeros_quality_and_excitation_of_every_map() -> None:
    affine = np.diag([5.0, 5.0, 6.0, 1.0])
    maps = [Volume(np.ones((8, 8, 2)), affine), Volume(np.ones((8, 8, 2)), affine)]
    maps[1].data[0:2] = 0.0  # not fitted in the second map
    quality = np.ones((8, 8, 2), dtype=bool)
    quality[:, 7] = False
    excitation = np.zeros((8, 8, 2), dtype=bool)
    excitation[:, :, 0] = True
    out_grid = upsampled_grid((8, 8, 2), affine, 2)
    got = measured_mask(maps, out_grid, quality=[None, quality], excitation=[excitation, None])
    on_lr = np.ones((8, 8, 2), dtype=bool)
    on_lr[0:2] = False
    on_lr[:, 7] = False
    on_lr[:, :, 1] = False
    expected = np.zeros(got.shape, dtype=bool)
    expected[4:16, 0:13, 0] = True  # output voxel 2k is map voxel k; odd ones need both sides
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(got[::2, ::2], on_lr)


def test_a_brain_cut_by_the_anatomy_is_refused_and_a_tight_crop_accepted() -> None:
    shape = (40, 40, 3)
    y, x, _ = np.indices(shape)
    brain = ((y - 20) / 12) ** 2 + ((x - 20) / 10) ** 2 <= 1
    covered = np.ones(shape, dtype=bool)
    covered[:, 26:] = False  # the anatomy ends inside the brain
    with pytest.raises(UserError, match="part of the brain is not covered"):
        check_brain_covered(brain & covered, covered, "brain.nii.gz")
    tight = np.zeros(shape, dtype=bool)
    tight[7:34, 9:32] = True  # cropped to the brain's bounding box, touching it at 4 points
    check_brain_covered(brain, tight, "brain.nii.gz")
    check_brain_covered(brain, np.ones(shape, dtype=bool), "brain.nii.gz")
