"""Noise power spectra of CT slices, and the zero-phase filter that turns one kernel's into another's.

A reconstruction kernel shapes the noise as it shapes the signal: two kernels' noise power spectra
differ by the square of their ratio, NPS_t / NPS_s = c^2 |K_t / K_s|^2, where c, the ratio of the
noise levels, comes from the dose and the patients' size. So sqrt(NPS_t / NPS_s) / c is the
magnitude of the kernel conversion, and unlike the least-squares filter of
`radiomicgan.linear_filter` it needs no pairs: each spectrum comes from its own kernel's slices, of
any patients. It is the physicist's first try at unpaired harmonization (`methods.spectral`), and
the yardstick the unpaired validation measures a model's texture by (`training.validation`).

The estimator (ours: the uniform-phantom practice of IEC 62220-1 and ICRU Report 87, moved to patient
images; `config.SpectralConfig` holds its knobs):

1. Each slice is cut into non-overlapping `patch_px` squares. A patch is a candidate when its mean
   lies in `tissue_range_hu` (fat to muscle): lung, bone and air, whose edges hold most of the
   anatomy's power, are left out.
2. A least-squares plane is subtracted from each candidate (slow anatomical trends).
3. Of the candidates, the `uniform_fraction` flattest are kept: the uniform regions, where what is
   left is mostly noise. Flat is a low SD after a Gaussian blur of `FLATNESS_SIGMA_PX`, which keeps
   the anatomy and drops most of the noise: ranked by the plain SD, the smooth kernel's flattest
   patches would be those of the flattest anatomy and the sharp kernel's those of the least noise,
   regions of different anatomy (on the lung CT the sharp kernel's gain then came out 1.3 at 0.06
   cycles per pixel, where the kernels differ by 5 %).
4. NPS(f) = mean over the kept patches of |FFT(w * patch)|^2 / patch_px^2 (HU^2), w a 2-D Hann
   window scaled to a mean square of 1, averaged over rings 1 / patch_px cycles per pixel wide. The
   window keeps the leakage of the strong low frequencies out of the weak high ones: without it a
   smooth kernel's NPS, which falls 100 dB towards Nyquist, stops falling 40 dB below its peak
   (measured on filtered noise, 32 px patches), and the gain there would be off by the same.

The filter's gain is sqrt(NPS_t / NPS_s) / c, kept within [1 / max_gain, max_gain], over the
reliable band: the rings from the second on (the plane removes the lowest frequencies) where both
spectra lie within `floor_db` of their peak, the longest such run. The noise level ratio c is not
the kernel's: a gain of c would scale every edge with the noise. It is found where kernels agree,
at low frequency: ln sqrt(NPS_t / NPS_s) = ln c + b f^2 fitted over the band's rings up to
`level_fit_cycles` (a kernel ratio is even in f and 1 at f = 0), and divided out. Outside the band
the log gain returns smoothly to 0: towards DC with a raised cosine (a kernel keeps the mean HU),
and above the band over `taper_cycles` (where the source kernel kept nothing, no gain can bring
anything back). The 2-D response is that gain at |f|, real: zero phase. Frequencies are in cycles
per pixel, so spectra of one pixel spacing are compared (`training.unpaired_data` resamples to one).

Pure numpy, like `linear_filter`: a method and the trainer's validation both use it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import SpectralConfig

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
_DEFAULTS = SpectralConfig()
BODY_HU = -900.0  # the fallback's patches: denser than this on average (not air)
FLATNESS_SIGMA_PX = 2.0  # the blur before a patch's flatness is measured (step 3; ours)


@dataclass(frozen=True)
class RadialSpectrum:
    """A noise power spectrum averaged over rings of |f|.

    Attributes:
        frequencies: ring centres k / patch_px, cycles per pixel, k = 0, 1, ...
        power: NPS per ring, HU^2.
        patches: how many patches it was averaged over.
    """

    frequencies: FloatArray
    power: FloatArray
    patches: int


def uniform_patches(slices_hu: NDArray[np.floating], settings: SpectralConfig = _DEFAULTS) -> FloatArray:
    """The uniform tissue patches of `slices_hu` [n, y, x] (HU), plane removed: [k, p, p] (steps 1-3).

    Slices without a patch of tissue (a small or synthetic image) fall back to the patches of the
    body, mean above `BODY_HU`, with a warning.

    Raises:
        ValueError: no patch of the body (or the slices are smaller than a patch).
    """
    p = settings.patch_px
    stack = np.asarray(slices_hu, dtype=np.float64)
    if stack.ndim == 2:
        stack = stack[None]
    n, height, width = stack.shape
    rows, columns = height // p, width // p
    tiles = stack[:, : rows * p, : columns * p].reshape(n, rows, p, columns, p).transpose(0, 1, 3, 2, 4)
    flat = tiles.reshape(-1, p * p)
    means = flat.mean(axis=1)
    lo, hi = settings.tissue_range_hu
    candidates = flat[(means >= lo) & (means <= hi)]
    if len(candidates) == 0:
        candidates = flat[means > BODY_HU]
        if len(candidates) == 0:
            raise ValueError(f"no {p} px patch of the body (mean above {BODY_HU:g} HU) in {n} slices")
        log.warning(
            "no %d px patch has a mean in [%g, %g] HU (baselines.spectral.tissue_range_hu): the noise "
            "power spectrum is measured in the body's most uniform patches", p, lo, hi,
        )  # fmt: skip
    residuals = (candidates - candidates @ _plane_projection(p)).reshape(-1, p, p)
    anatomy = ndimage.gaussian_filter(residuals, (0, FLATNESS_SIGMA_PX, FLATNESS_SIGMA_PX))
    keep = max(1, math.ceil(settings.uniform_fraction * len(residuals)))
    order = np.argsort(anatomy.std(axis=(1, 2)), kind="stable")[:keep]
    kept: FloatArray = residuals[order]
    return kept


def _hann_window(p: int) -> FloatArray:
    """A 2-D Hann window scaled to a mean square of 1, so that windowing keeps the NPS's scale."""
    taper = np.hanning(p + 2)[1:-1]  # no zero end points: every pixel counts
    window = np.outer(taper, taper)
    scaled: FloatArray = window / np.sqrt(np.mean(window**2))
    return scaled


def _plane_projection(p: int) -> FloatArray:
    """The matrix that projects a flattened p x p patch onto the planes a + b y + c x (symmetric)."""
    y, x = np.mgrid[:p, :p]
    design = np.stack([np.ones(p * p), y.ravel() - (p - 1) / 2, x.ravel() - (p - 1) / 2], axis=1)
    projection: FloatArray = design @ np.linalg.pinv(design)
    return projection


def radial_nps(slices_hu: NDArray[np.floating], settings: SpectralConfig = _DEFAULTS) -> RadialSpectrum:
    """The noise power spectrum of `slices_hu` [n, y, x] (HU), ring by ring (the module's steps 1-4).

    Raises:
        ValueError: no uniform tissue patch (`uniform_patches`).
    """
    patches = uniform_patches(slices_hu, settings)
    p = settings.patch_px
    window = _hann_window(p)
    power = np.zeros((p, p))
    for start in range(0, len(patches), 256):  # bounded memory for large stacks
        power += (np.abs(np.fft.fft2(patches[start : start + 256] * window)) ** 2).sum(axis=0)
    power /= len(patches) * p * p
    ring = _ring_index(p)
    counts = np.bincount(ring.ravel())
    per_ring = np.bincount(ring.ravel(), weights=power.ravel()) / np.maximum(counts, 1)
    return RadialSpectrum(np.arange(len(per_ring)) / p, per_ring, len(patches))


def _ring_index(p: int) -> NDArray[np.int64]:
    """Each FFT bin's ring: |f| in units of 1 / p cycles per pixel, rounded."""
    fy, fx = np.meshgrid(np.fft.fftfreq(p), np.fft.fftfreq(p), indexing="ij")
    ring: NDArray[np.int64] = np.rint(np.hypot(fy, fx) * p).astype(np.int64)
    return ring


def reliable_rings(
    source: RadialSpectrum, target: RadialSpectrum, floor_db: float = _DEFAULTS.floor_db
) -> NDArray[np.bool_]:
    """The rings of the reliable band: from the second ring, both spectra within `floor_db` of their
    peak, the longest contiguous run of such rings.

    Raises:
        ValueError: the spectra have different rings, or no ring is reliable.
    """
    if not np.array_equal(source.frequencies, target.frequencies):
        raise ValueError("the two spectra were measured on patches of different sizes")
    floor = 10.0 ** (floor_db / 10.0)
    ok = (source.power >= floor * source.power.max()) & (target.power >= floor * target.power.max())
    ok[:2] = False
    best_start, best_length, start = 0, 0, None
    for index, flag in enumerate([*ok, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None
    if best_length == 0:
        raise ValueError("no frequency where both noise power spectra are reliable")
    band: NDArray[np.bool_] = np.zeros_like(ok)
    band[best_start : best_start + best_length] = True
    return band


@dataclass(frozen=True)
class SpectralGain:
    """The magnitude of a zero-phase filter as a function of |f| (cycles per pixel).

    Attributes:
        frequencies: the reliable band's ring centres.
        log_gain: ln(gain) at them.
        taper_cycles: width of the return to gain 1 above the band.
        noise_level_ratio: c, the target's noise level over the source's, divided out of the gain.
    """

    frequencies: FloatArray
    log_gain: FloatArray
    taper_cycles: float
    noise_level_ratio: float = 1.0

    def __call__(self, frequency: NDArray[np.floating]) -> FloatArray:
        """The gain at `frequency` (any shape, cycles per pixel)."""
        f = np.asarray(frequency, dtype=np.float64)
        lo, hi = float(self.frequencies[0]), float(self.frequencies[-1])
        inside = np.interp(np.clip(f, lo, hi), self.frequencies, self.log_gain)
        weight = np.ones_like(f)
        below, above = f < lo, f > hi
        weight[below] = 0.5 * (1.0 - np.cos(np.pi * f[below] / lo))
        beyond = np.minimum((f[above] - hi) / self.taper_cycles, 1.0)
        weight[above] = 0.5 * (1.0 + np.cos(np.pi * beyond))
        gain: FloatArray = np.exp(weight * inside)
        return gain

    def response(self, shape: tuple[int, int]) -> NDArray[np.complex128]:
        """The 2-D frequency response for slices of `shape`, in numpy's FFT layout (real: zero phase)."""
        fy, fx = np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij")
        return self(np.hypot(fy, fx)).astype(np.complex128)


def spectral_gain(
    source: RadialSpectrum, target: RadialSpectrum, settings: SpectralConfig = _DEFAULTS
) -> SpectralGain:
    """sqrt(NPS_target / NPS_source) / c over the reliable band, within [1 / max_gain, max_gain].

    Raises:
        ValueError: as `reliable_rings`.
    """
    band = reliable_rings(source, target, settings.floor_db)
    frequencies = source.frequencies[band]
    log_ratio = 0.5 * np.log(target.power[band] / source.power[band])
    low = frequencies <= settings.level_fit_cycles
    if low.sum() < 2:  # a band starting high: its first two rings stand in for the low frequencies
        low = np.arange(len(frequencies)) < 2
    if low.sum() >= 2:
        log_level = float(np.polyfit(frequencies[low] ** 2, log_ratio[low], 1)[1])
    else:
        log_level = float(log_ratio[0])
    limit = math.log(settings.max_gain)
    log_gain = np.clip(log_ratio - log_level, -limit, limit)
    return SpectralGain(frequencies, log_gain, settings.taper_cycles, math.exp(log_level))


def spectrum_distance_db(
    candidate: RadialSpectrum, reference: RadialSpectrum, floor_db: float = _DEFAULTS.floor_db
) -> float:
    """Mean |10 log10(NPS_candidate / NPS_reference)| over the reliable band, dB (0: the same texture).

    Raises:
        ValueError: as `reliable_rings`.
    """
    band = reliable_rings(candidate, reference, floor_db)
    ratio = candidate.power[band] / reference.power[band]
    return float(np.mean(np.abs(10.0 * np.log10(ratio))))


def fit_spectral_gain(
    source_hu: NDArray[np.floating], target_hu: NDArray[np.floating], settings: SpectralConfig = _DEFAULTS
) -> tuple[SpectralGain, dict[str, float]]:
    """The gain from the non-standard slices' spectrum to the standard slices', and what the fit found.

    Returns:
        The gain, and its summary: noise_level_ratio, the band's edges (cycles per pixel), the
        smallest and largest gain, and the patches measured of each kernel.

    Raises:
        ValueError: no patch of the body in one kernel's slices (the message says which), or no
            reliable frequency.
    """
    spectra = []
    for name, slices in (("source", source_hu), ("target", target_hu)):
        try:
            spectra.append(radial_nps(slices, settings))
        except ValueError as exc:
            raise ValueError(f"{name} slices: {exc}") from None
    source, target = spectra
    gain = spectral_gain(source, target, settings)
    summary = {
        "noise_level_ratio": gain.noise_level_ratio,
        "band_low_cycles_per_px": float(gain.frequencies[0]),
        "band_high_cycles_per_px": float(gain.frequencies[-1]),
        "min_gain": float(np.exp(gain.log_gain.min())),
        "max_gain": float(np.exp(gain.log_gain.max())),
        "source_patches": float(source.patches),
        "target_patches": float(target.patches),
    }
    return gain, summary
