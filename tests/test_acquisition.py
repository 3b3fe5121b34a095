"""Acquisition checks of a measured map: zero-filling found, n = N refused, measured region."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mrsisr import acquisition, kspace
from mrsisr.commands.predict import FLAGS
from mrsisr.data.resample import upsampled_grid
from mrsisr.errors import flags


def volume(n: tuple[int, int], slices: int = 4, seed: int = 0) -> np.ndarray:
    """An acquired map ``(n_y, n_x, S)``: a sharp-edged ellipse with noise, k-space truncated."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:96, :96] - 48
    plane = (np.hypot(y / 38, x / 30) < 1) * (6 + np.sin(x / 7))
    hr = np.broadcast_to(plane, (slices, 96, 96))
    lr = kspace.degrade(hr, n) + 0.1 * rng.standard_normal((slices, *n))
    return np.moveaxis(lr, 0, 2)


def zero_filled(lr: np.ndarray, N: tuple[int, int]) -> np.ndarray:
    return np.moveaxis(kspace.zero_fill(np.moveaxis(lr, 2, 0), N), 0, 2).astype(np.float32)


def test_an_acquired_map_is_planned_at_its_own_size() -> None:
    lr = volume((32, 32))
    plan = acquisition.plan_acquisition(lr, (64, 64), trained_n=range(16, 33, 2))
    assert plan.n == plan.grid == plan.detected == (32, 32)
    assert not plan.truncated
    assert plan.record()["n"] == [32, 32] and plan.record()["trained_n"] == [16, 32]


@pytest.mark.parametrize(("acquired", "stored"), [((24, 24), (32, 32)), ((42, 42), (64, 64))])
def test_a_zero_filled_map_is_refused_with_its_size_and_the_remedy(acquired, stored) -> None:
    """Issue 12, "Why" 4: 24 -> 32 and 42 -> 64 zero-filled maps are not super-resolved as is."""
    padded = zero_filled(volume(acquired), stored)
    remedy = f"acquired_n {acquired[0]} {acquired[1]}"
    with pytest.raises(ValueError, match=f"{acquired[0]}x{acquired[1]} window.*give {remedy}"):
        acquisition.plan_acquisition(padded, (64, 64))
    flag = f"--acquired-n {acquired[0]} {acquired[1]}"  # as mrsisr predict says it
    with flags(FLAGS), pytest.raises(ValueError, match=f"window.*give {flag}"):
        acquisition.plan_acquisition(padded, (64, 64))


def test_acquired_n_truncates_a_zero_filled_map_back_exactly() -> None:
    lr = volume((24, 24))
    padded = zero_filled(lr, (32, 32))
    plan = acquisition.plan_acquisition(padded, (64, 64), acquired_n=24)
    assert plan.n == (24, 24) and plan.truncated and plan.detected == (24, 24)
    np.testing.assert_allclose(acquisition.truncate(padded, plan.n), lr, atol=1e-5)
    assert plan.record()["acquired_n"] == [24, 24]


def test_acquired_n_that_discards_data_or_exceeds_the_grid_is_refused() -> None:
    padded = zero_filled(volume((24, 24)), (32, 32))
    with pytest.raises(ValueError, match=r"would discard measured data.*24x24"):
        acquisition.plan_acquisition(padded, (64, 64), acquired_n=(20, 24))
    with pytest.raises(ValueError, match="larger than the map's grid 32x32"):
        acquisition.plan_acquisition(padded, (64, 64), acquired_n=40)
    with pytest.raises(ValueError, match="acquired_n must be"):
        acquisition.plan_acquisition(padded, (64, 64), acquired_n=(0, 3))


def test_n_equal_to_the_grid_is_nothing_to_super_resolve() -> None:
    with pytest.raises(ValueError, match="64x64, the output grid: nothing to super-resolve"):
        acquisition.plan_acquisition(volume((64, 64)), (64, 64))
    # one axis at the grid still has something to do
    assert acquisition.plan_acquisition(volume((64, 32)), (64, 64)).n == (64, 32)


def test_n_outside_the_trained_range_is_allowed_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="mrsisr.acquisition"):
        plan = acquisition.plan_acquisition(volume((12, 12)), (64, 64), trained_n=[16, 24, 32])
    assert plan.n == (12, 12)
    assert "outside the sizes the model was trained on (16 to 32)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mrsisr.acquisition"):
        acquisition.plan_acquisition(volume((20, 20)), (64, 64), trained_n=[16, 24, 32])
    assert caplog.text == ""


@pytest.mark.parametrize("units", [1.0, 1e-3])  # millimolar and molar
def test_zero_voxels_and_slices_are_counted_and_an_all_zero_map_is_refused(units) -> None:
    lr = volume((32, 32)) * units
    lr[:, :, 1] = 0
    lr[:5, :, 2] = 0
    plan = acquisition.plan_acquisition(lr, (64, 64))
    assert plan.zero_slices == (1,)
    assert plan.zero_voxels == 32 * 32 + 5 * 32
    with pytest.raises(ValueError, match="every voxel is 0"):
        acquisition.plan_acquisition(np.zeros((32, 32, 3)), (64, 64))


def test_measured_support_is_non_zero_and_inside_the_excitation_region() -> None:
    """A PRESS-box map: zero outside the box; a pipeline's excitation region narrows it more."""
    lr = np.zeros((16, 16, 2))
    lr[4:12, 3:13] = 2.0
    box = np.zeros(lr.shape, dtype=bool)
    box[5:11, 4:12] = True
    np.testing.assert_array_equal(acquisition.measured_support(lr), lr != 0)
    np.testing.assert_array_equal(acquisition.measured_support(lr, box), box)
    with pytest.raises(ValueError, match="one grid"):
        acquisition.measured_support(lr, box[:-1])


def test_lowres_mask_on_grid_keeps_voxel_centres_and_drops_straddling_voxels() -> None:
    """On a grid twice as fine, output voxel 2k is input voxel k; voxel 2k + 1 lies between
    input voxels k and k + 1 and is in only when both are (more than half of it is in)."""
    affine = np.diag([3.0, 2.5, 4.0, 1.0])
    affine[:3, 3] = [-20, 7, 3]
    mask = np.zeros((8, 6, 2), dtype=bool)
    mask[2:5, 1:4, 0] = True
    shape, fine = upsampled_grid(mask.shape, affine, 2)
    on_grid = acquisition.lowres_mask_on_grid(mask, affine, shape, fine)
    expected = np.zeros(shape, dtype=bool)
    expected[4:9, 2:7, 0] = True  # 2k for k in 2..4 and the odd voxels between them
    np.testing.assert_array_equal(on_grid, expected)


def test_measured_on_grid_equals_the_mask_rule_with_the_kspace_geometry() -> None:
    lr = np.zeros((3, 10, 12))
    lr[0, 2:6, 3:9] = 1.5
    lr[2] = -0.5  # negative values were measured too
    on_grid = acquisition.measured_on_grid(lr, (20, 24))
    assert on_grid.shape == (3, 20, 24)
    assert not on_grid[1].any() and on_grid[2].all()
    expected = np.zeros((20, 24), dtype=bool)
    expected[4:11, 6:17] = True
    np.testing.assert_array_equal(on_grid[0], expected)


def test_acquired_n_accepts_the_split_nyquist_lines_of_an_even_acquisition() -> None:
    """Issue 23 part 5: a real zero-filled map of an even acquisition (centred padding, real
    part kept) holds n + 1 lines; --acquired-n n truncates it back exactly."""
    lr = volume((24, 24))
    slices = np.moveaxis(lr, 2, 0)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(slices, axes=(1, 2))), axes=(1, 2))
    big = np.zeros((slices.shape[0], 64, 64), complex)
    big[:, 20:44, 20:44] = k
    padded = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(big, axes=(1, 2))), axes=(1, 2)).real
    padded = np.moveaxis(padded * (64 / 24) ** 2, 0, 2)
    with pytest.raises(ValueError, match="acquired_n 25 25 \\(or 24 24 for an even"):
        acquisition.plan_acquisition(padded, (64, 64))
    plan = acquisition.plan_acquisition(padded, (64, 64), acquired_n=24)
    assert plan.detected == (25, 25) and plan.split_nyquist == (True, True)
    assert plan.record()["split_nyquist"] == [True, True]
    cut = acquisition.truncate(padded, plan.n, plan.split_nyquist)
    np.testing.assert_allclose(cut, lr, atol=1e-9)
    with pytest.raises(ValueError, match="would discard measured data"):
        acquisition.plan_acquisition(padded, (64, 64), acquired_n=22)
    # a 25-line acquisition is 25, never split (odd n has no Nyquist line)
    assert acquisition.plan_acquisition(padded, (64, 64), acquired_n=25).split_nyquist == (
        False,
        False,
    )


def test_extrapolated_is_true_outside_the_trained_sizes_only() -> None:
    inside = acquisition.plan_acquisition(volume((20, 16)), (64, 64), trained_n=[16, 32])
    small = acquisition.plan_acquisition(volume((12, 20)), (64, 64), trained_n=[16, 32], warn=False)
    large = acquisition.plan_acquisition(volume((20, 40)), (64, 64), trained_n=[16, 32], warn=False)
    unknown = acquisition.plan_acquisition(volume((12, 12)), (64, 64))
    assert not inside.extrapolated and small.extrapolated and large.extrapolated
    assert not unknown.extrapolated


# --- survivors of mutation testing (docs/mutation.md), killed --------------------------------


def test_sizes_are_one_or_two_positive_integers() -> None:
    assert acquisition._pair(1, "n") == (1, 1) and acquisition._pair((1, 3), "n") == (1, 3)
    assert acquisition._pair(None, "n") is None
    for bad in (0, (0, 3), (1, 2, 3)):
        with pytest.raises(ValueError, match=r"^n must be one or two positive sizes"):
            acquisition._pair(bad, "n")


def test_plan_messages_and_record_are_pinned() -> None:
    with pytest.raises(ValueError, match=r"^must be a volume \(n_y, n_x, slices\), got shape"):
        acquisition.plan_acquisition(np.ones((4, 4)), (64, 64))
    with pytest.raises(ValueError, match=r"^grid must be one or two positive sizes"):
        acquisition.plan_acquisition(volume((16, 16)), (0, 64))
    with pytest.raises(ValueError, match=r"^every voxel is 0: nothing was measured$"):
        acquisition.plan_acquisition(np.zeros((8, 8, 2)), (64, 64))
    lr = volume((20, 16))
    lr[:2, :, 1] = 0
    plan = acquisition.plan_acquisition(lr, (64, 64), trained_n=[16, 32])
    assert plan.split_nyquist == (False, False)
    assert plan.record() == {
        "grid": [20, 16],
        "detected_n": [20, 16],
        "acquired_n": None,
        "n": [20, 16],
        "trained_n": [16, 32],
        "zero_voxels": 2 * 16,
        "zero_slices": [],
        "split_nyquist": [False, False],
    }


def test_the_refusal_of_a_zero_filled_map_offers_the_even_size_only_for_odd_windows() -> None:
    even = zero_filled(volume((20, 20)), (32, 32))  # 20: even, and 3 does not divide it
    with pytest.raises(ValueError) as err:
        acquisition.plan_acquisition(even, (64, 64))
    assert "give acquired_n 20 20 (truncates it back" in str(err.value)
    assert "for an even acquisition" not in str(err.value)
    # centred padding of a 24 x 24 acquisition, the real part kept: 25 lines on both axes
    slices = np.moveaxis(volume((24, 24)), 2, 0)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(slices, axes=(1, 2))), axes=(1, 2))
    big = np.zeros((slices.shape[0], 32, 32), complex)
    big[:, 4:28, 4:28] = k
    padded = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(big, axes=(1, 2))), axes=(1, 2)).real
    with pytest.raises(ValueError) as err:
        acquisition.plan_acquisition(np.moveaxis(padded, 0, 2), (64, 64))
    assert (
        "give acquired_n 25 25 (or 24 24 for an even acquisition whose Nyquist line the "
        "pipeline split in halves) (truncates it back"
    ) in str(err.value)
    # one axis full (33, odd, the grid's own) and the other zero-filled: no even size offered
    full = np.moveaxis(kspace.zero_fill(np.moveaxis(volume((33, 24)), 2, 0), (33, 32)), 0, 2)
    with pytest.raises(ValueError) as err:
        acquisition.plan_acquisition(full, (64, 64))
    assert "acquired_n 33 24 (truncates" in str(err.value)
    assert str(err.value).endswith(
        "(truncates it back to the acquired window, exactly) or the map at its acquisition grid"
    )


def test_measured_support_takes_an_excitation_region_of_zeros_and_ones() -> None:
    lr = np.ones((6, 6, 1))
    lr[2, 2] = 0  # not measured although inside the excited region
    box = np.zeros(lr.shape)
    box[1:5, 1:5] = 1.0  # a float 0/1 mask, as a NIfTI file holds it
    expected = box.astype(bool) & (lr != 0)
    np.testing.assert_array_equal(acquisition.measured_support(lr, box), expected)
    with pytest.raises(ValueError) as err:
        acquisition.measured_support(lr, box[:-1])
    assert str(err.value) == (
        "excitation region has shape (5, 6, 1), the map (6, 6, 1); they must be on one grid"
    )


def _centred_padding(lr: np.ndarray, N: int) -> np.ndarray:
    """``(n_y, n_x, S)`` zero-filled to ``N`` by centred padding, the real part kept."""
    slices = np.moveaxis(lr, 2, 0)
    ny, nx = slices.shape[1:]
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(slices, axes=(1, 2))), axes=(1, 2))
    big = np.zeros((slices.shape[0], N, N), complex)
    big[:, N // 2 - ny // 2 : N // 2 - ny // 2 + ny, N // 2 - nx // 2 : N // 2 - nx // 2 + nx] = k
    out = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(big, axes=(1, 2))), axes=(1, 2)).real
    return np.moveaxis(out * (N * N) / (ny * nx), 0, 2)


def test_acquired_n_is_checked_per_axis_and_split_per_axis() -> None:
    tall = zero_filled(volume((20, 16)), (32, 24))
    assert acquisition.plan_acquisition(tall, (64, 64), acquired_n=(28, 20)).n == (28, 20)
    assert acquisition.plan_acquisition(tall, (64, 64), acquired_n=(32, 24)).n == (32, 24)
    for bad in ((33, 20), (20, 25)):
        with pytest.raises(ValueError, match="is larger than the map's grid 32x24"):
            acquisition.plan_acquisition(tall, (64, 64), acquired_n=bad)
    wide = zero_filled(volume((16, 20)), (24, 32))
    assert acquisition.plan_acquisition(wide, (64, 64), acquired_n=(20, 28)).n == (20, 28)
    copied = acquisition.plan_acquisition(tall, (64, 64), acquired_n=(20, 16))
    assert copied.split_nyquist == (False, False)  # zero_fill copies its Nyquist line
    with pytest.raises(ValueError) as err:
        acquisition.plan_acquisition(tall, (64, 64), acquired_n=(18, 16))
    assert str(err.value) == (
        "acquired_n 18x16 would discard measured data: the map's k-space holds data in a "
        "20x16 window; give acquired_n 20 16 or larger"
    )
    lr = volume((20, 20))
    padded = _centred_padding(lr, 32)  # 21 lines: half of the Nyquist line at each end
    plan = acquisition.plan_acquisition(padded, (64, 64), acquired_n=20)
    assert plan.split_nyquist == (True, True)
    np.testing.assert_allclose(
        acquisition.truncate(padded, plan.n, plan.split_nyquist), lr, atol=1e-9
    )
    one_axis = acquisition.plan_acquisition(padded, (64, 64), acquired_n=(20, 21))
    assert one_axis.split_nyquist == (True, False)  # 21: odd, no Nyquist line to split


def test_nothing_to_super_resolve_and_the_trained_range_messages(caplog) -> None:
    with pytest.raises(ValueError) as err:
        acquisition.plan_acquisition(volume((64, 64)), (64, 64))
    assert str(err.value) == (
        "the map is 64x64, the output grid: nothing to super-resolve; give the map at "
        "its acquisition grid (or acquired_n if it was zero-filled)"
    )
    with caplog.at_level(logging.WARNING, logger="mrsisr.acquisition"):
        for n in ((16, 16), (32, 32), (16, 32)):  # the ends of the range are inside it
            acquisition.plan_acquisition(volume(n), (64, 64), trained_n=[16, 24, 32])
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING, logger="mrsisr.acquisition"):
        acquisition.plan_acquisition(volume((12, 12)), (64, 64), trained_n=[16, 24, 32])
    assert caplog.records[0].getMessage() == (
        "acquisition size 12x12 is outside the sizes the model was trained on (16 to 32): "
        "the result is an extrapolation"
    )
