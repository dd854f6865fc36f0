"""The least-squares kernel conversion recovers a known linear filter and picks lambda on validation."""

from __future__ import annotations

import numpy as np
import pytest

from radiomicgan.linear_filter import fit_wiener, resample_response


def _textured(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Smooth-ish random images (low-pass noise plus blocks), in HU-like magnitudes."""
    white = rng.normal(0.0, 100.0, (n, size, size))
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    return np.fft.ifft2(np.fft.fft2(white) / (1.0 + 20.0 * freq)).real


def _known_filter(size: int) -> np.ndarray:
    """A sharpening response with a small phase shift: what a kernel conversion looks like."""
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    radius = np.hypot(fy, fx)
    return (1.0 + 2.0 * radius**2) * np.exp(-2j * np.pi * (fx * 1.0))  # +100 % at the edge, 1-px shift


def test_recovers_a_known_linear_filter() -> None:
    rng = np.random.default_rng(0)
    size = 64
    source = _textured(rng, 24, size)
    response = _known_filter(size)
    target = np.fft.ifft2(np.fft.fft2(source) * response).real
    fitted = fit_wiener(source[:20], target[:20], source[20:], target[20:])
    test = _textured(rng, 4, size)
    expected = np.fft.ifft2(np.fft.fft2(test) * response).real
    error = fitted(test) - expected
    # 1-px shift: the 3-bin spectrum average costs ~1 %
    assert np.sqrt(np.mean(error**2)) < 0.02 * expected.std()
    assert fitted.relative_lambda <= 1e-4  # noiseless pairs: validation wants (almost) no regularization


def test_noise_makes_validation_choose_more_regularization() -> None:
    rng = np.random.default_rng(1)
    size = 64
    source = _textured(rng, 24, size)
    target = np.fft.ifft2(np.fft.fft2(source) * _known_filter(size)).real
    noisy = source + rng.normal(0.0, 30.0, source.shape)  # noise the target does not share
    clean_fit = fit_wiener(source[:20], target[:20], source[20:], target[20:])
    noisy_fit = fit_wiener(noisy[:20], target[:20], noisy[20:], target[20:])
    assert noisy_fit.relative_lambda > clean_fit.relative_lambda
    # the chosen lambda is the grid's best, and better than no regularization at all
    scores = noisy_fit.validation_mse
    assert scores[noisy_fit.relative_lambda] == min(scores.values())
    assert scores[noisy_fit.relative_lambda] < scores[min(scores)]


def test_a_filter_fitted_at_one_size_filters_another() -> None:
    rng = np.random.default_rng(2)
    source = _textured(rng, 24, 64)
    target = np.fft.ifft2(np.fft.fft2(source) * _known_filter(64)).real
    fitted = fit_wiener(source[:20], target[:20], source[20:], target[20:])
    test = _textured(rng, 2, 96)
    expected = np.fft.ifft2(np.fft.fft2(test) * _known_filter(96)).real
    error = fitted(test) - expected
    assert np.sqrt(np.mean(error**2)) < 0.05 * expected.std()


def test_resampling_to_the_same_size_is_the_identity() -> None:
    response = _known_filter(32)
    assert resample_response(response, (32, 32)) is response


def test_mismatched_pairs_are_refused() -> None:
    with pytest.raises(ValueError, match="training pairs"):
        fit_wiener(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)), np.zeros((1, 8, 8)), np.zeros((1, 8, 8)))
