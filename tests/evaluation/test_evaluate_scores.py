"""Evaluation wiring: de-normalised maps, inside the mask, against independent references."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import torch
from skimage.metrics import normalized_root_mse, peak_signal_noise_ratio, structural_similarity
from torch import nn

from mrsisr import kspace
from mrsisr.commands.evaluate import FLAGS
from mrsisr.errors import UserError, flags
from mrsisr.evaluation.baselines import Baseline
from mrsisr.evaluation.evaluate import MetricSettings, evaluate, evaluation_dataset
from mrsisr.evaluation.methods import BaselineMethod, ModelMethod, check_held_out

N_VALUES = (8, 11)
NO_LPIPS = MetricSettings.for_grid((32, 32), lpips=False)


class Oracle:
    """A 'method' that returns the ground truth."""

    name, lam_conditioned, tags = "oracle", False, {}

    def predict(self, batch, lam):
        return batch.target.clone()


class ZeroFilledNet(nn.Module):
    """A generator that returns its (normalised) zero-filled input, inside the mask only with
    ``masked``. Without the mask, data consistency gives zero-filling back exactly."""

    def __init__(self, masked: bool = False) -> None:
        super().__init__()
        self.k = nn.Parameter(torch.tensor(1.0))
        self.masked = masked

    def forward(self, lr, t1, flair, mask, n, met, lam):
        return self.k * lr * mask if self.masked else self.k * lr


class MaskedZeroFill:
    """The reference of ``ZeroFilledNet(masked=True)`` in cohort units: the masked
    zero-filled map made data-consistent with the measured one."""

    name, lam_conditioned, tags = "reference", False, {}

    def predict(self, batch, lam):
        masked = batch.zero_filled * batch.mask[:, 0].numpy()
        return torch.from_numpy(kspace.data_consistency(masked, batch.native))[:, None]


@pytest.fixture(scope="module")
def dataset(eval_cohort):
    return evaluation_dataset(eval_cohort, ["P1"], N_VALUES)


def _by_key(rows, method):
    return {
        (r["patient"], r["slice"], r["metabolite"], r["n"]): r
        for r in rows
        if r["method"] == method
    }


def _row(rows, method, **key):
    (row,) = [r for r in rows if r["method"] == method and all(r[k] == v for k, v in key.items())]
    return row


def test_oracle_scores_perfectly(dataset):
    rows = evaluate(dataset, [Oracle()], settings=MetricSettings.for_grid((32, 32)))
    assert len(rows) == len(dataset)
    for row in rows:
        assert row["psnr"] == math.inf and row["nrmse"] == 0
        assert row["ssim"] == pytest.approx(1.0) and row["ms_ssim"] == pytest.approx(1.0)
        assert math.isnan(row["lpips"]) or row["lpips"] == pytest.approx(0.0, abs=1e-6)


def test_zero_fill_scores_match_a_numpy_and_skimage_computation(dataset, eval_cohort):
    rows = evaluate(dataset, [BaselineMethod(Baseline.zero_fill)], settings=NO_LPIPS)
    row = _row(rows, "zero_fill", patient="P1", metabolite="Gln", n=11, slice=1)
    gt = nib.load(eval_cohort / "P1" / "met_Gln.nii.gz").get_fdata()[:, :, 1]
    mask = nib.load(eval_cohort / "P1" / "mask.nii.gz").get_fdata()[:, :, 1] > 0
    # Odd n: keep the centred 11 x 11 frequencies, no unpaired Nyquist line.
    zf = np.real(
        np.fft.fftshift(
            np.fft.ifft2(
                np.fft.ifftshift(
                    np.pad(
                        np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(gt)))[11:22, 11:22],
                        ((11, 10), (11, 10)),
                    )
                )
            )
        )
    )
    np.testing.assert_allclose(zf, kspace.zero_fill(kspace.degrade(gt, 11), 32), atol=1e-9)
    data_range = gt[mask].max() - gt[mask].min()
    assert row["data_range"] == pytest.approx(data_range, rel=1e-5)
    assert row["psnr"] == pytest.approx(
        peak_signal_noise_ratio(gt[mask], zf[mask], data_range=data_range), rel=1e-4
    )
    assert row["nrmse"] == pytest.approx(normalized_root_mse(gt[mask], zf[mask]), rel=1e-4)
    _, ssim_map = structural_similarity(
        gt * mask,
        zf * mask,
        data_range=data_range,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    assert row["ssim"] == pytest.approx(ssim_map[mask].mean(), rel=1e-4)


@pytest.mark.parametrize(
    ("masked", "reference"),
    [(False, BaselineMethod(Baseline.zero_fill)), (True, MaskedZeroFill())],
    ids=["zero_fill", "masked"],
)
def test_network_outputs_are_denormalised_and_made_consistent_before_scoring(
    dataset, masked, reference
):
    net = ModelMethod("identity", {None: ZeroFilledNet(masked)})
    rows = evaluate(dataset, [net, reference], settings=NO_LPIPS)
    net_rows, ref_rows = _by_key(rows, "identity"), _by_key(rows, reference.name)
    assert net_rows.keys() == ref_rows.keys() and len(net_rows) == len(dataset)
    for key, a in net_rows.items():
        b = ref_rows[key]
        for metric in ("psnr", "ssim", "ms_ssim", "nrmse"):
            assert a[metric] == pytest.approx(b[metric], rel=1e-4, abs=1e-6)


def test_lambda_free_methods_run_once_and_lambda_conditioned_ones_per_lambda(dataset):
    cond = ModelMethod("cond", {None: ZeroFilledNet()}, lam_conditioned=True)
    rows = evaluate(dataset, [cond, Oracle()], lams=[0.0, 0.05], settings=NO_LPIPS)
    assert sorted({r["lam"] for r in rows if r["method"] == "cond"}) == [0.0, 0.05]
    assert {r["lam"] for r in rows if r["method"] == "oracle"} == {None}
    assert len(rows) == 3 * len(dataset)


def test_single_scale_method_picks_the_network_of_each_n(dataset):
    nets = ModelMethod("single", {8: ZeroFilledNet(), 11: ZeroFilledNet(masked=True)})
    rows = evaluate(dataset, [nets, BaselineMethod(Baseline.zero_fill)], settings=NO_LPIPS)
    net_rows, zf_rows = _by_key(rows, "single"), _by_key(rows, "zero_fill")
    for key, a in net_rows.items():
        same = a["nrmse"] == pytest.approx(zf_rows[key]["nrmse"], rel=1e-4)
        assert same == (a["n"] == 8)
    with pytest.raises(ValueError, match="no network for n=16"):
        nets.model_for(16)


def test_lpips_is_unavailable_not_a_number_without_weights(dataset, tmp_path):
    settings = MetricSettings.for_grid((32, 32), lpips_weights=tmp_path / "missing.safetensors")
    rows = evaluate(dataset, [BaselineMethod(Baseline.zero_fill)], settings=settings)
    assert all(math.isnan(r["lpips"]) for r in rows)
    assert "unavailable" in settings.describe()["lpips"]


def test_lpips_turned_off_is_said_to_be_off_not_missing():
    settings = MetricSettings.for_grid((32, 32), lpips=False)
    assert settings.describe()["lpips"] == "not computed (lpips); reported as NaN"
    assert "not installed" not in settings.describe()["lpips"]
    with flags(FLAGS):  # as mrsisr evaluate writes it
        assert settings.describe()["lpips"] == "not computed (--no-lpips); reported as NaN"


def test_settings_fit_small_grids():
    assert MetricSettings.for_grid((64, 64)).ms_ssim_scales == 3
    small = MetricSettings.for_grid((32, 32))
    assert (small.win_size, small.ms_ssim_scales) == (11, 2)
    assert MetricSettings.for_grid((9, 9)).win_size == 9


def test_models_are_never_scored_on_their_training_patients():
    class Info:
        path, metadata = (
            "m.safetensors",
            {"split": {"train": ["P0"], "val": ["P2"], "test": ["P1"]}},
        )

    method = ModelMethod("m", {None: ZeroFilledNet()}, infos=[Info()])
    check_held_out([method], ["P1"])
    with pytest.raises(UserError, match="P2"):
        check_held_out([method], ["P1", "P2"])
