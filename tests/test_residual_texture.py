"""The residual texture: its SD per HU class and its spectrum are measured, and fresh noise has them."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.residual_texture import EDGES_HU, RINGS, ResidualTexture, slice_seed

SIDE = 128


def _two_tissues(n: int = 4) -> NDArray[np.float64]:
    """Slices whose left half is lung (-800 HU) and right half soft tissue (40 HU)."""
    image = np.full((n, SIDE, SIDE), -800.0)
    image[:, :, SIDE // 2 :] = 40.0
    return image


def _noise(shape: tuple[int, ...], sigma_px: float, seed: int) -> NDArray[np.float64]:
    """Unit-variance noise, white (sigma 0) or blurred."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    if sigma_px:
        noise = ndimage.gaussian_filter(noise, (0, sigma_px, sigma_px))
    result: NDArray[np.float64] = noise / noise.std()
    return result


def _class_of(hu: float) -> int:
    return int(np.digitize(hu, EDGES_HU))


def _levels() -> NDArray[np.float64]:
    """10 HU of noise in the lung half, 30 HU in the soft tissue half."""
    levels = np.full((SIDE, SIDE), 10.0)
    levels[:, SIDE // 2 :] = 30.0
    return levels


def _top_to_bottom_power(noise: NDArray[np.floating]) -> float:
    """Power above a quarter of the sampling rate over power below it."""
    power = np.abs(np.fft.fft2(noise - noise.mean(axis=(-2, -1), keepdims=True))) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(noise.shape[-2]), np.fft.fftfreq(noise.shape[-1]), indexing="ij")
    f = np.hypot(fy, fx)
    return float(power[..., f > 0.25].sum() / power[..., (f > 0) & (f <= 0.25)].sum())


def test_fit_measures_the_sd_of_each_tissue_class() -> None:
    harmonized = _two_tissues()
    standard = harmonized + _noise(harmonized.shape, 0, seed=1) * _levels()
    texture = ResidualTexture.fit(standard, harmonized)
    assert texture.sd_hu[_class_of(-800)] == pytest.approx(10.0, rel=0.1)
    assert texture.sd_hu[_class_of(40)] == pytest.approx(30.0, rel=0.1)
    # a class with no pixels takes its nearest measured neighbour's SD
    assert texture.sd_hu[_class_of(2000)] == texture.sd_hu[_class_of(40)]


def test_a_smooth_bias_is_not_texture() -> None:
    harmonized = _two_tissues()
    ramp = np.linspace(-20, 20, SIDE)[None, None, :]  # the model off by a slow 40 HU ramp: bias
    standard = harmonized + ramp + 5.0 * _noise(harmonized.shape, 0, seed=2)
    assert max(ResidualTexture.fit(standard, harmonized).sd_hu) < 6.0


def test_synthesized_texture_has_the_measured_sd_spectrum_and_no_mean() -> None:
    harmonized = _two_tissues()
    correlated = _noise(harmonized.shape, 1.0, seed=3)
    texture = ResidualTexture.fit(harmonized + correlated * _levels(), harmonized)
    fresh = texture.synthesize(harmonized, [11, 12, 13, 14])
    assert fresh[:, 8:-8, 8 : SIDE // 2 - 8].std() == pytest.approx(10.0, rel=0.15)
    assert fresh[:, 8:-8, SIDE // 2 + 8 : -8].std() == pytest.approx(30.0, rel=0.15)
    # the texture is the residual less its local mean (a 3 px blur): so is the reference spectrum
    reference = correlated - ndimage.gaussian_filter(correlated, (0, 3, 3))
    assert _top_to_bottom_power(fresh / _levels()) == pytest.approx(_top_to_bottom_power(reference), rel=0.2)
    assert _top_to_bottom_power(reference) < 0.3  # the blur made it unlike white noise (~3)
    assert abs(ndimage.gaussian_filter(fresh, (0, 8, 8))[:, 16:-16, SIDE // 2 + 16 : -16]).max() < 3.0


def test_the_same_seed_gives_the_same_texture_and_the_gain_scales_it() -> None:
    harmonized = _two_tissues(2)
    texture = ResidualTexture.fit(harmonized + 20 * _noise(harmonized.shape, 0, seed=4), harmonized)
    first, again = texture.synthesize(harmonized, [5, 6]), texture.synthesize(harmonized, [5, 6])
    assert np.array_equal(first, again) and not np.array_equal(first[0], first[1])
    halved = ResidualTexture(texture.sd_hu, texture.amplitude, gain=0.5).synthesize(harmonized, [5, 6])
    assert np.allclose(halved, 0.5 * first, atol=1e-3)


def test_no_texture_where_the_local_mean_lies_above_max_hu() -> None:
    harmonized = _two_tissues(2)
    harmonized[:, :, : SIDE // 2] = 600.0  # bone on the left, soft tissue on the right
    fitted = ResidualTexture.fit(harmonized + 20 * _noise(harmonized.shape, 0, seed=7), harmonized)
    texture = ResidualTexture(fitted.sd_hu, fitted.amplitude, max_hu=250.0).synthesize(harmonized, [1, 2])
    assert np.all(texture[:, :, : SIDE // 2 - 8] == 0) and texture[:, :, SIDE // 2 + 8 :].std() > 10


def test_odd_sided_slices_get_each_class_sd_up_to_the_last_row_and_column() -> None:
    # the SD map is looked up on a half-resolution grid: an odd side must still be covered whole
    harmonized = _two_tissues(2)[:, : SIDE - 1, : SIDE - 3]
    fitted = ResidualTexture.fit(harmonized + _noise(harmonized.shape, 0, seed=8) * 20.0, harmonized)
    lung_only = ResidualTexture(fitted.sd_hu, fitted.amplitude, max_hu=0.0)  # none in soft tissue
    fresh = lung_only.synthesize(harmonized, [3, 4])
    assert fresh.shape == harmonized.shape
    assert np.all(fresh[:, :, SIDE // 2 + 4 :] == 0)  # soft tissue up to the last column
    assert fresh[:, -1, : SIDE // 2 - 4].std() == pytest.approx(20.0, rel=0.3)  # lung in the last row


def test_pixels_outside_the_window_are_left_out() -> None:
    harmonized = _two_tissues()
    standard = harmonized + 10.0 * _noise(harmonized.shape, 0, seed=5)
    inside = np.ones(harmonized.shape, dtype=bool)
    inside[:, 40:60, 80:100] = False
    standard[~inside] += 900.0  # bone beyond the window: the harmonizer keeps its input there
    texture = ResidualTexture.fit(standard, harmonized, inside)
    assert texture.sd_hu[_class_of(40)] == pytest.approx(10.0, rel=0.1)
    assert ResidualTexture.fit(standard, harmonized).sd_hu[_class_of(40)] > 50


def test_the_record_round_trips_and_another_layout_is_refused() -> None:
    harmonized = _two_tissues(2)
    texture = ResidualTexture.fit(harmonized + 20 * _noise(harmonized.shape, 0, seed=6), harmonized)
    texture = ResidualTexture(texture.sd_hu, texture.amplitude, gain=0.8, max_hu=250.0)
    assert ResidualTexture.from_plain(texture.to_plain()) == texture
    assert len(texture.amplitude) == RINGS
    with pytest.raises(ValueError, match="other HU classes"):
        ResidualTexture.from_plain({**texture.to_plain(), "edges_hu": [0.0]})


def test_tiny_slices_have_no_texture_to_measure() -> None:
    tiny = np.zeros((1, 8, 8))
    with pytest.raises(ValueError, match="no HU class holds"):
        ResidualTexture.fit(tiny + 1, tiny)


def test_a_slice_seed_depends_on_the_values_alone() -> None:
    a = np.arange(64, dtype=np.float32).reshape(8, 8)
    assert slice_seed(a) == slice_seed(a.copy()) == slice_seed(a.astype(np.int16))
    b = a.copy()
    b[3, 3] += 1
    assert slice_seed(a) != slice_seed(b)


def test_the_sd_map_gives_each_pixel_its_class_sd_before_the_gain() -> None:
    harmonized = _two_tissues(1).astype(np.float32)
    fitted = ResidualTexture.fit(harmonized + _noise(harmonized.shape, 0, seed=11) * _levels(), harmonized)
    texture = ResidualTexture(fitted.sd_hu, fitted.amplitude, gain=0.5, max_hu=0.0)
    sd = texture.sd_map(harmonized)
    assert sd.shape == harmonized.shape
    assert np.allclose(sd[:, :, : SIDE // 2 - 4], fitted.sd_hu[_class_of(-800)])  # lung: no gain in it
    assert np.all(sd[:, :, SIDE // 2 + 4 :] == 0)  # soft tissue lies above max_hu
