"""The object to scan: the built-in phantom, or slices of a real CT resampled to the simulation grid."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import SimulationConfig
from radiomicgan.io.volume import Volume
from radiomicgan.simulate.phantom import make_phantom

logger = logging.getLogger(__name__)

PHANTOM = "phantom"
AIR_HU = -1024.0  # outside the source's field of view, and the floor of its values


def prepare_source(source: str | Path | Volume, config: SimulationConfig) -> Volume:
    """The volume to simulate: `config.slices` square slices of `config.size_px` pixels.

    Args:
        source: "phantom", a CT path (DICOM folder or file, NRRD, NIfTI) or a Volume.
        config: slices, size_px, pixel_mm, slice_mm and (for the phantom) seed.

    Returns:
        For the phantom, `make_phantom` at the configured size. For a CT, the slices around its
        centre (every k-th, k = round(slice_mm / the source's spacing), when slice_mm is set; all
        there are if fewer than asked), resampled in plane about the image centre to a square of
        size_px pixels covering the source's field of view (or size_px x pixel_mm when set), HU
        floored at -1024; geometry updated, source datasets dropped.

    Raises:
        InputError: the path cannot be read as a CT volume (see `radiomicgan.io.read_volume`).
    """
    if isinstance(source, str) and source == PHANTOM:
        return make_phantom(
            config.size_px, config.slices, config.seed, pixel_mm=config.pixel_mm, slice_mm=config.slice_mm
        )
    if isinstance(source, Volume):
        volume = source
    else:
        from radiomicgan.io.reader import read_volume

        volume = read_volume(source)
    volume = _pick_slices(volume, config.slices, config.slice_mm)
    return _resample_in_plane(volume, config.size_px, config.pixel_mm)


def _pick_slices(volume: Volume, count: int, slice_mm: float) -> Volume:
    total = volume.shape[0]
    step = max(1, round(slice_mm / volume.spacing_zyx_mm[0])) if slice_mm else 1
    available = (total - 1) // step + 1
    if count > available:
        logger.warning(
            "the source has %d slices at this spacing; simulating all of them, not %d", available, count
        )
        count = available
    first = min(max(0, total // 2 - step * (count // 2)), total - 1 - step * (count - 1))
    return volume.subset(list(range(first, first + step * count, step)))


def _resample_in_plane(volume: Volume, size_px: int, pixel_mm: float) -> Volume:
    """Resample every slice to size_px x size_px about the image centre (linear, anti-aliased)."""
    _, rows, columns = volume.shape
    spacing_y, spacing_x = volume.spacing_zyx_mm[1], volume.spacing_zyx_mm[2]
    new_pixel = pixel_mm or max(rows * spacing_y, columns * spacing_x) / size_px
    offsets = (
        np.arange(size_px, dtype=np.float64) - (size_px - 1) / 2.0
    ) * new_pixel  # mm from the image centre
    y_index = (rows - 1) / 2.0 + offsets / spacing_y
    x_index = (columns - 1) / 2.0 + offsets / spacing_x
    # Gaussian prefilter before shrinking (sigma as scikit-image's resize: (factor - 1) / 2)
    sigma = (max(0.0, (new_pixel / spacing_y - 1) / 2), max(0.0, (new_pixel / spacing_x - 1) / 2))
    hu = np.stack([_resample_slice(s, sigma, y_index, x_index) for s in volume.hu])
    direction = np.asarray(volume.direction, dtype=np.float64)
    shift = direction[:, 0] * x_index[0] * spacing_x + direction[:, 1] * y_index[0] * spacing_y
    origin = np.asarray(volume.origin_xyz_mm, dtype=np.float64) + shift
    return replace(
        volume,
        hu=hu,
        spacing_zyx_mm=(volume.spacing_zyx_mm[0], new_pixel, new_pixel),
        origin_xyz_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        datasets=None,
    )


def _resample_slice(
    hu: NDArray[np.float32],
    sigma: tuple[float, float],
    y_index: NDArray[np.float64],
    x_index: NDArray[np.float64],
) -> NDArray[np.float32]:
    floored = np.maximum(hu, AIR_HU).astype(np.float32)  # padding such as -2048 or -3024 is air
    if any(s > 0 for s in sigma):
        floored = ndimage.gaussian_filter(floored, sigma, mode="nearest")
    yy, xx = np.meshgrid(y_index, x_index, indexing="ij")
    out: NDArray[np.float32] = ndimage.map_coordinates(
        floored, [yy, xx], order=1, mode="constant", cval=AIR_HU
    )
    return out.astype(np.float32)
