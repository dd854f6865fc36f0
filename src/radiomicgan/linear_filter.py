"""The least-squares linear kernel conversion: a Wiener filter fitted on paired slices.

Two reconstructions of one raw scan differ by the ratio of their kernels, a linear shift-invariant
filter, so the strongest linear harmonizer is the filter that minimizes the squared error over the
training pairs:

    H(f) = E[Y(f) X*(f)] / (E[|X(f)|^2] + lambda)

with X the non-standard and Y the standard slice's 2-D spectrum. The expectations are averaged over
the training slices and, to cut the estimate's variance, over a small neighbourhood of frequencies
(the kernels' ratio is smooth in frequency). lambda, relative to the mean power spectrum, is chosen
from a log-spaced grid by the mean squared error on held-out validation pairs. Where the
non-standard kernel keeps nothing (near Nyquist for a Hann window), lambda keeps the filter from
amplifying noise and integer rounding. The grid and the neighbourhood's width are
`config.WienerConfig` (`baselines.wiener`), whose defaults the functions here take.

Slices are filtered whole with the FFT; the periodic wrap-around only mixes the air outside the body.
A filter fitted at one matrix size is resampled in normalized frequency to filter another.

Pure numpy, and two users: the "wiener" method (`radiomicgan.methods.wiener`) and RadiomicGAN's
prefilter (`radiomicgan.training.prefilter`); so it imports neither a method nor the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import WienerConfig

FloatArray = NDArray[np.float32]
ComplexArray = NDArray[np.complex128]

_DEFAULTS = WienerConfig()


@dataclass(frozen=True)
class WienerFilter:
    """A fitted 2-D frequency response, with the regularization validation chose.

    Attributes:
        response: complex [y, x] H(f) in numpy's FFT layout, for slices of that size.
        relative_lambda: the chosen lambda divided by the mean of E|X|^2.
        validation_mse: mean squared error (HU^2) on the validation pairs for each grid lambda.
    """

    response: ComplexArray
    relative_lambda: float
    validation_mse: dict[float, float]

    def __call__(self, slices_hu: NDArray[np.floating]) -> FloatArray:
        """Filter slices [n, y, x] (or one [y, x]) in HU; float32 HU out, not rounded."""
        array = np.asarray(slices_hu, dtype=np.float64)
        response = resample_response(self.response, array.shape[-2:])
        filtered = np.fft.ifft2(np.fft.fft2(array) * response).real
        return filtered.astype(np.float32)


@dataclass(frozen=True)
class _Spectra:
    cross: ComplexArray  # E[Y X*]
    power: NDArray[np.float64]  # E[|X|^2]


def fit_wiener(
    train_source_hu: NDArray[np.floating],
    train_target_hu: NDArray[np.floating],
    val_source_hu: NDArray[np.floating],
    val_target_hu: NDArray[np.floating],
    relative_lambdas: Sequence[float] = _DEFAULTS.relative_lambdas,
    smoothing_px: int = _DEFAULTS.smoothing_px,
) -> WienerFilter:
    """Fit H on training pairs and choose lambda on validation pairs.

    Args:
        train_source_hu, train_target_hu: [n, y, x] paired slices (non-standard, standard) in HU.
        val_source_hu, val_target_hu: [m, y, x] held-out pairs of the same size.
        relative_lambdas: the grid, as multiples of the mean power spectrum.
        smoothing_px: width, in frequency bins, of the box the spectra are averaged over.

    Returns:
        The filter with the lowest validation MSE.

    Raises:
        ValueError: no pairs, or pairs of different shapes.
    """
    _check_pairs(train_source_hu, train_target_hu, "training")
    _check_pairs(val_source_hu, val_target_hu, "validation")
    spectra = estimate_spectra(train_source_hu, train_target_hu, smoothing_px)
    mean_power = float(spectra.power.mean())
    val_fft = np.fft.fft2(np.asarray(val_source_hu, dtype=np.float64))
    val_target = np.asarray(val_target_hu, dtype=np.float64)
    scores: dict[float, float] = {}
    for relative in relative_lambdas:
        response = spectra.cross / (spectra.power + relative * mean_power)
        filtered = np.fft.ifft2(val_fft * resample_response(response, val_fft.shape[-2:])).real
        scores[float(relative)] = float(np.mean((filtered - val_target) ** 2))
    best = min(scores, key=scores.__getitem__)
    return WienerFilter(spectra.cross / (spectra.power + best * mean_power), best, scores)


def estimate_spectra(
    source_hu: NDArray[np.floating], target_hu: NDArray[np.floating], smoothing_px: int
) -> _Spectra:
    """E[Y X*] and E[|X|^2] averaged over slices and a `smoothing_px`-wide box of frequencies."""
    cross = np.zeros(source_hu.shape[-2:], dtype=np.complex128)
    power = np.zeros(source_hu.shape[-2:], dtype=np.float64)
    for x_slice, y_slice in zip(source_hu, target_hu, strict=True):  # one slice at a time: bounded memory
        x = np.fft.fft2(np.asarray(x_slice, dtype=np.float64))
        y = np.fft.fft2(np.asarray(y_slice, dtype=np.float64))
        cross += y * np.conj(x)
        power += np.abs(x) ** 2
    return _Spectra(_smooth_complex(cross, smoothing_px), _smooth_real(power, smoothing_px))


def _smooth_real(values: NDArray[np.float64], width_px: int) -> NDArray[np.float64]:
    # "wrap": the FFT layout is periodic, so the box around DC takes bins from both ends.
    return np.asarray(ndimage.uniform_filter(values, width_px, mode="wrap"), dtype=np.float64)


def _smooth_complex(values: ComplexArray, width_px: int) -> ComplexArray:
    smoothed = _smooth_real(values.real, width_px) + 1j * _smooth_real(values.imag, width_px)
    return np.asarray(smoothed, dtype=np.complex128)


def resample_response(response: ComplexArray, shape: tuple[int, ...]) -> ComplexArray:
    """The response at another FFT size, interpolated linearly in normalized frequency."""
    if tuple(shape) == response.shape:
        return response
    centred = np.fft.fftshift(response)
    coords = [_fitted_coordinates(n_fit, n_new) for n_fit, n_new in zip(response.shape, shape, strict=True)]
    grid = np.meshgrid(*coords, indexing="ij")

    def sample(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(ndimage.map_coordinates(values, grid, order=1, mode="nearest"))

    resampled = sample(centred.real) + 1j * sample(centred.imag)
    return np.fft.ifftshift(resampled)


def _fitted_coordinates(n_fit: int, n_new: int) -> NDArray[np.float64]:
    """Positions, in the fitted centred grid's index units, of the new grid's centred frequencies."""
    new_freqs = np.fft.fftshift(np.fft.fftfreq(n_new))  # cycles per pixel, in [-0.5, 0.5)
    fit_freqs = np.fft.fftshift(np.fft.fftfreq(n_fit))
    step = 1.0 / n_fit
    return (new_freqs - fit_freqs[0]) / step  # type: ignore[no-any-return]


def _check_pairs(source: NDArray[np.floating], target: NDArray[np.floating], what: str) -> None:
    if source.ndim != 3 or source.shape != target.shape or source.shape[0] == 0:
        raise ValueError(
            f"{what} pairs must be two [n, y, x] stacks of one shape, got {source.shape}, {target.shape}"
        )
