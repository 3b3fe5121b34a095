"""The in-plane symmetries commute exactly with truncation, zero-filling and data consistency."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.symmetry import DIHEDRAL, Symmetry, reflect, symmetries_of

# (N, n) per axis: odd and even grids and acquisitions, square and rectangular, n = N.
CASES = [
    ((16, 16), (8, 8)),
    ((16, 16), (7, 7)),
    ((15, 15), (8, 8)),
    ((15, 15), (7, 7)),
    ((16, 16), (16, 16)),
    ((12, 15), (6, 7)),
    ((13, 16), (8, 5)),
]
IDS = [f"N{N[0]}x{N[1]}-n{n[0]}x{n[1]}" for N, n in CASES]


def _map(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, *shape))


def _close(a, b) -> bool:
    return a.shape == b.shape and np.max(np.abs(a - b)) < 1e-12


@pytest.mark.parametrize(("N", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("sym", DIHEDRAL, ids=str)
def test_every_symmetry_commutes_with_degrade(N, n, sym: Symmetry):
    x = _map(N)
    assert _close(kspace.degrade(sym.apply(x), sym.size(n)), sym.apply(kspace.degrade(x, n)))


@pytest.mark.parametrize(("N", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("sym", DIHEDRAL, ids=str)
def test_every_symmetry_commutes_with_zero_fill_and_data_consistency(N, n, sym: Symmetry):
    lr, x = _map(n, seed=1), _map(N, seed=2)
    assert _close(kspace.zero_fill(sym.apply(lr), sym.size(N)), sym.apply(kspace.zero_fill(lr, N)))
    dc = kspace.data_consistency(x, lr)
    assert _close(kspace.data_consistency(sym.apply(x), sym.apply(lr)), sym.apply(dc))
    # So a network output made consistent after T^-1 agrees with the measurement.
    assert _close(kspace.degrade(sym.invert(sym.apply(dc)), n), lr)


# Every case with an even N_y or n_y and n_y < N_y (for n = N, degrade is the identity).
EVEN = [(N, n) for N, n in CASES if (N[0] % 2 == 0 or n[0] % 2 == 0) and n[0] < N[0]]


@pytest.mark.parametrize(("N", "n"), EVEN)
def test_np_flip_of_an_even_axis_does_not_commute(N, n):
    """``np.flip`` reflects an even axis about N/2 - 1/2: a fraction of a voxel off."""
    x = _map(N)
    flipped = kspace.degrade(np.flip(x, axis=-2), n)
    expected = np.flip(kspace.degrade(x, n), axis=-2)
    assert np.max(np.abs(flipped - expected)) > 1e-2 * np.max(np.abs(expected))
    # while the reflection about voxel N // 2 commutes on the same case
    assert _close(kspace.degrade(reflect(x, -2), n), reflect(kspace.degrade(x, n), -2))


def test_np_flip_is_the_reflection_on_odd_axes_only():
    odd, even = np.arange(7.0), np.arange(8.0)
    assert np.array_equal(reflect(odd[None], -1)[0], odd[::-1])
    assert not np.array_equal(reflect(even[None], -1)[0], even[::-1])
    assert reflect(even[None], -1)[0, 4] == 4.0  # voxel N // 2 stays in place
    assert np.array_equal(reflect(even[None], -1)[0], [0, 7, 6, 5, 4, 3, 2, 1])


@pytest.mark.parametrize(("N", "n"), [(16, 8), (15, 8), (16, 6)])
def test_even_n_nyquist_line_is_the_real_part_and_symmetric(N, n):
    """The derivation behind the exact commutation for even n, checked on one axis."""
    x = np.random.default_rng(3).normal(size=(N, 1))
    k_hr = kspace.fft2c(x)[:, 0]
    k_lr = kspace.fft2c(kspace.degrade(x, (n, 1)))[:, 0] * np.sqrt(N / n)
    minus, plus = N // 2 - n // 2, N // 2 + n // 2  # frequencies -n/2 and +n/2 of the HR grid
    assert abs(k_lr[0] - k_hr[minus].real) < 1e-12  # the kept Nyquist bin is Re(c(-n/2))
    assert abs(k_hr[minus].real - k_hr[plus].real) < 1e-12  # = Re(c(+n/2)) for a real map
    assert abs(k_hr[minus].imag) > 1e-3  # not trivially real: the real part discards something

    # Without the real part (complex truncation), reflection would not commute.
    def complex_degrade(v):
        k = kspace.fft2c(v)[kspace.kept_indices(N, n)]
        return kspace.ifft2c(k) * np.sqrt(n / N)

    lhs = complex_degrade(reflect(x, -2))
    rhs = reflect(complex_degrade(x), -2)
    assert np.max(np.abs(lhs - rhs)) > 1e-3


def test_symmetries_form_the_dihedral_group():
    x = _map((9, 9))
    images = [s.apply(x) for s in DIHEDRAL]
    assert len({im.tobytes() for im in images}) == 8
    for s, im in zip(DIHEDRAL, images):
        assert np.array_equal(s.invert(im), x)
        assert im is not x
    assert symmetries_of((9, 9)) == DIHEDRAL
    assert len(symmetries_of((9, 12))) == 4
    assert all(not s.transpose for s in symmetries_of((9, 12)))
    assert Symmetry(True, False, False).size((5, 7)) == (7, 5)


def test_numpy_and_torch_agree():
    x = _map((6, 7))
    for s in DIHEDRAL:
        assert np.array_equal(s.apply(torch.from_numpy(x)).numpy(), s.apply(x))
        assert np.array_equal(s.invert(torch.from_numpy(x)).numpy(), s.invert(x))


def test_reflect_rejects_other_axes():
    with pytest.raises(ValueError, match="axis"):
        reflect(np.zeros((3, 3, 3)), 0)
