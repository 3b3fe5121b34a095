"""The numerical core of predict/demo: geometry, brain mask, data consistency, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.inference import (
    Anatomy,
    Predictor,
    Volume,
    brain_mask,
    model_grid,
    otsu_threshold,
    output_geometry,
    resolve_device,
)
from mrsisr.metabolites import Metabolite
from tiny_model import perturbed_generator

GRID = (32, 32)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    """A tiny 'full' generator with every parameter perturbed, so that every condition matters."""
    return Predictor(perturbed_generator(GRID), GRID, batch_size=64)


def oblique_affine() -> np.ndarray:
    """A rotated, anisotropic voxel-to-world affine."""
    angle = np.deg2rad(12.0)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([6.0, 5.0, 8.0])
    affine[:3, 3] = [-40.0, -35.0, 10.0]
    return affine


def anatomy_for(shape: tuple[int, int, int], seed: int = 0) -> Anatomy:
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    mask[4:-4, 5:-5, :] = True
    t1 = (rng.random(shape) * mask).astype(np.float32)
    return Anatomy(t1=t1, flair=(1 - t1) * mask, mask=mask, mask_source="test")


@pytest.mark.parametrize("n", [(16, 16), (12, 20), (15, 9), (32, 32)])
def test_output_geometry_keeps_field_of_view_and_centre(n: tuple[int, int]) -> None:
    lr_affine = oblique_affine()
    shape, affine = output_geometry((*n, 5), lr_affine, GRID)
    assert shape == (*GRID, 5)
    lr_vox = lr_affine[:3, :3] @ np.ones(3)
    for axis in range(2):  # voxel size scaled by n / N in-plane, unchanged across slices
        ratio = np.linalg.norm(affine[:3, axis]) / np.linalg.norm(lr_affine[:3, axis])
        assert ratio == pytest.approx(n[axis] / GRID[axis])
    np.testing.assert_allclose(affine[:3, 2], lr_affine[:3, 2])
    centre_lr = lr_affine @ [n[0] // 2, n[1] // 2, 3, 1]
    centre_hr = affine @ [GRID[0] // 2, GRID[1] // 2, 3, 1]
    np.testing.assert_allclose(centre_hr, centre_lr, atol=1e-9)
    assert lr_vox.shape == (3,)


def test_output_geometry_refuses_maps_larger_than_the_grid() -> None:
    with pytest.raises(ValueError, match="larger than the output grid"):
        output_geometry((33, 16, 4), np.eye(4), GRID)


def test_otsu_matches_scikit_image() -> None:
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(1.0, 0.2, 4000), rng.normal(3.0, 0.4, 2500)])
    bin_width = (values.max() - values.min()) / 256
    assert otsu_threshold(values) == pytest.approx(threshold_otsu(values), abs=bin_width)


def test_otsu_refuses_constant_input() -> None:
    with pytest.raises(ValueError, match="two distinct"):
        otsu_threshold(np.ones(10))


def test_brain_mask_keeps_the_head_fills_holes_drops_specks() -> None:
    rng = np.random.default_rng(1)
    shape = (40, 44, 12)
    x, y, z = np.indices(shape)
    head = ((x - 20) / 15) ** 2 + ((y - 22) / 17) ** 2 + ((z - 6) / 9) ** 2 <= 1
    ventricle = ((x - 20) / 4) ** 2 + ((y - 22) / 5) ** 2 <= 1  # dark inside the head
    t1 = np.where(head, 1.0, 0.0) * np.where(ventricle, 0.05, 1.0)
    t1 += rng.normal(0, 0.03, shape)
    t1[2:4, 2:4, 5:7] = 1.0  # a bright speck outside the head
    flair = 0.8 * t1
    mask = brain_mask(t1, flair)
    assert mask.dtype == bool
    assert not mask[2:4, 2:4, 5:7].any()
    assert mask[20, 22, 6]  # the ventricle is filled
    overlap = np.logical_and(mask, head).sum() / np.logical_or(mask, head).sum()
    assert overlap > 0.95


def _lr_volume(n: tuple[int, int], slices: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 5.0, (*n, slices))


@pytest.mark.parametrize("n", [(16, 16), (12, 20), (15, 9)])
def test_super_resolve_is_data_consistent_per_slice(predictor: Predictor, n) -> None:
    lr = _lr_volume(n, 3)
    lams = (0.0, 0.05)
    out = predictor.super_resolve(lr, Metabolite.Gln, anatomy_for((*GRID, 3)), lams)
    assert out.shape == (2, *GRID, 3)
    assert out.dtype == np.float32
    for volume in out:
        back = kspace.degrade(np.moveaxis(volume.astype(np.float64), 2, 0), n)
        np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=1e-5 * lr.max())


def test_super_resolve_keeps_units(predictor: Predictor) -> None:
    """Normalisation is undone: scaling the input by c scales the output by c."""
    lr = _lr_volume((16, 16), 2)
    anatomy = anatomy_for((*GRID, 2))
    base = predictor.super_resolve(lr, "NAA", anatomy)
    scaled = predictor.super_resolve(250.0 * lr, "NAA", anatomy)
    np.testing.assert_allclose(scaled, 250.0 * base, rtol=1e-4, atol=1e-4 * scaled.max())


def test_batching_does_not_change_the_result(predictor: Predictor) -> None:
    lr = _lr_volume((16, 16), 5, seed=2)
    anatomy = anatomy_for((*GRID, 5))
    lams = (0.0, 0.03, 0.09)
    together = predictor.super_resolve(lr, "Ins", anatomy, lams)
    one_by_one = Predictor(predictor.model, GRID, batch_size=1)
    apart = one_by_one.super_resolve(lr, "Ins", anatomy, lams)
    np.testing.assert_allclose(together, apart, rtol=1e-4, atol=1e-5 * lr.max())
    single = predictor.super_resolve(lr, "Ins", anatomy, (0.03,))
    np.testing.assert_allclose(together[1], single[0], rtol=1e-4, atol=1e-5 * lr.max())


def test_sharpness_and_metabolite_condition_the_output(predictor: Predictor) -> None:
    lr = _lr_volume((16, 16), 2, seed=4)
    anatomy = anatomy_for((*GRID, 2))
    two = predictor.super_resolve(lr, "Glu", anatomy, (0.0, 0.1))
    assert np.abs(two[0] - two[1]).max() > 1e-4
    other = predictor.super_resolve(lr, "tCho", anatomy, (0.0,))
    assert np.abs(two[0] - other[0]).max() > 1e-4


def test_super_resolve_checks_its_arguments(predictor: Predictor) -> None:
    anatomy = anatomy_for((*GRID, 2))
    with pytest.raises(ValueError, match="sharpness"):
        predictor.super_resolve(_lr_volume((16, 16), 2), "Gln", anatomy, (-0.1,))
    with pytest.raises(ValueError, match="anatomy is on grid"):
        predictor.super_resolve(_lr_volume((16, 16), 3), "Gln", anatomy)
    with pytest.raises(ValueError, match="volume"):
        predictor.super_resolve(np.ones((16, 16)), "Gln", anatomy)


def test_prepare_anatomy_resamples_and_uses_a_given_mask(predictor: Predictor) -> None:
    lr_affine = oblique_affine()
    shape, affine = output_geometry((16, 16, 3), lr_affine, GRID)
    # Anatomy on the output grid itself, mask on a twice finer grid over the same space.
    rng = np.random.default_rng(5)
    t1 = rng.uniform(1, 2, shape).astype(np.float32)
    fine_affine = affine.copy()
    fine_affine[:3, :2] /= 2
    fine_affine[:3, 3] -= (affine[:3, 0] + affine[:3, 1]) / 4
    fine_mask = np.zeros((2 * shape[0], 2 * shape[1], shape[2]), dtype=np.uint8)
    fine_mask[16:48, 8:40] = 1
    anatomy = predictor.prepare_anatomy(
        Volume(t1, affine), Volume(2 * t1, affine), shape, affine, Volume(fine_mask, fine_affine)
    )
    expected = np.zeros(shape, dtype=bool)
    expected[8:24, 4:20] = True
    np.testing.assert_array_equal(anatomy.mask, expected)
    inside = anatomy.t1[anatomy.mask]
    assert np.percentile(inside, 99.5) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(anatomy.t1, anatomy.flair, rtol=1e-6)


def test_prepare_anatomy_derives_a_mask_without_one(predictor: Predictor) -> None:
    shape, affine = output_geometry((16, 16, 4), np.eye(4), GRID)
    x, y, _ = np.indices(shape)
    head = (((x - 16) / 10) ** 2 + ((y - 16) / 12) ** 2 <= 1).astype(np.float32)
    anatomy = predictor.prepare_anatomy(Volume(head, affine), Volume(head, affine), shape, affine)
    assert "derived" in anatomy.mask_source
    np.testing.assert_array_equal(anatomy.mask, head > 0)


def test_model_grid_and_device() -> None:
    assert model_grid({"grid": [64, 48]}) == (64, 48)
    assert model_grid({"grid": 32}) == (32, 32)
    with pytest.raises(ValueError, match="grid"):
        model_grid({})
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        resolve_device("tpu")


def _press_map(units: float, seed: int = 6) -> np.ndarray:
    """A 16 x 16 x 4 map: zero outside a central PRESS-like box, slice 2 all zero."""
    lr = _lr_volume((16, 16), 4, seed=seed)
    box = np.zeros(lr.shape, dtype=bool)
    box[4:12, 5:11] = True
    lr = np.where(box, lr, 0.0)
    lr[:, :, 2] = 0.0
    return lr * units


@pytest.mark.parametrize("units", [1.0, 1e-3])  # millimolar and molar
def test_zero_in_zero_out(predictor: Predictor, units: float, monkeypatch) -> None:
    """Issue 12, "Why" 2: a PRESS-box map with a zero slice. The network's estimate is zero
    wherever the map was not measured (outside the box, the zero slice), so the output there
    is only data consistency's correction; a zero slice gives exactly zero."""
    lr = _press_map(units)
    anatomy = anatomy_for((*GRID, 4))
    estimates = []
    original = Predictor.estimate

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        estimates.append(out)
        return out

    monkeypatch.setattr(Predictor, "estimate", spy)
    out = predictor.super_resolve(lr, "NAA", anatomy)[0]
    assert np.all(out[:, :, 2] == 0)
    # HR voxels 2k..2k+... of the box: output voxel 2k is input voxel k (k in 4..11, 5..10)
    inside = np.zeros(out.shape, dtype=bool)
    inside[8:23, 10:21] = True
    estimate = np.moveaxis(estimates[0][0], 0, 2)
    assert np.all(estimate[~inside] == 0)
    assert np.abs(estimate[inside & anatomy.mask]).max() > 0
    back = kspace.degrade(np.moveaxis(out.astype(np.float64), 2, 0), (16, 16))
    np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=1e-5 * np.abs(lr).max())


def test_zero_regions_do_not_depend_on_units(predictor: Predictor) -> None:
    """The same map in mM and in M gives the same output (up to the factor 1000): before,
    a zero slice was scaled by 1 and held anatomy-shaped values of the order of 1."""
    anatomy = anatomy_for((*GRID, 4))
    millimolar = predictor.super_resolve(_press_map(1.0), "Ins", anatomy)[0]
    molar = predictor.super_resolve(_press_map(1e-3), "Ins", anatomy)[0]
    np.testing.assert_allclose(1e3 * molar, millimolar, rtol=1e-4, atol=1e-5 * millimolar.max())


def test_prepare_anatomy_restricts_the_mask(predictor: Predictor) -> None:
    shape, affine = output_geometry((16, 16, 2), np.eye(4), GRID)
    x, y, _ = np.indices(shape)
    head = (((x - 16) / 10) ** 2 + ((y - 16) / 12) ** 2 <= 1).astype(np.float32)
    head = head * (1 + x / 32)
    restrict = np.zeros(shape, dtype=bool)
    restrict[:, :16] = True
    anatomy = predictor.prepare_anatomy(
        Volume(head, affine), Volume(head, affine), shape, affine, restrict=restrict
    )
    np.testing.assert_array_equal(anatomy.mask, (head > 0) & restrict)
    assert np.percentile(anatomy.t1[anatomy.mask], 99.5) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="restrict"):
        predictor.prepare_anatomy(
            Volume(head, affine), Volume(head, affine), shape, affine, restrict=restrict[:-1]
        )
