"""Noise power spectra and the unpaired gain: known kernels, known noise levels, uniform patches."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from numpy.typing import NDArray

from radiomicgan.config import SpectralConfig
from radiomicgan.noise_spectrum import (
    radial_nps,
    reliable_rings,
    spectral_gain,
    spectrum_distance_db,
    uniform_patches,
)

SIZE = 64


def smooth_kernel(f: NDArray[np.float64]) -> NDArray[np.float64]:
    """The simulator's smooth window (Hann) at f cycles per pixel (Nyquist 0.5)."""
    nu = np.minimum(np.asarray(f) / 0.5, 1.0)
    return np.asarray(0.5 * (1.0 + np.cos(np.pi * nu)))


def sharp_kernel(f: NDArray[np.float64]) -> NDArray[np.float64]:
    """The simulator's sharp window, (1 + 1.5 nu^2) exp(-nu^2)."""
    nu = np.minimum(np.asarray(f) / 0.5, 1.0)
    return np.asarray((1.0 + 1.5 * nu**2) * np.exp(-(nu**2)))


def fbp_noise(
    kernel: object, slices: int, sd_hu: float, rng: np.random.Generator, mean_hu: float = 40.0
) -> NDArray[np.float64]:
    """Noise as filtered back projection shapes it (ramp x kernel), around `mean_hu`."""
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(SIZE), np.fft.fftfreq(SIZE), indexing="ij"))
    white = rng.normal(0.0, sd_hu, (slices, SIZE, SIZE))
    shaped = np.fft.ifft2(np.fft.fft2(white) * np.sqrt(f) * kernel(f)).real  # type: ignore[operator]
    return np.asarray(mean_hu + shaped)


def test_gain_is_the_kernel_ratio_whatever_the_noise_levels() -> None:
    rng = np.random.default_rng(0)
    settings = SpectralConfig(uniform_fraction=1.0)
    source = radial_nps(fbp_noise(smooth_kernel, 40, 30.0, rng), settings)
    target = radial_nps(fbp_noise(sharp_kernel, 40, 60.0, rng), settings)  # twice the noise: a lower dose
    gain = spectral_gain(source, target, settings)

    assert gain.noise_level_ratio == pytest.approx(2.0, rel=0.1)
    f = gain.frequencies
    truth = sharp_kernel(f) / smooth_kernel(f)
    measured = np.exp(gain.log_gain)
    below_cap = truth < settings.max_gain / 2
    assert below_cap.sum() >= 8  # the band reaches well into the sharpening
    np.testing.assert_allclose(measured[below_cap], truth[below_cap], rtol=0.1)


def test_gain_returns_to_one_at_dc_and_beyond_the_band() -> None:
    rng = np.random.default_rng(1)
    source = radial_nps(fbp_noise(smooth_kernel, 20, 30.0, rng))
    target = radial_nps(fbp_noise(sharp_kernel, 20, 30.0, rng))
    gain = spectral_gain(source, target)
    top = float(gain.frequencies[-1])
    assert gain(np.array([0.0]))[0] == pytest.approx(1.0)
    assert gain(np.array([top + SpectralConfig().taper_cycles + 0.01]))[0] == pytest.approx(1.0)
    response = gain.response((48, 40))
    assert response.shape == (48, 40) and np.all(response.imag == 0)  # zero phase
    assert response[0, 0].real == pytest.approx(1.0)


def test_band_ends_where_the_source_kernel_keeps_nothing() -> None:
    rng = np.random.default_rng(2)
    source = radial_nps(fbp_noise(smooth_kernel, 20, 30.0, rng))
    target = radial_nps(fbp_noise(sharp_kernel, 20, 30.0, rng))
    band = reliable_rings(source, target, floor_db=-30.0)
    assert not band[:2].any()  # DC and the first ring: the plane fit removed them
    floor = 10 ** (-30 / 10) * source.power.max()
    assert np.all(source.power[band] >= floor)
    assert source.frequencies[band].max() < 0.5  # the Hann window's zero at Nyquist is outside


def test_a_kernel_matches_its_own_spectrum() -> None:
    rng = np.random.default_rng(3)
    first = radial_nps(fbp_noise(sharp_kernel, 20, 30.0, rng))
    again = radial_nps(fbp_noise(sharp_kernel, 20, 30.0, rng))
    smooth = radial_nps(fbp_noise(smooth_kernel, 20, 30.0, rng))
    assert spectrum_distance_db(again, first) < 1.0 < spectrum_distance_db(smooth, first)


def test_the_flattest_tissue_patches_are_kept() -> None:
    rng = np.random.default_rng(4)
    slices = np.full((1, SIZE, SIZE), 40.0) + rng.normal(0.0, 10.0, (1, SIZE, SIZE))
    slices[0, :, SIZE // 2 :] += 80.0 * (np.arange(SIZE)[:, None] % 16 < 8)  # stripes of anatomy: right half
    slices[0, :16, :16] = -800.0  # a lung patch: out of the tissue range
    patches = uniform_patches(slices, SpectralConfig(patch_px=16, uniform_fraction=0.4))
    assert len(patches) == 6  # 40 % of the 15 tissue patches: 7 flat, 8 striped
    assert max(float(p.std()) for p in patches) < 15.0  # the noise alone: none of the striped half


def test_without_tissue_the_body_is_measured_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(5)
    lung = -800.0 + rng.normal(0.0, 10.0, (2, SIZE, SIZE))
    with caplog.at_level(logging.WARNING):
        patches = uniform_patches(lung, SpectralConfig(patch_px=16))
    assert len(patches) == 16 and "tissue_range_hu" in caplog.text
    with pytest.raises(ValueError, match="no 16 px patch of the body"):
        uniform_patches(np.full((1, SIZE, SIZE), -1000.0), SpectralConfig(patch_px=16))
