"""A series' pixel spacing against the model's: check it, and resample to the model's grid and back.

A model learns a kernel conversion in cycles per pixel (the Wiener prefilter is fitted on an FFT
grid, the network's receptive field is counted in pixels), while a kernel's response is fixed in
cycles per millimetre. On a series whose pixels are another size, the same model applies another
conversion. `check_spacing` compares the two spacings against `config.SpacingTolerance` (thresholds
measured by benchmarks/spacing.py); `resample_slices` moves slices between in-plane grids for
`harmonize --resample`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from radiomicgan.config import SpacingTolerance
from radiomicgan.errors import InputError
from radiomicgan.io import Volume

log = logging.getLogger(__name__)

AIR_HU = -1024.0  # outside the field of view: what a resampled grid sees beyond the slice's edge


def spacing_ratio(series_mm: tuple[float, float], model_mm: tuple[float, float]) -> float:
    """The series' in-plane pixel size over the model's (geometric mean of rows and columns)."""
    return math.sqrt((series_mm[0] * series_mm[1]) / (model_mm[0] * model_mm[1]))


def spacing_deviation(series_mm: tuple[float, float], model_mm: tuple[float, float]) -> float:
    """How far apart two pixel sizes are, either way: the larger of the ratio and its inverse (>= 1)."""
    ratio = spacing_ratio(series_mm, model_mm)
    return max(ratio, 1.0 / ratio)


def needs_resampling(series_mm: tuple[float, float], model_mm: tuple[float, float]) -> bool:
    """Whether `resample` moves slices to the model's grid: the spacings differ by more than rounding."""
    return spacing_deviation(series_mm, model_mm) > SpacingTolerance().same


def pixel_spacing(spacing_zyx_mm: tuple[float, float, float]) -> tuple[float, float]:
    """The in-plane (rows, columns) part of a volume's spacing."""
    return spacing_zyx_mm[1], spacing_zyx_mm[2]


def describe_spacing(spacing_mm: tuple[float, float]) -> str:
    """'0.70 mm' for square pixels, '0.70 x 0.80 mm' otherwise."""
    if math.isclose(spacing_mm[0], spacing_mm[1], rel_tol=1e-3):
        return f"{spacing_mm[0]:.2f} mm"
    return f"{spacing_mm[0]:.2f} x {spacing_mm[1]:.2f} mm"


def check_spacing(
    where: Path,
    series_mm: tuple[float, float],
    model_mm: tuple[float, float] | None,
    *,
    resample: bool = False,
    force: bool = False,
    tolerance: SpacingTolerance | None = None,
) -> bool:
    """Warn about, or refuse, a series whose pixels differ in size from the model's training pixels.

    Args:
        where: the series (named in the message).
        series_mm: its in-plane pixel spacing (rows, columns), mm.
        model_mm: the training pixel spacing the model file records; None for an older file (no check).
        resample: the caller resamples to the model's spacing and back (`resample_slices`).
        force: harmonize anyway beyond the refusal threshold (one warning line).
        tolerance: the thresholds; the measured defaults of `SpacingTolerance` otherwise.

    Returns:
        Whether the slices should be resampled to the model's spacing (only with `resample`, and only
        when the spacings differ by more than `tolerance.same`).

    Raises:
        InputError: the ratio lies beyond `tolerance.refuse`, without `resample` or `force`.
    """
    if model_mm is None:
        return False
    tolerance = tolerance or SpacingTolerance()
    ratio = spacing_ratio(series_mm, model_mm)
    deviation = spacing_deviation(series_mm, model_mm)
    both = f"series pixels {describe_spacing(series_mm)}, model trained at {describe_spacing(model_mm)}"
    if resample and deviation > tolerance.same:
        log.info("%s: %s; resampling to the model's spacing and back", where, both)
        return True
    if deviation > tolerance.refuse and not force:
        raise InputError(
            where,
            f"{both} (ratio {ratio:.2f}); the model's kernel conversion is only right near its own "
            "spacing: use --resample (to the model's spacing and back) or --force",
        )
    if deviation > tolerance.warn:
        log.warning(
            "%s: %s (ratio %.2f); quality drops away from the model's spacing (see --resample)",
            where,
            both,
            ratio,
        )
    return False


def resample_slices(
    hu: NDArray[np.float32],
    from_mm: tuple[float, float],
    to_mm: tuple[float, float],
    shape: tuple[int, int] | None = None,
    fill_hu: float = AIR_HU,
) -> NDArray[np.float32]:
    """Resample slices [B, y, x] in plane about their centre from one pixel spacing to another.

    Cubic B-spline interpolation, with a Gaussian anti-aliasing filter first where the grid gets
    coarser (sigma as scikit-image's resize, (factor - 1) / 2 pixels). Beyond the slice's edge is
    `fill_hu` (air for an image; 0 for a correction).

    Args:
        hu: the slices, HU.
        from_mm: their pixel spacing (rows, columns), mm.
        to_mm: the spacing of the new grid, mm.
        shape: the new grid's size; by default the one that keeps the field of view.
        fill_hu: the value beyond the slice's edge.

    Returns:
        float32 [B, *shape].
    """
    rows, columns = hu.shape[1:]
    if shape is None:
        shape = (
            max(1, round(rows * from_mm[0] / to_mm[0])),
            max(1, round(columns * from_mm[1] / to_mm[1])),
        )
    axes = [
        (n_old - 1) / 2.0 + (np.arange(n_new) - (n_new - 1) / 2.0) * new / old
        for n_old, n_new, old, new in zip((rows, columns), shape, from_mm, to_mm, strict=True)
    ]
    sigma = [max(0.0, (new / old - 1.0) / 2.0) for old, new in zip(from_mm, to_mm, strict=True)]
    grid = np.meshgrid(*axes, indexing="ij")
    out = np.empty((hu.shape[0], *shape), dtype=np.float32)
    for index, image in enumerate(hu):
        smoothed = ndimage.gaussian_filter(image, sigma, mode="nearest") if any(sigma) else image
        out[index] = ndimage.map_coordinates(smoothed, grid, order=3, mode="constant", cval=fill_hu)
    return out


@dataclass(frozen=True)
class TrainingGeometry:
    """The grid a model was trained on, as its model file records it.

    Attributes:
        pixel_spacing_mm: in-plane spacing (rows, columns).
        slice_spacing_mm: distance between slice centres.
        field_of_view_mm: rows and columns times their spacing.
    """

    pixel_spacing_mm: tuple[float, float]
    slice_spacing_mm: float
    field_of_view_mm: tuple[float, float]

    @classmethod
    def of(cls, volume: Volume) -> TrainingGeometry:
        """The geometry of `volume`."""
        y, x = pixel_spacing(volume.spacing_zyx_mm)
        rows, columns = volume.shape[1:]
        return cls((y, x), volume.spacing_zyx_mm[0], (rows * y, columns * x))

    @classmethod
    def mean(cls, geometries: list[TrainingGeometry]) -> TrainingGeometry:
        """The mean of several scans' geometries (each value averaged)."""
        rows_of_values = [(*g.pixel_spacing_mm, g.slice_spacing_mm, *g.field_of_view_mm) for g in geometries]
        values = np.mean(rows_of_values, axis=0)
        rows, columns, slices, fov_rows, fov_columns = (round(float(v), 6) for v in values)
        return cls((rows, columns), slices, (fov_rows, fov_columns))

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> TrainingGeometry:
        """Rebuild from the JSON a model file holds.

        Raises:
            KeyError, TypeError, ValueError: not such a record.
        """
        spacing, fov = data["pixel_spacing_mm"], data["field_of_view_mm"]
        pixel = (float(spacing[0]), float(spacing[1]))
        return cls(pixel, float(data["slice_spacing_mm"]), (float(fov[0]), float(fov[1])))
