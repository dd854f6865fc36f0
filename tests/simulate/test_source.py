"""What gets scanned: the phantom, or central slices of a CT resampled to the simulation grid."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from radiomicgan.config import SimulationConfig
from radiomicgan.io.volume import Volume
from radiomicgan.simulate.phantom import make_phantom
from radiomicgan.simulate.simulator import simulate_kernels
from radiomicgan.simulate.source import prepare_source

# The shared real CT beside the repository (absent from a user's clone).
LUNG1 = Path(__file__).resolve().parents[3] / "shared" / "data" / "lung1_image.nrrd"
DIRECTION = Rotation.from_euler("xyz", [5, -10, 15], degrees=True).as_matrix()


def _centre_xyz(volume: Volume, z: int = 0) -> np.ndarray:
    _, rows, columns = volume.shape
    index = np.array([(columns - 1) / 2.0, (rows - 1) / 2.0, z])
    step = index * np.array([volume.spacing_zyx_mm[2], volume.spacing_zyx_mm[1], volume.spacing_zyx_mm[0]])
    return np.asarray(volume.origin_xyz_mm) + volume.direction @ step


def _ct(slices: int = 10, rows: int = 40, columns: int = 80) -> Volume:
    hu = np.full((slices, rows, columns), -3024.0, np.float32)  # padding outside the scan circle
    hu[:, 5:35, 10:70] = 40.0
    return Volume(hu, (2.0, 0.8, 0.5), (-12.0, 30.0, 100.0), DIRECTION.copy(), source_format="nrrd")


def test_phantom_source_is_the_configured_phantom() -> None:
    config = SimulationConfig(size_px=64, slices=3, seed=5)
    volume = prepare_source("phantom", config)
    np.testing.assert_array_equal(volume.hu, make_phantom(64, 3, seed=5).hu)


def test_a_ct_becomes_square_slices_over_the_same_field_of_view_and_centre() -> None:
    source = _ct()
    volume = prepare_source(source, SimulationConfig(size_px=32, slices=4))
    assert volume.shape == (4, 32, 32)
    field_of_view = max(40 * 0.8, 80 * 0.5)
    assert volume.spacing_zyx_mm == pytest.approx((2.0, field_of_view / 32, field_of_view / 32))
    np.testing.assert_allclose(_centre_xyz(volume), _centre_xyz(source, z=3), atol=1e-9)  # slices 3..6
    np.testing.assert_array_equal(volume.direction, source.direction)
    assert volume.datasets is None
    assert volume.hu.min() == -1024.0  # -3024 padding became air
    assert volume.hu[:, 16, 16] == pytest.approx(40.0)


def test_slice_spacing_picks_every_kth_central_slice(caplog: pytest.LogCaptureFixture) -> None:
    source = _ct()
    volume = prepare_source(source, SimulationConfig(size_px=16, slices=4, slice_mm=4.0))
    assert volume.spacing_zyx_mm[0] == pytest.approx(4.0)
    np.testing.assert_allclose(_centre_xyz(volume), _centre_xyz(source, z=1), atol=1e-9)  # 1, 3, 5, 7
    with caplog.at_level(logging.WARNING):
        everything = prepare_source(source, SimulationConfig(size_px=16, slices=50))
    assert everything.shape[0] == 10 and "simulating all of them" in caplog.text


def test_pixel_size_sets_the_field_of_view() -> None:
    volume = prepare_source(_ct(), SimulationConfig(size_px=20, slices=1, pixel_mm=3.0))
    assert volume.spacing_zyx_mm[1:] == (3.0, 3.0)
    assert volume.hu[0, 0, 0] == -1024.0  # 60 mm: wider than the source, air outside it
    assert volume.hu[0, 10, 10] == pytest.approx(40.0)


@pytest.mark.skipif(
    not LUNG1.exists(), reason=f"the shared real CT {LUNG1} is absent (only in the project workspace)"
)
def test_the_shared_real_ct_simulates() -> None:
    config = SimulationConfig(size_px=128, slices=2, jobs=1, retest=True)
    source = prepare_source(LUNG1, config)
    assert source.shape == (2, 128, 128)
    assert source.spacing_zyx_mm[1] == pytest.approx(512 * 0.570 / 128, rel=0.01)
    outputs = simulate_kernels(source, config)
    # soft tissue at least 3 pixels from any edge, where no kernel's blur reaches
    inner = ndimage.binary_erosion(source.hu > -300, structure=np.ones((1, 3, 3)), iterations=3)
    assert inner.sum() > 2000
    for key, volume in outputs.items():
        assert np.isfinite(volume.hu).all()
        assert float(volume.hu[inner].mean()) == pytest.approx(float(source.hu[inner].mean()), abs=3.0), key
