"""The digital chest phantom: deterministic, anatomically ordered, with the promised structures."""

from __future__ import annotations

import numpy as np
import pytest

from radiomicgan.simulate.phantom import PHANTOM_FOV_MM, lung_mask, make_phantom, render_slice, sample_anatomy


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return make_phantom(128, 3, seed=0).hu


def test_same_seed_same_phantom_other_seed_other_phantom(phantom: np.ndarray) -> None:
    np.testing.assert_array_equal(make_phantom(128, 3, seed=0).hu, phantom)
    assert not np.array_equal(make_phantom(128, 3, seed=1).hu, phantom)


def test_geometry_is_centred_with_the_default_field_of_view() -> None:
    volume = make_phantom(64, 4, seed=0)
    assert volume.shape == (4, 64, 64)
    assert volume.spacing_zyx_mm == pytest.approx((2.5, PHANTOM_FOV_MM / 64, PHANTOM_FOV_MM / 64))
    centre = (
        np.asarray(volume.origin_xyz_mm) + np.array([31.5, 31.5, 1.5]) * np.array(volume.spacing_zyx_mm)[::-1]
    )
    np.testing.assert_allclose(centre, 0.0, atol=1e-9)
    assert make_phantom(64, 2, seed=0, pixel_mm=2.0, slice_mm=1.0).spacing_zyx_mm == (1.0, 2.0, 2.0)


def test_values_are_integer_hu_from_air_to_bone(phantom: np.ndarray) -> None:
    assert phantom.dtype == np.float32
    np.testing.assert_array_equal(phantom, np.rint(phantom))
    assert phantom.min() == -1000 and 600 <= phantom.max() <= 1000  # partial volume dims thin cortex


def test_lungs_bone_fat_and_soft_tissue_are_present(phantom: np.ndarray) -> None:
    body = phantom > -950
    lung = (phantom > -950) & (phantom < -750)
    assert 0.2 < lung.sum() / body.sum() < 0.6
    assert np.count_nonzero(phantom > 300) > 50  # spine, ribs, sternum
    assert np.count_nonzero(np.abs(phantom + 100) <= 10) > 100  # fat
    assert np.count_nonzero(np.abs(phantom - 40) <= 10) > 500  # heart, vessels, muscle
    anatomy = sample_anatomy(0)
    inside = lung_mask(anatomy, 128, PHANTOM_FOV_MM / 128, 0.0)
    lung_values = render_slice(anatomy, 128, PHANTOM_FOV_MM / 128, 0.0)[inside]
    assert -880 < np.median(lung_values) < -820  # parenchyma about -850 HU ...
    assert 10 < np.std(lung_values[lung_values < -700]) < 60  # ... with texture


def test_nodules_of_every_kind_are_rendered_with_their_density() -> None:
    z_range = (-5.0, 5.0)
    anatomy = sample_anatomy(3, z_range_mm=z_range)
    assert {n.kind for n in anatomy.nodules} == {"ground_glass", "solid", "calcified"}
    pixel = 1.0
    for nodule in anatomy.nodules:
        x, y, z = nodule.centre_mm
        assert z_range[0] <= z <= z_range[1]
        image = render_slice(anatomy, 360, pixel, z)
        column, row = round(x / pixel + 179.5), round(y / pixel + 179.5)
        assert image[row, column] == pytest.approx(nodule.hu, abs=15), nodule.kind
    ranges = {"ground_glass": (-700, -500), "solid": (0, 80), "calcified": (300, 1000)}
    for nodule in anatomy.nodules:
        low, high = ranges[nodule.kind]
        assert low <= nodule.hu <= high


def test_anatomy_changes_smoothly_along_z() -> None:
    anatomy = sample_anatomy(0)
    near = [render_slice(anatomy, 64, PHANTOM_FOV_MM / 64, z) for z in (0.0, 1.0)]
    far = render_slice(anatomy, 64, PHANTOM_FOV_MM / 64, 60.0)
    assert not np.array_equal(near[0], near[1])
    assert np.abs(near[0] - near[1]).mean() < 0.5 * np.abs(near[0] - far).mean()


def test_too_small_a_phantom_is_refused() -> None:
    with pytest.raises(ValueError, match="size_px >= 16"):
        make_phantom(8, 1, seed=0)
