"""Local bias: how far a candidate moves tissue densities, whatever it does to texture.

A harmonizer that synthesizes noise texture may still not shift a tissue's mean HU: radiomic
first-order features and every threshold a reader applies depend on it. The measure (issue 17): the
mean HU difference candidate - standard over a disc of 10 mm diameter, at every disc position that
lies wholly inside the body, and the 95th percentile of its magnitude over those positions and over
all slices. Texture averages out over a disc (a 10 mm disc holds ~160 pixels of 0.7 mm), a shift of
density does not.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from radiomicgan.evaluate.rois import body_mask

DISC_DIAMETER_MM = 10.0  # issue 17: "10-mm discs inside the body"
PERCENTILE = 95.0


def disc_kernel(diameter_mm: float, spacing_mm: tuple[float, float]) -> NDArray[np.float64]:
    """A disc of `diameter_mm` on a pixel grid of `spacing_mm` (rows, columns), summing to 1."""
    radius_y, radius_x = (diameter_mm / 2.0 / s for s in spacing_mm)
    y, x = np.mgrid[-int(radius_y) : int(radius_y) + 1, -int(radius_x) : int(radius_x) + 1]
    disc = ((y / radius_y) ** 2 + (x / radius_x) ** 2 <= 1.0).astype(np.float64)
    return np.asarray(disc / disc.sum(), dtype=np.float64)


def local_bias_hu(
    reference: NDArray[np.floating],
    candidate: NDArray[np.floating],
    spacing_mm: tuple[float, float],
    *,
    diameter_mm: float = DISC_DIAMETER_MM,
    percentile: float = PERCENTILE,
) -> float:
    """The `percentile` of |mean HU difference| over discs inside the body, pooled over slices.

    Args:
        reference: the standard image, slices [z, y, x] (or one slice [y, x]) in HU.
        candidate: the image compared with it, the same shape, in HU.
        spacing_mm: in-plane pixel spacing (rows, columns).
        diameter_mm: the disc's diameter.
        percentile: which percentile of the magnitudes.

    Returns:
        HU; 0 for identical images. NaN when no disc fits inside the body of any slice.

    Raises:
        ValueError: the shapes differ.
    """
    reference, candidate = np.atleast_3d(reference.T).T, np.atleast_3d(candidate.T).T
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} and {candidate.shape}")
    kernel = disc_kernel(diameter_mm, spacing_mm)
    footprint = kernel > 0
    magnitudes = []
    for ref, cand in zip(reference, candidate, strict=True):
        inside = ndimage.binary_erosion(body_mask(ref), structure=footprint)
        difference = cand.astype(np.float64) - ref.astype(np.float64)
        means = signal.fftconvolve(difference, kernel, mode="same")
        magnitudes.append(np.abs(means[inside]))
    pooled = np.concatenate(magnitudes)
    return float(np.percentile(pooled, percentile)) if pooled.size else float("nan")
