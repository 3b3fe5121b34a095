"""The phantom's building blocks: template, smooth fields, per-patient warps, tumours."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.errors import UserError
from mrsisr.sim import anatomy
from mrsisr.sim.anatomy import PatientWarp, SmoothField, load_atlas
from mrsisr.sim.tumour import Tumour


def grid_points(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    index = np.indices(shape, dtype=np.float64).reshape(3, -1)
    return affine[:3, :3] @ index + affine[:3, 3:4]


OBLIQUE = np.array(
    [[1.1, 0.3, 0.0, -100.0], [-0.3, 1.1, 0.0, -120.0], [0.0, 0.1, 3.4, -40.0], [0, 0, 0, 1]]
)
SHAPE = (23, 19, 5)


@pytest.mark.slow
def test_the_template_loads_offline_as_tissue_fractions() -> None:
    atlas = load_atlas()
    total = atlas.gm + atlas.wm + atlas.csf
    assert atlas.gm.shape == atlas.t1.shape == atlas.brain.shape
    assert total.max() <= 1.0 + 1e-5 and min(atlas.gm.min(), atlas.wm.min(), atlas.csf.min()) >= 0
    assert 1.1e6 < atlas.brain.sum() < 2.0e6  # 1 mm voxels: an adult brain is 1.1-1.8 litres

    # T1 contrast of the template itself: WM > GM > CSF.
    def t1_in(tissue: np.ndarray) -> float:
        return float(atlas.t1[tissue > 0.9].mean())

    assert t1_in(atlas.wm) > t1_in(atlas.gm) > t1_in(atlas.csf)


def test_without_nilearn_the_phantom_names_the_extra_to_install(monkeypatch) -> None:
    """nilearn is the optional ``sim`` extra: its absence is one line, not a traceback."""
    real = anatomy.importlib.util.find_spec
    monkeypatch.setattr(
        anatomy.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "nilearn" else real(name, *args),
    )
    with pytest.raises(UserError, match=r"pip install 'mrsisr\[sim\]'"):
        anatomy._template_paths()


@pytest.mark.slow
def test_slice_profile_smooths_only_along_slices() -> None:
    sharp, thick = load_atlas(), load_atlas(3.4)
    np.testing.assert_allclose(sharp.gm.sum(axis=2), thick.gm.sum(axis=2), rtol=1e-3, atol=1e-3)
    assert np.abs(np.diff(thick.gm, axis=2)).mean() < np.abs(np.diff(sharp.gm, axis=2)).mean()


def test_smooth_field_on_a_grid_equals_pointwise_evaluation() -> None:
    field = SmoothField.random(np.random.default_rng(0), length=20.0)
    values = field.on_grid(SHAPE, OBLIQUE)
    np.testing.assert_allclose(values, field(grid_points(SHAPE, OBLIQUE)), atol=1e-4)


def test_smooth_field_has_unit_variance_and_its_length_scale() -> None:
    rng = np.random.default_rng(1)
    points = rng.uniform(-500, 500, (3, 2000))
    samples = np.concatenate([SmoothField.random(rng, 10.0)(points) for _ in range(50)])
    assert abs(samples.var() - 1.0) < 0.1
    field = SmoothField.random(rng, 30.0)
    near = field(points) - field(points + 1.0)
    far = field(points) - field(points + 60.0)
    assert np.abs(near).mean() < 0.25 * np.abs(far).mean()


def test_warp_on_a_grid_equals_pointwise_and_inverts_approximately() -> None:
    warp = PatientWarp.random(np.random.default_rng(2))
    points = grid_points(SHAPE, OBLIQUE)
    atlas_points = warp.grid_to_atlas(SHAPE, OBLIQUE)
    np.testing.assert_allclose(atlas_points, warp.to_atlas(points), atol=1e-3)
    back = warp.from_atlas(atlas_points)  # ignores the displacement: off by a few mm
    assert np.abs(back - points).max() < 6 * warp.amplitude_mm * warp.scale


@pytest.mark.parametrize("seed", range(4))
def test_tumour_compartments_nest_and_stay_in_the_brain(seed: int) -> None:
    rng = np.random.default_rng(seed)
    atlas = load_atlas()
    warp = PatientWarp.random(rng)
    tumour = Tumour.random(rng, atlas, warp, (-20.0, 40.0))
    assert atlas.sample("brain", tumour.centre_mm[:, None])[0] == 1.0
    offsets = rng.normal(0.0, tumour.radius_mm, (3, 20000))
    points = tumour.centre_mm[:, None] + offsets
    lesion = tumour.fractions(points)
    total = lesion.enhancing + lesion.necrosis + lesion.oedema
    assert min(x.min() for x in lesion) >= 0 and total.max() <= 1.0 + 1e-5
    r = np.linalg.norm(offsets, axis=0)
    solid = lesion.enhancing + lesion.necrosis
    assert solid[r < 0.3 * tumour.radius_mm].min() > 0.9  # the centre is tumour
    assert total[r > 2.5 * (tumour.radius_mm + tumour.oedema_mm)].max(initial=0) < 1e-3
    if tumour.rim_mm > 0:  # the core is necrotic and surrounded by the enhancing rim
        assert lesion.necrosis[r < 0.2 * tumour.radius_mm].mean() > 0.5
