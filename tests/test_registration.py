"""Registration of the anatomy to a map: known synthetic motions are recovered."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.data.resample import resample_to_grid
from mrsisr.registration import Registration, estimate_registration

N, n, S = 48, 24, 3
VOXEL = (4.0, 3.5)  # mm, anisotropic in-plane
CENTRE = (N // 2, N // 2)


def tissues(points_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """White matter, grey matter and a lesion at in-plane points ``(2, ...)`` in mm from the
    centre: an ellipse of brain with a ring of cortex, two ventricles and an offset lesion."""

    def inside(r: np.ndarray) -> np.ndarray:  # smooth edge, a few mm wide
        return 0.5 * (1 - np.tanh((r - 1) * 15))

    y, x = points_mm
    brain = inside(np.hypot(y / 70, x / 58))
    core = inside(np.hypot(y / 62, x / 50))
    ventricles = inside(np.hypot((y + 8) / 18, (np.abs(x) - 9) / 6))
    lesion = inside(np.hypot((y - 25) / 14, (x + 22) / 11))
    wm = core * (1 - ventricles) * (1 - lesion)
    return wm, brain - core, core * lesion


def anatomy_on_grid(motion: tuple[float, float, float]):
    """T1, FLAIR ``(N, N, S)`` misregistered so that ``motion`` (d0, d1 mm, degrees) aligns
    them: the image at q shows the true anatomy at c + R (q - c) + d."""
    q = (np.indices((N, N)) - np.array(CENTRE)[:, None, None]) * np.array(VOXEL)[:, None, None]
    angle = np.deg2rad(motion[2])
    p = np.stack(
        [
            np.cos(angle) * q[0] - np.sin(angle) * q[1] + motion[0],
            np.sin(angle) * q[0] + np.cos(angle) * q[1] + motion[1],
        ]
    )
    wm, gm, lesion = tissues(p)
    t1 = 0.9 * wm + 0.55 * gm + 0.3 * lesion
    flair = 0.5 * wm + 0.7 * gm + 1.0 * lesion
    return (np.repeat(t1[..., None], S, axis=2), np.repeat(flair[..., None], S, axis=2))


def true_map(seed: int = 0) -> np.ndarray:
    """The metabolite map ``(n, n, S)``: tissue mixture on a 3x finer grid, k-space truncated,
    with a smooth bias and noise (not a linear function of the T1/FLAIR features)."""
    fine = 3 * N
    q = (np.indices((fine, fine)) - fine // 2) * (np.array(VOXEL) / 3)[:, None, None]
    wm, gm, lesion = tissues(q)
    concentration = 8 * wm + 6 * gm + 2 * lesion
    bias = 1 + 0.03 * q[1] / 100
    hr = np.repeat((concentration * bias)[None], S, axis=0)
    rng = np.random.default_rng(seed)
    lr = kspace.degrade(hr, n) + 0.15 * rng.standard_normal((S, n, n))
    return np.moveaxis(lr, 0, 2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "motion", [(0.0, 0.0, 0.0), (3.0, -2.0, 0.0), (-7.0, 5.5, 0.0), (1.5, 2.0, 2.5), (10, 0, 0)]
)
def test_known_motions_are_recovered(motion) -> None:
    t1, flair = anatomy_on_grid(motion)
    brain = (t1 + flair) > 0.5
    found = estimate_registration(true_map(), t1, flair, VOXEL, brain=brain)
    np.testing.assert_allclose(found.shift_mm, motion[:2], atol=0.25)
    assert found.rotation_deg == pytest.approx(motion[2], abs=0.5)
    assert found.score >= found.aligned_score
    if motion != (0.0, 0.0, 0.0):
        assert found.score > found.aligned_score + 0.01


def test_shift_only_search_and_several_maps() -> None:
    t1, flair = anatomy_on_grid((4.0, -3.0, 0.0))
    maps = [true_map(0), 0.5 * true_map(1)]
    found = estimate_registration(maps, t1, flair, VOXEL, max_rotation_deg=0)
    assert found.rotation_deg == 0.0
    np.testing.assert_allclose(found.shift_mm, (4.0, -3.0), atol=0.25)


def test_only_measured_voxels_count() -> None:
    """A map that is zero outside a box (a PRESS-like region): the zeros are excluded and the
    motion is still found from the voxels inside."""
    lr = true_map()
    support = np.zeros(lr.shape, dtype=bool)
    support[4:20, 3:21] = True
    t1, flair = anatomy_on_grid((2.0, 3.0, 0.0))
    found = estimate_registration(
        np.where(support, lr, 0.0), t1, flair, VOXEL, support=support, max_rotation_deg=0
    )
    np.testing.assert_allclose(found.shift_mm, (2.0, 3.0), atol=0.4)


def test_world_transform_moves_an_image_by_the_motion() -> None:
    """An image whose affine is ``world(affine) @ A`` shows at ``M(p)`` what it showed at p."""
    affine = np.array(
        [[0.0, -VOXEL[1], 0, 90.0], [VOXEL[0], 0.0, 0, -100.0], [0, 0, 5.0, 7.0], [0, 0, 0, 1]]
    )
    motion = Registration((3.0, -1.5), 7.0, 0, 0, CENTRE, VOXEL)
    image = np.zeros((N, N, 1), dtype=np.float32)
    image[30, 12, 0] = 1.0
    moved = resample_to_grid(image, motion.world(affine) @ affine, image.shape, affine, order=0)
    target = motion.voxel_transform() @ np.array([30, 12, 0, 1.0])
    assert moved[tuple(np.round(target[:3]).astype(int))] == 1.0
    # the motion in mm: rotating (30, 12) about the centre by 7 degrees, then shifting
    rel = (np.array([30, 12]) - CENTRE) * VOXEL
    a = np.deg2rad(7.0)
    expected = (
        CENTRE
        + (np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ rel + (3.0, -1.5)) / VOXEL
    )
    np.testing.assert_allclose(target[:2], expected)
    json.dumps(motion.record())
    assert motion.shift_norm_mm == pytest.approx(np.hypot(3.0, 1.5))


def test_bad_arguments() -> None:
    t1, flair = anatomy_on_grid((0, 0, 0))
    with pytest.raises(ValueError, match="output grid"):
        estimate_registration(true_map(), t1[:, :, :2], flair[:, :, :2], VOXEL)
    with pytest.raises(ValueError, match="fewer than 10"):
        estimate_registration(true_map(), t1, flair, VOXEL, support=np.zeros((n, n, S), dtype=bool))


def test_a_volume_with_many_slices_uses_the_slices_with_signal(monkeypatch) -> None:
    """Only MAX_SLICES slices enter the estimate: the ones where the maps hold signal."""
    import mrsisr.registration as registration

    monkeypatch.setattr(registration, "MAX_SLICES", 2)
    seen = []
    original = registration._Problem

    def spy(maps, *args):
        seen.append(maps[0])
        return original(maps, *args)

    monkeypatch.setattr(registration, "_Problem", spy)
    t1, flair = anatomy_on_grid((3.0, -1.0, 0.0))
    lr = true_map()
    lr[:, :, 1] = 1e-3 * lr[:, :, 1]  # almost no signal: left out
    found = estimate_registration(lr, t1, flair, VOXEL, max_rotation_deg=0)
    np.testing.assert_allclose(seen[0], np.moveaxis(lr[:, :, [0, 2]], 2, 0))
    np.testing.assert_allclose(found.shift_mm, (3.0, -1.0), atol=0.25)
