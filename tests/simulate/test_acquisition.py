"""Photon counting (`simulate/acquisition.py`): full-dose draws, thinned lower doses, no noise."""

from __future__ import annotations

import math

import numpy as np

from radiomicgan.simulate.acquisition import acquire

SINOGRAM = np.full((40, 50), 2.0, dtype=np.float32)  # e^-2 of the photons reach every bin
PHOTONS = 1.0e4


def test_a_lower_dose_is_thinned_from_the_full_dose_counts() -> None:
    scans = acquire(SINOGRAM, PHOTONS, [(0, 1.0), (0, 0.25)], (0, 3))
    full, quarter = scans[0, 1.0].counts, scans[0, 0.25].counts
    assert full is not None and quarter is not None
    assert (quarter <= full).all()  # photons kept, never added
    expected = 0.25 * PHOTONS * math.exp(-2.0)
    assert abs(quarter.mean() / expected - 1.0) < 0.01  # 2,000 bins of ~340 photons: mean within 1 %
    assert abs(quarter.var() / expected - 1.0) < 0.1  # Poisson: the variance is the mean


def test_the_full_dose_draw_does_not_depend_on_the_doses_asked_for() -> None:
    alone = acquire(SINOGRAM, PHOTONS, [(0, 1.0)], (0, 3))[0, 1.0]
    beside = acquire(SINOGRAM, PHOTONS, [(0, 0.5), (0, 1.0), (1, 1.0)], (0, 3))
    np.testing.assert_array_equal(alone.line_integrals, beside[0, 1.0].line_integrals)
    assert not np.array_equal(beside[0, 1.0].counts, beside[1, 1.0].counts)  # the retest: a new draw


def test_without_noise_the_sinogram_is_measured_as_it_is() -> None:
    scans = acquire(SINOGRAM, math.inf, [(0, 1.0), (0, 0.5)], (0, 0))
    for scan in scans.values():
        assert scan.counts is None
        np.testing.assert_array_equal(scan.line_integrals, SINOGRAM)
