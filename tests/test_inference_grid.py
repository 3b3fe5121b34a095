"""The output grid (issue 25, part 1): the default rule, --grid and --voxel-size, the affine,
and exact data consistency of the Predictor on odd, even and rectangular grids."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.checkpoint import TrainedRange
from mrsisr.inference import (
    MIN_OUTPUT_SIDE,
    Anatomy,
    GridChoice,
    Predictor,
    default_grid,
    describe_outside,
    grid_for_voxel_size,
    in_plane_voxel_mm,
    output_geometry,
    output_grid,
)
from tiny_model import model_file, save

__all__ = ["model_file"]


@pytest.mark.parametrize(
    ("n", "voxel", "expected"),
    [
        ((32, 42), (5.0, 5.0), (64, 84)),  # a real 3T 3-D MRSI: 2.5 mm isotropic
        ((64, 64), (3.0, 3.0), (128, 128)),  # at least twice the input
        ((16, 16), (6.8, 6.8), (64, 64)),  # today's grids, unchanged
        ((24, 24), (10.0, 10.0), (64, 64)),
        ((8, 8), (10.0, 10.0), (64, 64)),  # at least 64 on the short axis
        ((8, 64), (5.0, 5.0), (64, 512)),  # 40 x 320 mm at 0.625 mm: 64 on the short axis
        ((9, 13), (5.0, 5.0), (64, 92)),  # odd: 45 x 65 mm at 0.703 mm (92.4 rounds to 92)
        ((33, 17), (4.0, 4.0), (124, 64)),  # 132 x 68 mm at 1.0625 mm (124.2 -> 124)
        ((63, 63), (3.0, 3.0), (126, 126)),
        ((32, 32), (6.875, 5.0), (88, 64)),  # anisotropic voxels: 220 x 160 mm at 2.5 mm
        ((40, 33), (4.0, 4.0), (80, 66)),  # twice the input binds on both axes
    ],
)
def test_default_grid_table(n, voxel, expected) -> None:
    assert default_grid(n, voxel) == expected


@pytest.mark.parametrize("n", range(16, 33))
@pytest.mark.parametrize("voxel", [3.4, 5.0, 6.8, 10.0])
def test_default_grid_is_64_for_todays_square_inputs(n: int, voxel: float) -> None:
    """n <= 32 on a square field of view of isotropic voxels -> 64 x 64, as before."""
    assert default_grid((n, n), (voxel, voxel)) == (64, 64)


def test_default_grid_rules_hold_for_every_input_from_8_to_64() -> None:
    rng = np.random.default_rng(0)
    for ny in range(8, 65):
        for nx in range(8, 65, 3):
            voxel = (float(rng.uniform(2, 12)), float(rng.uniform(2, 12)))
            N = default_grid((ny, nx), voxel)
            fov = (ny * voxel[0], nx * voxel[1])
            assert N[0] >= 2 * ny and N[1] >= 2 * nx, (ny, nx, voxel, N)
            assert min(N) >= MIN_OUTPUT_SIDE
            # isotropic voxels of v mm, within the rounding of N to an integer per axis
            v = min(min(voxel) / 2, min(fov) / MIN_OUTPUT_SIDE)
            for a in (0, 1):
                assert abs(fov[a] / v - N[a]) <= 0.5 + 1e-9
            # and no finer than needed: one of the bounds is met exactly
            assert min(N) == MIN_OUTPUT_SIDE or any(N[a] == 2 * (ny, nx)[a] for a in (0, 1))


def test_grid_for_voxel_size_keeps_the_field_of_view() -> None:
    assert grid_for_voxel_size((32, 42), (5.0, 5.0), 2.5) == (64, 84)
    assert grid_for_voxel_size((32, 42), (5.0, 5.0), 3.0) == (53, 70)  # 53.3, 70
    assert grid_for_voxel_size((32, 42), (5.0, 5.0), 1.0) == (160, 210)


@pytest.mark.parametrize(
    ("grid", "voxel", "message"),
    [
        ((30, 42), None, "grid 30x42 is smaller than the map's grid 32x42 on an axis"),
        ((32, 42), None, "grid 32x42 is the map's own grid 32x42: nothing to super-resolve"),
        ((300, 300), None, "grid 300x300 exceeds 256 voxels per axis"),
        (None, 6.0, "voxel size 6 mm gives 27x35 over 160x210 mm, which is smaller than"),
        (None, 0.5, "voxel size 0.5 mm gives 320x420 over 160x210 mm, which exceeds 256"),
        ((64, 84), 2.5, "give a grid or a voxel size, not both"),
        ((0, 84), None, "give two sizes N_y N_x >= 1"),
        (None, -1.0, "voxel size must be a finite number of mm > 0"),
        (None, math.nan, "voxel size must be a finite number of mm > 0"),
    ],
)
def test_impossible_grids_are_refused_in_one_line(grid, voxel, message) -> None:
    affine = np.diag([5.0, 5.0, 8.0, 1.0])
    with pytest.raises(ValueError, match=message) as err:
        output_grid((32, 42, 3), affine, grid, voxel)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("grid", "voxel", "message"),
    [
        ((64, 84), 2.5, "not both"),
        ((0, 84), None, "give two sizes N_y N_x >= 1"),
        (None, 0.0, "give a voxel size in mm > 0"),
        (None, math.inf, "give a voxel size in mm > 0"),
    ],
)
def test_grid_choice_checks_its_options(grid, voxel, message) -> None:
    with pytest.raises(ValueError, match=message):
        GridChoice(grid=grid, voxel_size=voxel)


def oblique(voxel: tuple[float, float], angle_deg: float = 17.0) -> np.ndarray:
    """An oblique MRSI affine: rotated in-plane and about x, anisotropic voxels."""
    a, b = np.deg2rad(angle_deg), np.deg2rad(8.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    affine = np.eye(4)
    affine[:3, :3] = rx @ rz @ np.diag([*voxel, 7.0])
    affine[:3, 3] = [-80.0, -95.0, 12.0]
    return affine


@pytest.mark.parametrize(
    ("n", "voxel", "choice", "expected"),
    [
        ((32, 42), (5.0, 5.0), GridChoice(), (64, 84)),
        ((64, 64), (3.0, 3.0), GridChoice(), (128, 128)),
        ((9, 13), (5.0, 5.0), GridChoice(), (64, 92)),
        ((32, 42), (5.0, 5.0), GridChoice(grid=(33, 45)), (33, 45)),
        ((32, 42), (5.0, 5.0), GridChoice(voxel_size=3.0), (53, 70)),
        ((16, 12), (6.0, 5.0), GridChoice(), (102, 64)),
    ],
)
def test_output_affine_same_field_of_view_and_centre(n, voxel, choice, expected) -> None:
    affine = oblique(voxel)
    N = choice.of((*n, 4), affine)
    assert N == expected
    shape, out = output_geometry((*n, 4), affine, N)
    assert shape == (*N, 4)
    np.testing.assert_allclose(out, kspace.lowres_affine(affine, n, N))
    # voxel sizes: the field of view over N, slices unchanged, directions unchanged
    size = np.linalg.norm(out[:3, :3], axis=0)
    np.testing.assert_allclose(size[:2] * N, np.array(voxel) * n)
    np.testing.assert_allclose(out[:3, 2], affine[:3, 2])
    np.testing.assert_allclose(out[:3, :2] / size[:2], affine[:3, :2] / np.array(voxel))
    # input voxel n // 2 and output voxel N // 2 are the same point (centred FFT)
    np.testing.assert_allclose(
        out @ [N[0] // 2, N[1] // 2, 2, 1], affine @ [n[0] // 2, n[1] // 2, 2, 1], atol=1e-9
    )
    assert in_plane_voxel_mm(out) == pytest.approx(tuple(size[:2]))


def test_output_geometry_without_a_grid_uses_the_default() -> None:
    affine = np.diag([5.0, 5.0, 8.0, 1.0])
    shape, _ = output_geometry((32, 42, 3), affine)
    assert shape == (64, 84, 3)
    shape, _ = output_geometry((32, 42, 3), affine, voxel_size=2.0)
    assert shape == (80, 105, 3)


def test_describe_outside_the_trained_ranges() -> None:
    trained = TrainedRange((16, 16), (32, 32), (64, 64))
    assert describe_outside(trained, (16, 32), (64, 64)) is None
    assert describe_outside(None, (64, 64), (128, 128)) is None
    assert describe_outside(trained, (32, 42), (64, 84)) == "n 42 > 32 on x; N 64x84, trained 64x64"
    assert describe_outside(trained, (8, 8), (64, 64)) == "n 8 < 16 on y; n 8 < 16 on x"


def test_a_grid_inside_the_trained_grid_range_is_not_outside() -> None:
    trained = TrainedRange((16, 16), (32, 42), (64, 64), (64, 64), (64, 84))
    assert describe_outside(trained, (32, 42), (64, 84)) is None
    assert describe_outside(trained, (32, 32), (64, 72)) is None
    assert describe_outside(trained, (32, 32), (64, 96)) == "N 64x96, trained 64x64 to 64x84"
    assert describe_outside(trained, (32, 32), (48, 64)) == "N 48x64, trained 64x64 to 64x84"


# --- the Predictor on other grids -------------------------------------------------------


@pytest.fixture(scope="module")
def predictor(model_file) -> Predictor:
    return Predictor.from_file(model_file, device="cpu", batch_size=8)


def anatomy_on(shape: tuple[int, int, int], seed: int = 0) -> Anatomy:
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(*(np.linspace(-1, 1, s) for s in shape[:2]), indexing="ij")
    head = np.repeat(((yy / 0.8) ** 2 + (xx / 0.9) ** 2 <= 1)[:, :, None], shape[2], axis=2)
    t1 = (head * (1 + 0.2 * rng.random(shape))).astype(np.float32)
    return Anatomy(t1=t1, flair=0.7 * t1, mask=head, mask_source="test")


@pytest.mark.parametrize(
    ("n", "choice"),
    [
        ((16, 16), GridChoice()),  # even, square -> 64 x 64 (twice the tiny model's grid)
        ((9, 13), GridChoice()),  # odd, rectangular -> 64 x 92 (92 is not a multiple of 4)
        ((32, 42), GridChoice()),  # -> 64 x 84
        ((8, 8), GridChoice()),  # the smallest input -> 64 x 64
        ((15, 21), GridChoice(grid=(33, 45))),  # odd output grid: padded inside the network
        ((12, 12), GridChoice(grid=(20, 28))),  # smaller than the model's grid
    ],
)
def test_super_resolve_is_exactly_data_consistent_on_any_grid(predictor, n, choice) -> None:
    rng = np.random.default_rng(1)
    affine = np.diag([5.0, 5.0, 8.0, 1.0])
    lr = rng.uniform(1, 4, (*n, 2))
    shape, _ = output_geometry(lr.shape, affine, choice.of(lr.shape, affine))
    anatomy = anatomy_on(shape)
    out = predictor.super_resolve(lr, "NAA", anatomy, (0.0, 0.05))
    assert out.shape == (2, *shape) and out.dtype == np.float32
    assert np.isfinite(out).all()
    for volume in out:
        back = kspace.degrade(np.moveaxis(volume.astype(np.float64), 2, 0), n)
        np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=2e-6 * np.abs(lr).max())
    # the network added detail beyond the measured frequencies
    zero = kspace.zero_fill(np.moveaxis(lr, 2, 0), shape[:2])
    assert np.abs(np.moveaxis(out[0], 2, 0) - zero).max() > 1e-3


def test_read_inputs_warns_once_outside_the_trained_ranges(model_file, tmp_path, caplog):
    from mrsisr.predict.checks import read_inputs
    from mrsisr.predict.plan import plan_jobs

    affine = np.diag([5.0, 5.0, 8.0, 1.0])
    rng = np.random.default_rng(3)
    out_affine = kspace.lowres_affine(affine, (32, 42), (64, 84))
    yy, xx = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 84), indexing="ij")
    head = np.repeat(((yy / 0.8) ** 2 + (xx / 0.8) ** 2 <= 1)[:, :, None], 3, axis=2)
    t1 = save(tmp_path / "t1.nii.gz", head * 1.0, out_affine)
    mets = [
        save(tmp_path / f"lr_{m}.nii.gz", rng.uniform(1, 4, (32, 42, 3)), affine)
        for m in ("NAA", "Gln")
    ]
    jobs = plan_jobs(
        met=mets, metabolites=None, t1=t1, flair=t1, mask=None, manifest=None, out=tmp_path / "o"
    )
    trained = TrainedRange((16, 16), (32, 32), (64, 64))
    with caplog.at_level(logging.WARNING, logger="mrsisr"):
        read_inputs(jobs, GridChoice(), trained=trained)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert (
        "2 map(s) outside what the model was trained on (n 16x16 to 32x32, N 64x64)"
        in (warnings[0])
    )
    assert "n 42 > 32 on x; N 64x84, trained 64x64" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mrsisr"):  # inside: no warning
        read_inputs(
            jobs, GridChoice(grid=(64, 84)), trained=TrainedRange((16, 16), (32, 42), (64, 84))
        )
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
