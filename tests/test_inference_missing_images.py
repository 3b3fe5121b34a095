"""Inference with T1 only, FLAIR only or no anatomical image (models with presence flags)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.commands.predict import FLAGS
from mrsisr.errors import UserError, flags
from mrsisr.inference import (
    Anatomy,
    Predictor,
    Volume,
    brain_mask,
    images_label,
    map_mask,
    output_geometry,
)
from mrsisr.metabolites import Metabolite, index_of
from tiny_model import perturbed_generator

GRID = (32, 32)


def perturbed(presence: bool) -> Predictor:
    model = perturbed_generator(GRID, presence=presence)
    return Predictor(model, GRID, source=Path(f"model-presence-{presence}.safetensors"))


@pytest.fixture(scope="module")
def flagged() -> Predictor:
    return perturbed(True)


def head(shape: tuple[int, int, int]) -> np.ndarray:
    x, y, _ = np.indices(shape)
    return ((x - 16) / 10) ** 2 + ((y - 15) / 12) ** 2 <= 1


def anatomy(present: tuple[bool, bool], shape=(*GRID, 3), seed: int = 0) -> Anatomy:
    rng = np.random.default_rng(seed)
    mask = head(shape)
    t1 = (rng.random(shape) * mask).astype(np.float32)
    return Anatomy(
        t1=t1 if present[0] else None,
        flair=(1 - t1) * mask if present[1] else None,
        mask=mask,
        mask_source="test",
    )


def lr_volume(n: tuple[int, int], slices: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 5.0, (*n, slices))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("present", [(True, False), (False, True), (False, False)])
def test_a_model_without_presence_refuses_a_missing_image_naming_itself(present) -> None:
    predictor = perturbed(False)
    with pytest.raises(UserError, match=r"model-presence-False.safetensors: this model needs both"):
        predictor.super_resolve(lr_volume((16, 16)), Metabolite.Gln, anatomy(present))
    shape, affine = output_geometry((16, 16, 3), np.eye(4), GRID)
    t1 = Volume(head(shape).astype(np.float32), affine) if present[0] else None
    flair = Volume(head(shape).astype(np.float32), affine) if present[1] else None
    with pytest.raises(UserError, match="needs both t1 and flair") as err:
        predictor.prepare_anatomy(t1, flair, shape, affine, maps=[lr_volume((16, 16))])
    assert "\n" not in str(err.value)
    with flags(FLAGS), pytest.raises(UserError, match="needs both --t1 and --flair"):
        predictor.prepare_anatomy(t1, flair, shape, affine, maps=[lr_volume((16, 16))])


@pytest.mark.parametrize("present", [(True, False), (False, True), (False, False)])
def test_missing_images_give_data_consistent_maps_that_depend_on_what_is_there(
    flagged: Predictor, present
) -> None:
    lr = lr_volume((16, 12))
    out = flagged.super_resolve(lr, Metabolite.NAA, anatomy(present))
    back = kspace.degrade(np.moveaxis(out[0].astype(np.float64), 2, 0), (16, 12))
    np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=1e-5 * lr.max())
    both = flagged.super_resolve(lr, Metabolite.NAA, anatomy((True, True)))
    assert np.abs(out - both).max() > 1e-4 * np.abs(both).max()
    if any(present):  # the image that is there is used
        other = flagged.super_resolve(lr, Metabolite.NAA, anatomy(present, seed=1))
        assert np.abs(out - other).max() > 1e-4 * np.abs(out).max()


def test_a_missing_image_reaches_the_model_as_zeros_flagged_absent(flagged: Predictor) -> None:
    """The same numbers as calling the generator directly with zeros and the flag."""
    lr = lr_volume((16, 16), slices=1)
    given = anatomy((True, False), shape=(*GRID, 1))
    out = flagged.super_resolve(lr, Metabolite.Gln, given)[0, :, :, 0]
    zero_filled = kspace.zero_fill(lr[:, :, 0], GRID)
    scale = zero_filled[given.mask[:, :, 0]].max()

    def image(x):
        return torch.from_numpy(np.asarray(x, np.float32))[None, None]

    with torch.no_grad():
        direct = (
            flagged.model(
                image(zero_filled / scale),
                image(given.t1[:, :, 0]),
                image(np.zeros(GRID)),
                image(given.mask[:, :, 0]),
                torch.tensor([[16, 16]]),
                torch.tensor([index_of(Metabolite.Gln)]),
                torch.zeros(1),
                torch.tensor([[True, False]]),
            )[0, 0]
            .double()
            .numpy()
        )
    expected = kspace.data_consistency(direct * scale, lr[:, :, 0])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_the_mask_is_derived_from_the_image_there_is(flagged: Predictor) -> None:
    shape, affine = output_geometry((16, 16, 4), np.eye(4), GRID)
    brain = head(shape)
    flair = Volume(brain.astype(np.float32) * 3.0, affine)
    result = flagged.prepare_anatomy(None, flair, shape, affine)
    assert result.present == (False, True) and result.t1 is None
    assert result.mask_source.startswith("derived from FLAIR")
    np.testing.assert_array_equal(result.mask, brain)
    inside = result.flair[result.mask]
    assert np.percentile(inside, 99.5) == pytest.approx(1.0, rel=1e-5)


def test_without_any_image_the_mask_comes_from_the_maps(flagged: Predictor) -> None:
    shape, affine = output_geometry((16, 16, 4), np.eye(4), GRID)
    brain = head(shape)
    rng = np.random.default_rng(2)
    hr = np.where(brain, rng.uniform(0.8, 1.2, shape), 0.0)
    lr = np.moveaxis(kspace.degrade(np.moveaxis(hr, 2, 0), (16, 16)), 0, 2)
    result = flagged.prepare_anatomy(None, None, shape, affine, maps=[lr, 2 * lr])
    assert result.present == (False, False)
    assert "derived from the maps" in result.mask_source
    assert dice(result.mask, brain) > 0.9
    with pytest.raises(ValueError, match="needs the maps"):
        flagged.prepare_anatomy(None, None, shape, affine)


def test_map_mask_follows_a_low_resolution_head() -> None:
    shape = (*GRID, 2)
    brain = head(shape)
    for n in [(16, 16), (12, 20)]:
        lr = np.moveaxis(kspace.degrade(np.moveaxis(brain * 2.0, 2, 0), n), 0, 2)
        assert dice(map_mask([lr], GRID), brain) > 0.9, n


def test_brain_mask_of_one_image_equals_that_of_the_image_twice() -> None:
    rng = np.random.default_rng(0)
    shape = (*GRID, 3)
    image = np.where(head(shape), 1.0, 0.0) + rng.normal(0, 0.05, shape)
    np.testing.assert_array_equal(brain_mask(image), brain_mask(image, image))
    with pytest.raises(ValueError, match="at least one image"):
        brain_mask()
    with pytest.raises(ValueError, match="one shape"):
        brain_mask(image, image[:-1])


@pytest.mark.parametrize(
    ("present", "label"),
    [
        ((True, True), "T1 and FLAIR"),
        ((True, False), "T1 only"),
        ((False, True), "FLAIR only"),
        ((False, False), "no anatomical image"),
    ],
)
def test_images_label(present, label) -> None:
    assert images_label(present) == label


def test_uncertainty_estimates_work_with_a_missing_image(flagged: Predictor) -> None:
    from mrsisr.uncertainty import propagate_fit, tta

    lr = lr_volume((16, 16), slices=2)
    given = anatomy((True, False), shape=(*GRID, 2))
    plain = flagged.super_resolve(lr, Metabolite.Gln, given)
    flipped = tta(flagged, lr, Metabolite.Gln, given)
    assert flipped.mean.shape == plain.shape and np.isfinite(flipped.sd).all()
    noise = propagate_fit(flagged, lr, np.zeros_like(lr), Metabolite.Gln, given, draws=2)
    np.testing.assert_allclose(noise.mean, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())
