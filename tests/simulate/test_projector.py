"""Forward projection and FBP back projection against analytic projections and known objects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radiomicgan.simulate.kernels import discrete_filter
from radiomicgan.simulate.projector import ParallelBeamGeometry, Projector, filter_projections, get_projector

N = 96


def _coords(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(n) - (n - 1) / 2.0
    return c[None, :], c[:, None]


def test_geometry_covers_the_square_and_samples_enough_angles() -> None:
    g = ParallelBeamGeometry.for_image(N)
    assert g.angles == math.ceil(math.pi / 2 * N)
    assert g.detector_bins % 2 == 1
    assert (g.detector_bins - 1) / 2 >= (N - 1) / math.sqrt(2) + 1  # the diagonal fits: no truncation
    assert g.fft_length >= 2 * g.detector_bins
    assert ParallelBeamGeometry.for_image(N, 60).angles == 60


def test_forward_projection_conserves_mass_at_every_angle() -> None:
    image = np.random.default_rng(0).random((N, N)).astype(np.float32)
    sinogram = get_projector(N).forward(image)
    np.testing.assert_allclose(sinogram.sum(axis=1), image.sum(), rtol=1e-4)


def test_forward_projection_of_a_disc_matches_its_chord_lengths() -> None:
    radius = 30.0
    # a disc sampled finely enough that its pixel image is close to the analytic disc
    fine = 8
    xf = (np.arange(N * fine) - (N * fine - 1) / 2.0) / fine
    disc_fine = (xf[None, :] ** 2 + xf[:, None] ** 2 < radius**2).astype(np.float32)
    disc = disc_fine.reshape(N, fine, N, fine).mean(axis=(1, 3))
    sinogram = get_projector(N).forward(disc)
    g = get_projector(N).geometry
    t = np.arange(g.detector_bins) - (g.detector_bins - 1) / 2.0
    chord = 2.0 * np.sqrt(np.clip(radius**2 - t**2, 0.0, None))
    inner = np.abs(t) < radius - 2
    for row in (0, g.angles // 4, g.angles // 3):
        # pixelated edges leave wiggles of ~0.2 pixel lengths on chords of up to 60
        np.testing.assert_allclose(sinogram[row][inner], chord[inner], atol=0.3)


def test_fbp_reconstructs_a_smooth_object() -> None:
    x, y = _coords()
    blob = np.exp(-(x**2 + y**2) / (2 * 12.0**2)) + 0.5 * np.exp(
        -((x - 20) ** 2 + (y + 10) ** 2) / (2 * 4.0**2)
    )
    projector = get_projector(N)
    filters = np.stack([discrete_filter("sharp", projector.geometry.fft_length)])
    recon = projector.back(filter_projections(projector.forward(blob.astype(np.float32)), filters))[0]
    assert np.sqrt(np.mean((recon - blob) ** 2)) < 2e-3
    assert recon.mean() == pytest.approx(blob.mean(), abs=1e-3)


def test_back_projects_several_sinograms_at_once_like_one_by_one() -> None:
    projector = Projector(ParallelBeamGeometry.for_image(32), chunk=5)  # chunk not dividing the angles
    sinograms = np.random.default_rng(1).normal(
        size=(3, projector.geometry.angles, projector.geometry.detector_bins)
    )
    together = projector.back(sinograms.astype(np.float32))
    alone = np.concatenate([projector.back(s[None].astype(np.float32)) for s in sinograms])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)


def test_shapes_are_checked() -> None:
    projector = get_projector(32)
    with pytest.raises(ValueError, match="does not match"):
        projector.forward(np.zeros((32, 30), np.float32))
    with pytest.raises(ValueError, match="does not match"):
        projector.back(np.zeros((1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="oversampling"):
        Projector(projector.geometry, oversampling=3)
