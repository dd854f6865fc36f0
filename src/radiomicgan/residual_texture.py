"""The texture a paired model cannot predict, measured at training and given back as fresh noise.

A model trained with a pixel loss predicts the standard image's conditional mean given the input.
Where the standard kernel's noise is not in the input (an iterative reconstruction smoothed it
away, a smooth kernel never passed it), that mean holds less texture than a standard scan: on the
lung CT's iterative scenario the default's high-pass SD in soft tissue was 33.8 HU against the
standard image's 38.0, and it reproduced 16 % fewer soft-tissue features than a repeat scan
(README, Iterative reconstruction). Texture features shift with the noise level, so the model's
features agree with the standard's less than a repeat scan's do, although its pixels are closer.

What is missing is a repeat scan's share of noise: statistics the held-out pairs measure. At the end
of paired training the residual (standard minus harmonized) of the held-out slices, less its local
mean (a Gaussian blur of `LOCAL_SIGMA_PX`, which is bias, not texture), gives:

- its SD per class of local mean HU (`EDGES_HU`: air, lung, fat, soft tissue, bone; CT noise
  depends on the tissue and on the path through the body, and the class captures the first);
- its noise power spectrum's shape, with the SD divided out, averaged over rings of radial
  frequency (`RINGS` from 0 to the corner of the spectrum, cycles per pixel of the training grid).

`synthesize` draws white noise, shapes it with that spectrum and scales it by the SD of each
pixel's class (of the harmonized image's local mean): an independent texture of the residual's
statistics, which the harmonizer adds to its output. Its generator is seeded by the caller from
the input slice's bytes, so the same slice always gets the same texture. Without the local mean
the texture moves no densities. Pure numpy, as `noise_spectrum`.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import scipy.fft
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float64]
FloatT = TypeVar("FloatT", np.float32, np.float64)

# local mean HU classes: air | lung | lung | lung, ground glass | dense lung | fat | fat, water | soft
# tissue | enhanced tissue | bone | dense bone
EDGES_HU = (-950.0, -850.0, -700.0, -500.0, -300.0, -100.0, 0.0, 100.0, 250.0, 500.0)
LOCAL_SIGMA_PX = 3.0  # the local mean: a 3 px blur (as CUT's density term), ~2 mm at 0.7 mm pixels
RINGS = 64  # radial frequency rings from 0 to the spectrum's corner (sqrt(2) / 2 cycles per pixel)
MIN_PIXELS = 256  # a class with fewer residual pixels takes its nearest measured neighbour's SD
_CORNER = float(np.sqrt(0.5))
OUTSIDE = len(EDGES_HU) + 1  # the class index of pixels left out of the SDs


def whitened_residual(
    standard_hu: NDArray[np.floating],
    harmonized_hu: NDArray[np.floating],
    inside: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The residual `standard_hu - harmonized_hu` less its local mean and divided by its class's SD,
    and those SDs per class of local mean (`ResidualTexture.fit`'s arguments; the spectrum is the
    whitened residual's)."""
    harmonized = np.asarray(harmonized_hu, dtype=np.float64)
    weight = np.ones_like(harmonized) if inside is None else inside.astype(np.float64)
    residual = (np.asarray(standard_hu, dtype=np.float64) - harmonized) * weight
    # the local mean over the pixels inside alone: a clipped bone outside must not bleed into them
    residual -= _local_mean(residual) / np.maximum(_local_mean(weight), 1e-6)
    residual *= weight
    classes = _classes(harmonized)
    sd = _sd_per_class(residual, classes if inside is None else np.where(inside, classes, OUTSIDE))
    return residual / sd[classes], sd


def shaped_noise(
    half_amplitude: NDArray[np.float32], shape: tuple[int, ...], seeds: list[int]
) -> NDArray[np.float32]:
    """Noise of SD 1 per slice of `shape` ([B, y, x]), slice b drawn from `seeds[b]`, with the
    amplitude spectrum `half_amplitude` on the half spectrum of a real slice ([y, x // 2 + 1])."""
    height, width = shape[-2:]
    noise = np.empty(shape, dtype=np.float32)
    for b, seed in enumerate(seeds):
        # white noise drawn straight in the half spectrum a real image has, shaped there: one
        # inverse FFT per slice (float32), not a forward and an inverse one
        half = np.random.default_rng(seed).standard_normal((2, height, width // 2 + 1), dtype=np.float32)
        shaped = scipy.fft.irfft2((half[0] + 1j * half[1]) * half_amplitude, s=(height, width))
        noise[b] = shaped / max(float(shaped.std()), 1e-12)
    return noise


@dataclass(frozen=True)
class ResidualTexture:
    """The residual's statistics: SD per local-mean class (HU) and the radial amplitude spectrum.

    Attributes:
        sd_hu: one SD per class of `EDGES_HU` (len(EDGES_HU) + 1 values).
        amplitude: sqrt of the unit-variance noise power per ring (`RINGS` values).
        gain: what `synthesize` scales the texture by (`model.texture_gain`).
        max_hu: `synthesize` adds texture only where the local mean HU lies below this
            (`model.texture_max_hu`).
    """

    sd_hu: tuple[float, ...]
    amplitude: tuple[float, ...]
    gain: float = 1.0
    max_hu: float = 3071.0

    @classmethod
    def fit(
        cls,
        standard_hu: NDArray[np.floating],
        harmonized_hu: NDArray[np.floating],
        inside: NDArray[np.bool_] | None = None,
    ) -> ResidualTexture:
        """The statistics of `standard_hu - harmonized_hu` ([N, y, x] slices of one pixel grid).

        Args:
            standard_hu: the standard kernel's slices.
            harmonized_hu: the model's output for them.
            inside: where the harmonizer standardizes (the window); elsewhere it keeps the input, and
                the residual there is no model's. None: everywhere.

        Raises:
            ValueError: no class holds `MIN_PIXELS` pixels (slices too small to measure).
        """
        whitened, sd = whitened_residual(standard_hu, harmonized_hu, inside)
        return cls(tuple(float(s) for s in sd), tuple(float(a) for a in _ring_amplitude(whitened)))

    def synthesize(self, harmonized_hu: NDArray[np.floating], seeds: list[int]) -> NDArray[np.float32]:
        """Fresh texture for each harmonized slice ([B, y, x], HU), slice b drawn from seed `seeds[b]`,
        times `gain`, where the slice's local mean lies below `max_hu` (0 elsewhere)."""
        harmonized = np.asarray(harmonized_hu, dtype=np.float32)
        height, width = harmonized.shape[-2:]
        noise = shaped_noise(_half_spectrum_shape(self.amplitude, height, width), harmonized.shape, seeds)
        noise *= self.sd_map(harmonized)
        noise *= np.float32(self.gain)
        return noise

    def sd_map(self, harmonized: NDArray[np.float32]) -> NDArray[np.float32]:
        """Each pixel's SD (HU) before the gain: its class's, by its local mean, 0 at or above `max_hu`.

        The local mean is a 3 px blur, so it is taken on a grid of half the resolution: a quarter of
        the pixels to blur and to look up, the class edges moved by at most a pixel (the texture is
        synthesized; the fit classes each pixel on the full grid).
        """
        height, width = harmonized.shape[-2:]
        coarse = _half_resolution(harmonized)
        local_mean = ndimage.gaussian_filter(coarse, (0, LOCAL_SIGMA_PX / 2, LOCAL_SIGMA_PX / 2))
        sd = self._sd_per_hu()[np.clip(np.rint(local_mean), -1024, 3071).astype(np.intp) + 1024]
        full: NDArray[np.float32] = sd.repeat(2, axis=-2).repeat(2, axis=-1)[..., :height, :width]
        return full

    def _sd_per_hu(self) -> NDArray[np.float32]:
        """The SD `synthesize` gives each integer local mean from -1024 to 3071 HU (a table look-up
        is several times faster than classing a slice's pixels)."""
        hu = np.arange(-1024, 3072)
        sd = np.asarray(self.sd_hu, dtype=np.float32)[np.digitize(hu, EDGES_HU)]
        table: NDArray[np.float32] = np.where(hu < self.max_hu, sd, np.float32(0))
        return table

    def to_plain(self) -> dict[str, Any]:
        """JSON-ready data for the model file's metadata."""
        statistics = {
            "edges_hu": list(EDGES_HU),
            "sd_hu": list(self.sd_hu),
            "amplitude": list(self.amplitude),
        }
        return {**statistics, "gain": self.gain, "max_hu": self.max_hu}

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> ResidualTexture:
        """The inverse of `to_plain`.

        Raises:
            ValueError: the data were measured on other classes or rings than this release's.
        """
        if list(data["edges_hu"]) != list(EDGES_HU) or len(data["amplitude"]) != RINGS:
            raise ValueError("its residual texture was measured on other HU classes or frequency rings")
        sd_hu, amplitude = tuple(map(float, data["sd_hu"])), tuple(map(float, data["amplitude"]))
        return cls(sd_hu, amplitude, float(data["gain"]), float(data["max_hu"]))


def slice_seed(slice_hu: NDArray[np.floating]) -> int:
    """A seed from a slice's values: the same slice gets the same texture wherever it is harmonized."""
    return zlib.crc32(np.ascontiguousarray(slice_hu, dtype=np.float32).tobytes())


def _half_resolution(hu: NDArray[np.float32]) -> NDArray[np.float32]:
    """[B, y, x] averaged over 2 x 2 blocks (an odd side's last row or column repeated)."""
    pad = ((0, 0), (0, hu.shape[-2] % 2), (0, hu.shape[-1] % 2))
    even = np.pad(hu, pad, mode="edge") if any(p[1] for p in pad) else hu
    batch, height, width = even.shape
    blocks: NDArray[np.float32] = even.reshape(batch, height // 2, 2, width // 2, 2).mean(axis=(2, 4))
    return blocks


@functools.lru_cache(maxsize=8)
def _half_spectrum_shape(amplitude: tuple[float, ...], height: int, width: int) -> NDArray[np.float32]:
    """The amplitude of each frequency of a real [height, width] image's half spectrum (rfft2's)."""
    shape: NDArray[np.float32] = np.asarray(amplitude, dtype=np.float32)[
        _ring_index((height, width))[:, : width // 2 + 1]
    ]
    shape.flags.writeable = False  # one array for every caller: cached
    return shape


def _local_mean(hu: NDArray[FloatT]) -> NDArray[FloatT]:
    blurred: NDArray[FloatT] = ndimage.gaussian_filter(hu, (0, LOCAL_SIGMA_PX, LOCAL_SIGMA_PX))
    return blurred


def _classes(harmonized: FloatArray) -> NDArray[np.intp]:
    return np.digitize(_local_mean(harmonized), EDGES_HU)


def _sd_per_class(residual: FloatArray, classes: NDArray[np.intp]) -> FloatArray:
    """RMS of the residual in each class; a class with too few pixels takes its nearest measured one's."""
    count = np.bincount(classes.ravel(), minlength=OUTSIDE + 1)[:OUTSIDE]
    power = np.bincount(classes.ravel(), (residual**2).ravel(), minlength=OUTSIDE + 1)[:OUTSIDE]
    measured = np.flatnonzero(count >= MIN_PIXELS)
    if measured.size == 0:
        raise ValueError(f"no HU class holds {MIN_PIXELS} pixels of residual to measure its texture")
    nearest = measured[np.abs(np.arange(len(count))[:, None] - measured[None, :]).argmin(axis=1)]
    sd: FloatArray = np.sqrt(power[nearest] / count[nearest])
    return sd


def _ring_index(shape: tuple[int, ...]) -> NDArray[np.intp]:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    ring = (np.sqrt(fx**2 + fy**2) / _CORNER * RINGS).astype(np.intp)
    return np.minimum(ring, RINGS - 1)


def _ring_amplitude(whitened: FloatArray) -> FloatArray:
    """sqrt of the mean power per ring of unit-variance slices [N, y, x] (the periodogram, averaged)."""
    pixels = whitened.shape[-2] * whitened.shape[-1]
    power = np.mean(np.abs(np.fft.fft2(whitened - whitened.mean(axis=(-2, -1), keepdims=True))) ** 2, 0)
    ring = _ring_index(whitened.shape[-2:]).ravel()
    total = np.bincount(ring, (power / pixels).ravel(), minlength=RINGS)
    count = np.maximum(np.bincount(ring, minlength=RINGS), 1)
    amplitude: FloatArray = np.sqrt(total / count)
    return amplitude
