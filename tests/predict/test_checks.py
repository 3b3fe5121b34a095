"""The per-patient checks of predict: the measured region and a brain cut by the anatomy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- SD units (issue 27): an SD in percent read as the map's units is refused ---------------


def _sd_job(tmp_path, lr: np.ndarray, sd: np.ndarray, percent: bool):
    import nibabel as nib

    from mrsisr.metabolites import Metabolite
    from mrsisr.predict.plan import Job

    affine = np.diag([4.0, 4.0, 8.0, 1.0])
    paths = []
    for name, data in (("lr_NAA.nii.gz", lr), ("sd.nii.gz", sd)):
        nib.save(nib.Nifti1Image(data.astype(np.float32), affine), str(tmp_path / name))
        paths.append(tmp_path / name)
    return Job(
        patient="",
        metabolite=Metabolite.NAA,
        met=paths[0],
        t1=None,
        flair=None,
        mask=None,
        out=tmp_path / "o" / "sr.nii.gz",
        mask_out=tmp_path / "o" / "mask.nii.gz",
        sharpness=(0.0,),
        uncertainty="fit",
        sd=paths[1],
        sd_percent=percent,
    )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    level=st.floats(1e-3, 1e4),  # mM, mmol/kg or arbitrary units
    percent=st.floats(2.0, 90.0),  # a CRLB or %SD
    seed=st.integers(0, 2**16),
)
def test_an_sd_in_percent_is_refused_as_absolute_and_accepted_as_percent(
    tmp_path, level: float, percent: float, seed: int
) -> None:
    """Whatever the map's scale, a %SD map is refused as the map's units when its median
    exceeds the map's (always, for a map below 1 unit) and its conversion is accepted."""
    from mrsisr.predict.checks import read_inputs

    rng = np.random.default_rng(seed)
    lr = level * rng.uniform(0.5, 1.5, (16, 16, 2))
    sd = np.full(lr.shape, percent)
    as_absolute = _sd_job(tmp_path, lr, sd, percent=False)
    if np.median(lr) < percent:
        with pytest.raises(UserError, match=r"not a plausible SD.*pass sd_percent"):
            read_inputs([as_absolute], (32, 32))
    as_percent = _sd_job(tmp_path, lr, sd, percent=True)
    (scan,) = read_inputs([as_percent], (32, 32))
    np.testing.assert_allclose(scan.maps[0].sd, percent / 100 * lr, rtol=1e-5)
