"""One path from a scan to the network: training and predict build the same inputs, and the
evaluation and predict return the same outputs.

Regression guard for issue 22: the training Dataset built its inputs by its own code (and
divided by the float32-rounded scale where predict divides by the float64 one), and the
evaluation ran the generator on those batches without predict's final float64 data
consistency. One slice of a small in-memory patient goes through both paths here, with both
images, with one and with none.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.data.cohort import Patient
from mrsisr.data.dataset import IMAGE_SETS, MRSIDataset
from mrsisr.data.normalise import normalise_anatomy
from mrsisr.evaluation.methods import EvalBatch, ModelMethod
from mrsisr.inference import Anatomy, Predictor
from mrsisr.metabolites import Metabolite, index_of
from tiny_model import perturbed_generator

GRID, SLICES = (32, 32), 3
N = (12, 11)  # an even and an odd axis
IMAGES = {"both": (True, True), "t1_only": (True, False), "none": (False, False)}


def make_patient() -> Patient:
    """Random positive NAA inside an elliptical mask that covers every slice alike (so the
    Dataset keeps all of them, in order)."""
    rng = np.random.default_rng(7)
    shape = (*GRID, SLICES)
    yy, xx = np.mgrid[: GRID[0], : GRID[1]]
    disc = ((yy - 15.5) / 12) ** 2 + ((xx - 16) / 13) ** 2 < 1
    mask = np.repeat(disc[:, :, None], SLICES, axis=2)
    naa = ((1 + rng.random(shape)) * mask).astype(np.float32)
    t1, flair = (rng.gamma(2.0, 50.0, shape).astype(np.float32) for _ in range(2))
    return Patient("P0", {Metabolite.NAA: naa}, t1, flair, mask, np.eye(4))


PATIENT = make_patient()


def training_set(present: tuple[bool, bool] = (True, True)) -> MRSIDataset:
    """Every slice of the patient at ``N``, λ = 0, with the images ``present`` (dropout)."""
    dataset = MRSIDataset(
        [PATIENT],
        metabolites=[Metabolite.NAA],
        n_choices=[N],
        lam_range=(0.0, 0.0),
        lam_zero_prob=1.0,
        presence_probs=[float(images == present) for images in IMAGE_SETS],
        deterministic=True,
    )
    assert dataset.slices == {"P0": tuple(range(SLICES))}
    return dataset


def scan(present: tuple[bool, bool]) -> tuple[np.ndarray, Anatomy]:
    """What predict holds for the same patient: the measured ``N`` map and its anatomy,
    normalised as the Dataset normalises a patient's."""

    def image(volume: np.ndarray, keep: bool) -> np.ndarray | None:
        return normalise_anatomy(volume, PATIENT.mask) if keep else None

    lr = kspace.degrade(np.moveaxis(PATIENT.maps[Metabolite.NAA].astype(np.float64), 2, 0), N)
    anatomy = Anatomy(
        t1=image(PATIENT.t1, present[0]),
        flair=image(PATIENT.flair, present[1]),
        mask=PATIENT.mask,
        mask_source="the patient's",
    )
    return np.moveaxis(lr, 0, 2), anatomy


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(perturbed_generator(GRID, presence=True), GRID)


@pytest.mark.parametrize("present", IMAGES.values(), ids=IMAGES.keys())
def test_training_and_predict_give_the_network_the_same_inputs(predictor, present) -> None:
    dataset = training_set(present)
    lr, anatomy = scan(present)
    inputs, scale = predictor.network_inputs(np.moveaxis(lr, 2, 0), anatomy)
    for index in range(len(dataset)):
        sample = dataset[index]
        z = int(sample.slice)
        assert tuple(sample.present.tolist()) == present
        stacked = torch.cat([sample.lr, sample.t1, sample.flair, sample.mask]).numpy()
        np.testing.assert_array_equal(stacked, inputs[z])
        assert sample.scale.item() == np.float32(scale[z])


@pytest.mark.parametrize("present", [IMAGES["both"], IMAGES["t1_only"]], ids=["both", "t1_only"])
def test_evaluation_and_predict_give_the_same_outputs(predictor, present) -> None:
    # The evaluation's cases hold both images; the method leaves one out.
    dataset = training_set()
    batch = EvalBatch.of([dataset.case(i) for i in range(len(dataset))])
    method = ModelMethod("tiny", {None: predictor.model}, lam_conditioned=True, present=present)
    evaluated = method.predict(batch, 0.0)[:, 0].numpy()  # (S, N_y, N_x) float64
    lr, anatomy = scan(present)
    measured = np.moveaxis(lr, 2, 0)
    prepared = predictor.network_inputs(measured, anatomy)
    predicted = predictor.infer(prepared, measured, index_of("NAA"), [0.0], anatomy.present)[0]
    # Exact up to float64 rounding: the Dataset simulates the acquisition with projection
    # matrices (simulate_input), predict zero-fills the measured map with FFTs, the same
    # operator to ~1e-16. The network's float32 inputs are equal (the test above), so its
    # outputs are; the float64 scale and the measured map of the final data consistency
    # differ by rounding only.
    atol = 1e-12 * np.abs(predicted).max()
    np.testing.assert_allclose(evaluated, predicted, rtol=0, atol=atol)
    assert np.abs(evaluated - batch.zero_filled).max() > 1e-3  # the network did something
    written = predictor.super_resolve(lr, Metabolite.NAA, anatomy)[0]  # (N_y, N_x, S) float32
    np.testing.assert_array_equal(np.moveaxis(written, 2, 0), predicted.astype(np.float32))
