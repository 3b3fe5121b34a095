"""k-space physics against explicit DFT references and the properties the project relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mrsisr import kspace

SIZES = [(64, 64), (33, 37), (16, 20), (5, 4)]


def centred_dft_matrix(N: int) -> np.ndarray:
    """Orthonormal DFT with the origin of both space and frequency at index N // 2."""
    j = np.arange(N) - N // 2
    return np.exp(-2j * np.pi * np.outer(j, j) / N) / np.sqrt(N)


def reference_degrade_axis(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Truncate one axis with explicit DFT matrices: keep frequencies -(n//2)..(n-1)//2."""
    N = x.shape[axis]
    F = centred_dft_matrix(N)
    keep = np.arange(n) - n // 2 + N // 2
    G = centred_dft_matrix(n).conj().T  # inverse on the n grid
    op = G @ F[keep] * np.sqrt(n / N)  # (n, N)
    return np.moveaxis(np.tensordot(op, np.moveaxis(x, axis, 0), axes=1), 0, axis).real


@pytest.mark.parametrize("N", [8, 9, 64, 37])
def test_fft2c_matches_explicit_centred_dft(N: int) -> None:
    rng = np.random.default_rng(N)
    x = rng.standard_normal((2, N, N + 3)) + 1j * rng.standard_normal((2, N, N + 3))
    ref = np.einsum("ab,zbc,dc->zad", centred_dft_matrix(N), x, centred_dft_matrix(N + 3))
    np.testing.assert_allclose(kspace.fft2c(x), ref, atol=1e-10)
    np.testing.assert_allclose(kspace.ifft2c(kspace.fft2c(x)), x, atol=1e-12)


def test_fft2c_torch_equals_numpy() -> None:
    x = np.random.default_rng(0).standard_normal((3, 1, 17, 24))
    np.testing.assert_allclose(kspace.fft2c(torch.from_numpy(x)).numpy(), kspace.fft2c(x))
    np.testing.assert_allclose(kspace.ifft2c(torch.from_numpy(x)).numpy(), kspace.ifft2c(x))


@pytest.mark.parametrize(
    ("N", "n"),
    [
        (N, n)
        for N in SIZES
        for n in [(1, 1), (2, 3), (16, 16), (15, 17), (4, 4)]
        if n[0] <= N[0] and n[1] <= N[1]
    ],
)
def test_degrade_matches_reference(N: tuple[int, int], n: tuple[int, int]) -> None:
    hr = np.random.default_rng(1).standard_normal((2, *N))
    ref = reference_degrade_axis(reference_degrade_axis(hr, n[1], -1), n[0], -2)
    np.testing.assert_allclose(kspace.degrade(hr, n), ref, atol=1e-12)


def test_kept_indices_documented_window() -> None:
    assert kspace.kept_indices(64, 32) == slice(16, 48)
    assert kspace.kept_indices(64, 31) == slice(17, 48)
    assert kspace.kept_indices(33, 16) == slice(8, 24)
    with pytest.raises(ValueError, match="n must be in"):
        kspace.kept_indices(64, 65)


@pytest.mark.parametrize("N", SIZES)
@pytest.mark.parametrize("n", [(1, 2), (3, 3), (4, 4), (5, 4)])
def test_constant_map_keeps_its_units(N: tuple[int, int], n: tuple[int, int]) -> None:
    hr = np.full(N, 5.0)
    np.testing.assert_allclose(kspace.degrade(hr, n), 5.0, atol=1e-12)
    np.testing.assert_allclose(kspace.zero_fill(np.full(n, 5.0), N), 5.0, atol=1e-12)


def test_odd_n_discards_no_imaginary_part() -> None:
    """For odd n the truncated window is symmetric: the LR map of a real map is exactly real."""
    hr = np.random.default_rng(2).standard_normal((64, 64))
    k = kspace.fft2c(hr)[kspace.kept_indices(64, 15)][:, kspace.kept_indices(64, 15)]
    complex_lr = kspace.ifft2c(k) * (15 / 64)
    assert np.abs(complex_lr.imag).max() < 1e-12
    np.testing.assert_allclose(kspace.degrade(hr, 15), complex_lr.real, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    N=st.tuples(st.integers(4, 40), st.integers(4, 40)),
    frac=st.tuples(st.floats(0.05, 1.0), st.floats(0.05, 1.0)),
    seed=st.integers(0, 2**16),
)
def test_zero_fill_is_a_right_inverse_of_degrade(N, frac, seed) -> None:
    n = tuple(max(1, round(f * s)) for f, s in zip(frac, N))
    lr = np.random.default_rng(seed).standard_normal(n)
    up = kspace.zero_fill(lr, N)
    assert not np.iscomplexobj(up)
    np.testing.assert_allclose(kspace.degrade(up, n), lr, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    N=st.tuples(st.integers(4, 40), st.integers(4, 40)),
    frac=st.tuples(st.floats(0.05, 1.0), st.floats(0.05, 1.0)),
    seed=st.integers(0, 2**16),
)
def test_data_consistency_is_exact_in_float32(N, frac, seed) -> None:
    n = tuple(max(1, round(f * s)) for f, s in zip(frac, N))
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((2, 1, *N)).astype(np.float32))
    measured = torch.from_numpy(rng.standard_normal((2, 1, *n)).astype(np.float32))
    out = kspace.data_consistency(x, measured)
    assert out.dtype == torch.float32
    torch.testing.assert_close(kspace.degrade(out, n), measured, atol=1e-5, rtol=1e-5)
    # Idempotent, and frequencies outside the acquisition are the estimate's.
    torch.testing.assert_close(kspace.data_consistency(out, measured), out, atol=1e-5, rtol=1e-5)
    hi_out = out - kspace.zero_fill(kspace.degrade(out, n), N)
    hi_x = x - kspace.zero_fill(kspace.degrade(x, n), N)
    torch.testing.assert_close(hi_out, hi_x, atol=1e-5, rtol=1e-5)


def test_complex_maps_are_refused_and_even_n_discards_only_the_nyquist_imaginary_part() -> None:
    hr = np.random.default_rng(3).standard_normal((32, 32))
    with pytest.raises(ValueError, match="must be real"):
        kspace.degrade(hr + 1j * hr, 16)
    with pytest.raises(ValueError, match="must be real"):
        kspace.zero_fill(torch.zeros(8, 8, dtype=torch.complex64), 16)
    # Even n: the complex truncation and our real map differ only by the Nyquist line's
    # imaginary part, so they agree once that line is removed from the HR map.
    k = kspace.fft2c(hr)
    for nyquist in (32 // 2 - 16 // 2, 32 // 2 + 16 // 2):  # frequencies -n/2 and +n/2
        k[nyquist, :] = 0
        k[:, nyquist] = 0
    no_nyquist = kspace.ifft2c(k).real
    window = kspace.fft2c(no_nyquist)[8:24, 8:24]
    np.testing.assert_allclose(kspace.degrade(no_nyquist, 16), kspace.ifft2c(window).real / 2)


@pytest.mark.parametrize("N", [32, 33, 48])
@pytest.mark.parametrize("n", [8, 11, 16])
def test_projection_matrix_equals_zero_fill_of_degrade(N: int, n: int) -> None:
    P = kspace.projection_matrix(N, n).numpy()
    Q = kspace.projection_matrix(N + 5, n).numpy()
    x = np.random.default_rng(4).standard_normal((N, N + 5))
    np.testing.assert_allclose(
        P @ x @ Q.T, kspace.zero_fill(kspace.degrade(x, n), x.shape), atol=1e-12
    )
    np.testing.assert_allclose(P @ P, P, atol=1e-12)  # a projection
    np.testing.assert_allclose(P, P.T, atol=1e-12)  # orthogonal


@pytest.mark.parametrize(("N", "n"), [(64, 32), (64, 21), (63, 16), (48, 48)])
def test_geometry_centre_voxels_coincide(N: int, n: int) -> None:
    """A narrow blob at HR voxel N//2 peaks at LR voxel n//2; the affine agrees."""
    c = np.arange(N) - N // 2
    blob = np.exp(-(c[:, None] ** 2 + c[None, :] ** 2) / (2 * (N / n) ** 2))
    lr = kspace.degrade(blob, n)
    assert np.unravel_index(np.argmax(lr), lr.shape) == (n // 2, n // 2)
    hr_affine = np.diag([3.4, 3.4, 5.0, 1.0])
    hr_affine[:3, 3] = [-100.0, 20.0, 7.0]
    lr_affine = kspace.lowres_affine(hr_affine, (N, N), (n, n))
    np.testing.assert_allclose(
        lr_affine @ [n // 2, n // 2, 3, 1], hr_affine @ [N // 2, N // 2, 3, 1]
    )
    np.testing.assert_allclose(np.diag(lr_affine)[:2], 3.4 * N / n)
    np.testing.assert_allclose(
        kspace.lowres_affine(lr_affine, (n, n), (N, N)), hr_affine, atol=1e-12
    )


def test_bad_arguments_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="larger than the target grid"):
        kspace.zero_fill(np.zeros((8, 8)), 4)
    with pytest.raises(ValueError, match="n must be"):
        kspace.degrade(np.zeros((8, 8)), (0, 3))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        kspace.degrade(np.zeros(8), 4)
    with pytest.raises(ValueError, match="4x4"):
        kspace.lowres_affine(np.eye(3), (8, 8), (4, 4))


def _brain_like(N: int, slices: int = 3, seed: int = 0) -> np.ndarray:
    """Maps ``(slices, N, N)`` with a sharp elliptic edge, a ripple and a blob (float64)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:N, :N] - N / 2
    out = []
    for s in range(slices):
        inside = np.hypot(y / (0.4 * N), x / (0.33 * N)) < 1
        blob = 3 * np.exp(-((y - 0.05 * N) ** 2 + (x + 0.03 * N) ** 2) / (0.002 * N * N))
        out.append(inside * (8 + 2 * np.sin(x * 6 / N + s) + blob + rng.random()))
    return np.array(out)


@pytest.mark.parametrize(
    ("acquired", "grid"),
    [
        ((24, 24), (32, 32)),
        ((42, 42), (64, 64)),
        ((25, 25), (32, 32)),
        ((24, 20), (32, 32)),
        ((16, 16), (33, 37)),
    ],
)
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_effective_extent_finds_zero_filled_maps_and_truncation_inverts_them(
    acquired: tuple[int, int], grid: tuple[int, int], noise: float
) -> None:
    """Issue 12, "Why" 4: 24 -> 32 and 42 -> 64 zero-filled maps (also noisy, odd, rectangular)
    are found at their acquired size, and ``degrade`` to it gives the acquisition back."""
    rng = np.random.default_rng(1)
    lr = kspace.degrade(_brain_like(96), acquired)
    lr = lr + noise * rng.standard_normal(lr.shape)
    padded = kspace.zero_fill(lr, grid).astype(np.float32)  # as a pipeline stores it
    extent = kspace.effective_extent(padded)
    assert extent.size == acquired
    assert extent.is_padded(padded.shape)
    assert extent.inside > 0.999
    np.testing.assert_allclose(
        kspace.degrade(padded.astype(np.float64), extent.size), lr, atol=1e-5
    )


@pytest.mark.parametrize("smoothing", [0.0, 1.5, 3.0])
@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_effective_extent_keeps_acquired_maps_even_smooth_ones(
    smoothing: float, noise: float
) -> None:
    """A genuinely acquired 32 x 32 map is not flagged, also when smooth: a Gaussian-smoothed
    noiseless map holds > 99.9 % of its energy in a 20 x 20 window, but has no edge there."""
    from scipy import ndimage

    rng = np.random.default_rng(2)
    acquired = kspace.degrade(_brain_like(96), 32)
    if smoothing:
        acquired = ndimage.gaussian_filter(acquired, (0, smoothing, smoothing))
        k = np.abs(kspace.fft2c(acquired)) ** 2
        assert k[:, 6:26, 6:26].sum() > 0.999 * k.sum()  # the energy rule alone would flag it
    acquired = acquired + noise * rng.standard_normal(acquired.shape)
    extent = kspace.effective_extent(acquired.astype(np.float32))
    assert extent.size == (32, 32)
    assert not extent.is_padded(acquired.shape)


def test_effective_extent_of_apodised_noise_and_zero_maps() -> None:
    """A Hamming-filtered noisy acquisition and pure noise keep their grid; zero-filling after
    apodisation is still found; an all-zero map reports its own grid."""
    rng = np.random.default_rng(3)
    noisy = kspace.degrade(_brain_like(96), 32) + 0.1 * rng.standard_normal((3, 32, 32))
    window = np.hamming(32)
    apodised = kspace.ifft2c(kspace.fft2c(noisy) * np.outer(window, window)).real
    assert kspace.effective_extent(apodised).size == (32, 32)
    assert kspace.effective_extent(rng.standard_normal((2, 32, 32))).size == (32, 32)
    small = kspace.ifft2c(kspace.fft2c(noisy[:, 4:28, 4:28]) * np.outer(*[np.hamming(24)] * 2))
    assert kspace.effective_extent(kspace.zero_fill(small.real, 32)).size == (24, 24)
    assert kspace.effective_extent(np.zeros((2, 32, 32))) == kspace.Extent((32, 32), 1.0)


def test_effective_extent_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="energy"):
        kspace.effective_extent(np.ones((8, 8)), energy=1.0)
    with pytest.raises(ValueError, match="cliff"):
        kspace.effective_extent(np.ones((8, 8)), cliff=0)
    with pytest.raises(ValueError, match="real"):
        kspace.effective_extent(np.ones((8, 8), dtype=complex))


# --- the zero-fill detector's thresholds, pinned (issue 27) ---------------------------------

_N = 32


def _image_with_line_powers(power: np.ndarray) -> np.ndarray:
    """A real ``(1, 32, 3)`` map whose centred k-space along axis -2 has ``power`` per line
    (constant along axis -1); the phases are odd, so lines ``+h`` and ``-h`` differ."""
    c = _N // 2
    k = np.zeros(_N, complex)
    for j in range(-(_N // 2) + 1, _N // 2):
        k[c + j] = np.sqrt(power[c + j]) * np.exp(0.7j * np.sign(j))
    x = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(k), norm="ortho"))
    return np.repeat(x.real[None, :, None], 3, axis=2)


def _profile(h: int, edge: float, outside: float) -> np.ndarray:
    """Power 1 on the lines ``|k| < h``, ``edge`` on ``|k| = h``, ``outside`` beyond."""
    c = _N // 2
    power = np.full(_N, outside)
    power[0] = 0.0  # the unpaired line -N/2
    power[c - h : c + h + 1] = 1.0
    power[[c - h, c + h]] = edge
    return power


@pytest.mark.parametrize(("fraction", "found"), [(0.9e-3, True), (1.1e-3, False)])
def test_the_detector_energy_threshold_is_pinned(fraction: float, found: bool) -> None:
    """A 9-line window holding all but ``fraction`` of the power is found exactly when
    ``fraction`` is below 1 - ENERGY_INSIDE = 1e-3 (lines outside flat and far below)."""
    assert kspace.ENERGY_INSIDE == 0.999
    per_line = fraction * 9 / (1 - fraction) / 22  # 22 lines outside the window
    size = kspace.effective_extent(_image_with_line_powers(_profile(4, 1.0, per_line))).size
    assert (size[0] == 9) is found


@pytest.mark.parametrize(("ratio", "found"), [(0.9e-3, True), (1.1e-3, False)])
def test_the_detector_cliff_threshold_is_pinned(ratio: float, found: bool) -> None:
    """The power per line outside a 9-line window, against its outermost lines (the edge
    band of a 9-line window is one line each side): found below EDGE_CLIFF = 1e-3."""
    assert kspace.EDGE_CLIFF == 1e-3
    power = _profile(4, 0.01, ratio * 0.01)
    assert (kspace.effective_extent(_image_with_line_powers(power)).size[0] == 9) is found


def test_the_detector_edge_band_is_a_quarter_of_the_half_window() -> None:
    """A 15-line window (h = 7) is judged by an edge band of (h + 1) // 4 = 2 lines each
    side: its outermost line is weak (0.01) but the one inside it is not, so the mean edge
    power is about 0.5 and the window ends in a cliff; a band of one line would miss it."""
    power = _profile(7, 0.01, 1e-4)
    assert kspace.effective_extent(_image_with_line_powers(power)).size[0] == 15
    # the band's mean is of both sides, both lines: (0.01 + 1 + 1 + 0.01) / 4 = 0.505
    found = kspace.effective_extent(_image_with_line_powers(_profile(7, 0.01, 4e-4))).size[0]
    assert found == 15  # 4e-4 <= 1e-3 x 0.505 (one side's outer line thrice: 0.34, fails)
    found = kspace.effective_extent(_image_with_line_powers(_profile(7, 0.01, 6e-4))).size[0]
    assert found != 15  # 6e-4 > 1e-3 x 0.505 (the inner lines twice: 0.67, passes)
    # h = 11: a band of 3 lines a side, mean (2 x 0.01 + 4) / 6 = 0.67; the power outside
    # 8e-4 on 8 of the 9 lines outside, 7.1e-4 a line: no cliff (one side and one line of the
    # other would make the mean 0.75, a cliff)
    found = kspace.effective_extent(_image_with_line_powers(_profile(11, 0.01, 8e-4))).size[0]
    assert found != 23
    for h in (4, 5, 6):  # a band of one line: 1e-4 > 1e-3 x 0.01, no cliff
        power = _profile(h, 0.01, 1e-4)
        assert kspace.effective_extent(_image_with_line_powers(power)).size[0] != 2 * h + 1


def test_degrade_split_nyquist_undoes_centred_padding_with_the_real_part_kept() -> None:
    """How pipelines zero-fill an even n: centred zero-padding of the 2-D k-space, real part
    of the image kept; half the Nyquist line lands at each of +-n/2 (n + 1 lines)."""
    rng = np.random.default_rng(3)
    n, N = 24, 64
    lr = rng.uniform(1, 4, (3, n, n))
    k = np.fft.fftshift(
        np.fft.fft2(np.fft.ifftshift(lr, axes=(-2, -1)), norm="ortho"), axes=(-2, -1)
    )
    big = np.zeros((3, N, N), complex)
    big[:, N // 2 - n // 2 : N // 2 + n // 2, N // 2 - n // 2 : N // 2 + n // 2] = k
    padded = np.fft.fftshift(
        np.fft.ifft2(np.fft.ifftshift(big, axes=(-2, -1)), norm="ortho"), axes=(-2, -1)
    ).real
    assert kspace.effective_extent(padded).size == (n + 1, n + 1)
    assert np.abs(kspace.degrade(padded, n) * N / n - lr).max() > 0.1  # plain cut: wrong
    np.testing.assert_allclose(kspace.degrade_split_nyquist(padded, n) * N / n, lr, atol=1e-9)
    # per axis, and the identity of degrade where nothing is split (or n is odd)
    np.testing.assert_allclose(
        kspace.degrade_split_nyquist(padded, n, (False, False)), kspace.degrade(padded, n)
    )
    np.testing.assert_allclose(kspace.degrade_split_nyquist(padded, 25), kspace.degrade(padded, 25))
    np.testing.assert_allclose(kspace.degrade_split_nyquist(padded, N), padded)  # n = N
    for m in (20, 22):  # even sizes that 3 does not divide
        sub = rng.uniform(1, 4, (2, m, m))
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(sub, axes=(-2, -1))), axes=(-2, -1))
        big = np.zeros((2, N, N), complex)
        big[:, N // 2 - m // 2 : N // 2 + m // 2, N // 2 - m // 2 : N // 2 + m // 2] = k
        real = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(big, axes=(-2, -1))), axes=(-2, -1))
        cut = kspace.degrade_split_nyquist(real.real * (N / m) ** 2, m)
        np.testing.assert_allclose(cut, sub, atol=1e-9)
    y_only = kspace.degrade_split_nyquist(padded, n, (True, False))
    assert not np.allclose(y_only, kspace.degrade_split_nyquist(padded, n))
    assert not np.allclose(y_only, kspace.degrade(padded, n))  # y folded, x not
    x_only = kspace.degrade_split_nyquist(padded, n, (False, True))
    assert not np.allclose(x_only, y_only) and not np.allclose(x_only, kspace.degrade(padded, n))
    torch_out = kspace.degrade_split_nyquist(torch.from_numpy(padded), n)
    np.testing.assert_allclose(torch_out.numpy() * N / n, lr, atol=1e-9)


# --- survivors of mutation testing (docs/mutation.md), killed --------------------------------


_C4, _C8 = np.ones((4, 4), complex), np.ones((8, 8), complex)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kspace.fft2c(np.ones(4)), "x must have at least 2 dimensions"),
        (lambda: kspace.ifft2c(np.ones(4)), "k must have at least 2 dimensions"),
        (lambda: kspace.degrade(np.ones(4), 2), "hr must have at least 2"),
        (lambda: kspace.degrade(np.ones((4, 4), complex), 2), "hr must be real"),
        (lambda: kspace.zero_fill(np.ones((4, 4), complex), 8), "lr must be real"),
        (lambda: kspace.data_consistency(_C8, np.ones((4, 4))), "x must be real"),
        (lambda: kspace.data_consistency(np.ones((8, 8)), _C4), "measured must be real"),
        (lambda: kspace.data_consistency(np.ones((8, 8)), np.ones(4)), "measured must have at"),
        (lambda: kspace.effective_extent(np.ones((8, 8), complex)), "maps must be real"),
        (lambda: kspace.effective_extent(np.ones(8)), "maps must have at least"),
        (lambda: kspace.effective_extent(np.ones((8, 8)), energy=0.0), "energy must be in"),
        (lambda: kspace.degrade_split_nyquist(np.ones((4, 4), complex), 2), "hr must be real"),
        (lambda: kspace.degrade_split_nyquist(np.ones((4, 4)), 0), "^n must"),
        (lambda: kspace.degrade(np.ones((4, 4)), (1, 2, 3)), r"^n must be an int or a \(n_y"),
        (lambda: kspace.zero_fill(np.ones((4, 4)), (1, 2, 3)), r"^N must be an int or a \(n_y"),
        (lambda: kspace.zero_fill(np.ones((8, 4)), (4, 8)), "larger than the target grid"),
        (lambda: kspace.zero_fill(np.ones((4, 8)), (8, 4)), "larger than the target grid"),
        (lambda: kspace.degrade(torch.ones(4, 4, dtype=torch.complex64), 2),
         r"hr must be real: .* pass the real part \(or the magnitude\) of a complex map$"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_naming_the_argument(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("torch_input", [False, True])
def test_fft2c_of_a_batch_transforms_each_image_alone(torch_input: bool) -> None:
    """A 3-D batch ``(B, N_y, N_x)`` of odd and even sizes: the shifts and the transform act
    on the last two axes only, as NumPy's reference on each image."""
    x = np.random.default_rng(5).standard_normal((3, 7, 10))
    ref = np.stack([np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(i), norm="ortho")) for i in x])
    given = torch.from_numpy(x) if torch_input else x
    k = kspace.fft2c(given)
    k = k.numpy() if torch_input else k
    np.testing.assert_allclose(k, ref, atol=1e-12)
    back = kspace.ifft2c(torch.from_numpy(k) if torch_input else k)
    np.testing.assert_allclose(back.numpy() if torch_input else back, x, atol=1e-12)


def test_data_consistency_of_slices_uses_each_slice_measurement() -> None:
    """Slices ``(S, N_y, N_x)`` with a rectangular measurement ``(S, n_y, n_x)``."""
    rng = np.random.default_rng(6)
    x, measured = rng.standard_normal((3, 20, 16)), rng.standard_normal((3, 9, 6))
    out = kspace.data_consistency(x, measured)
    assert out.shape == x.shape
    np.testing.assert_allclose(kspace.degrade(out, (9, 6)), measured, atol=1e-12)


def test_projection_matrix_has_the_dtype_asked_for() -> None:
    assert kspace.projection_matrix(8, 3, dtype=torch.float32).dtype == torch.float32
    assert kspace.projection_matrix(8, 3).dtype == torch.float64


def test_lowres_affine_of_an_integer_affine_is_the_float_one() -> None:
    affine = np.diag([3, 3, 5, 1])
    np.testing.assert_array_equal(
        kspace.lowres_affine(affine, (64, 64), (24, 24)),
        kspace.lowres_affine(affine.astype(float), (64, 64), (24, 24)),
    )


@pytest.mark.parametrize(
    ("size", "shape", "padded"),
    [((24, 40), (2, 40, 40), True), ((40, 24), (2, 40, 40), True), ((40, 40), (2, 40, 40), False),
     ((30, 40), (5, 30, 40), False), ((30, 39), (5, 30, 40), True)],
)  # fmt: skip
def test_is_padded_compares_each_axis_with_its_own(size, shape, padded: bool) -> None:
    assert kspace.Extent(size, 1.0).is_padded(shape) is padded


def test_the_smallest_windows_and_the_mirrored_nyquist_line() -> None:
    """A constant map holds one line; a 2-point acquisition zero-filled writes its Nyquist
    line twice (reported as 2, not 3); lines equal to 1e-3 relative are one line written
    twice, and the fraction inside is the power's, below 1."""
    assert kspace.effective_extent(np.full((2, 16, 16), 3.0)).size == (1, 1)
    two = kspace.zero_fill(np.random.default_rng(7).standard_normal((2, 2, 2)), 16)
    assert kspace.effective_extent(two).size == (2, 2)
    power = _profile(4, 1.0, 1e-9)
    image = _image_with_line_powers(power)
    k = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(image, axes=1), axis=1, norm="ortho"), axes=1)
    c = _N // 2
    k[:, c + 4] = 10 * (1 + 1e-3j)  # the +h line nearly the -h one (a real map: conjugates)
    k[:, c - 4] = 10 * (1 - 1e-3j)
    near = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(k, axes=1), axis=1, norm="ortho"), axes=1)
    extent = kspace.effective_extent(near.real)
    assert extent.size[0] == 8 and 0.999 < extent.inside < 1.0
