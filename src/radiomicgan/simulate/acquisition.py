"""Photon counting: a slice's noise-free sinogram measured at full dose and at lower doses.

Counts N ~ Poisson(I0 e^-p) per detector bin and angle, back to line integrals ln(I0 / N). A lower
dose f is thinned from the full-dose counts, N_f ~ Binomial(N, f), each photon kept with probability
f. Given N ~ Poisson(I0 e^-p) this is exactly Poisson(f I0 e^-p) (the thinning property of the
Poisson law), and it is correlated with the full-dose scan as a real reduced-dose acquisition of the
same object is: the photon-counting form of the usual low-dose simulation from high-dose raw data
(e.g. Zeng et al., IEEE Trans. Nucl. Sci. 62:2226, 2015, who add electronic noise for
energy-integrating detectors; we model none).

Randomness: the draw of slice i, realization r comes from numpy's Generator seeded with (seed, i, r);
its thinning to dose f from (seed, i, r, f in ppm). Results do not depend on how slices are spread
over worker processes, and the full-dose series do not depend on the doses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_NOISE_STREAM = 0x4E4F4953  # "NOIS": keeps the noise's random stream apart from the phantom's
_THINNING_STREAM = 0x5448494E  # "THIN": a lower dose's draws, apart from the full-dose noise


@dataclass(frozen=True)
class Acquisition:
    """Measured line integrals and the photon counts behind them (None without noise)."""

    line_integrals: NDArray[np.float32]
    counts: NDArray[np.int64] | None


def acquire(
    line_integrals: NDArray[np.float32],
    photons: float,
    needed: Iterable[tuple[int, float]],
    key: tuple[int, int],
) -> dict[tuple[int, float], Acquisition]:
    """The scans a slice's series need, by (realization, dose): a full-dose Poisson draw per
    realization, thinned to each lower dose.

    Args:
        line_integrals: the noise-free sinogram.
        photons: unattenuated photons per detector bin and angle at full dose; math.inf: no noise.
        needed: (realization, dose) pairs: realization 0 is the scan, 1 the retest; dose in (0, 1].
        key: (seed, slice index), which with the realization (and dose) fixes the draws.
    """
    full: dict[int, Acquisition] = {}
    acquisitions: dict[tuple[int, float], Acquisition] = {}
    for realization, dose in dict.fromkeys(needed):
        if realization not in full:
            full[realization] = _noisy(line_integrals, photons, (*key, realization))
        scan = full[realization]
        if dose != 1.0 and scan.counts is not None:
            scan = _thinned(scan.counts, photons, dose, (*key, realization))
        acquisitions[realization, dose] = scan
    return acquisitions


def _noisy(line_integrals: NDArray[np.float32], photons: float, key: tuple[int, int, int]) -> Acquisition:
    """Line integrals measured with Poisson-distributed photon counts."""
    if math.isinf(photons):
        return Acquisition(line_integrals, None)
    rng = np.random.default_rng([*key, _NOISE_STREAM])
    counts = rng.poisson(photons * np.exp(-line_integrals.astype(np.float64)))
    return Acquisition(_measured(counts, photons), counts)


def _thinned(
    counts: NDArray[np.int64], photons: float, dose: float, key: tuple[int, int, int]
) -> Acquisition:
    """The same scan with a fraction `dose` of its photons: each counted photon kept with that chance."""
    rng = np.random.default_rng([*key, round(dose * 1e6), _THINNING_STREAM])
    kept = rng.binomial(counts, dose)
    return Acquisition(_measured(kept, dose * photons), kept)


def _measured(counts: NDArray[np.int64], photons: float) -> NDArray[np.float32]:
    """Line integrals ln(I0 / N); a ray that counted nothing would give infinity: it counts one photon."""
    return np.log(photons / np.maximum(counts, 1)).astype(np.float32)
