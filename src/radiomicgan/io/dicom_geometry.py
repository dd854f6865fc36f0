"""Slice order and volume geometry of a DICOM series, checked before any pixel is decoded.

A series becomes a regular volume only if its slices share size, pixel spacing and orientation and
sit at evenly spaced positions along the slice normal; anything else would put HU values at the
wrong place, so it is an error that says what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from radiomicgan.errors import InvalidSeriesError
from radiomicgan.io.dicom_values import integer, number, numbers

# Same size and orientation within 1e-4 (direction cosines, mm): DS values are printed to ~6 digits.
_PLANE_TOLERANCE = 1e-4
# Two slices closer than this along the normal are duplicates.
_DUPLICATE_MM = 0.01


@dataclass(frozen=True)
class SeriesGeometry:
    """Where the slices of a series lie, in the Volume's conventions.

    Attributes:
        order: indices into the given datasets, in slice order (ascending along the slice normal).
        origin_xyz_mm: ImagePositionPatient of the first slice in `order`.
        direction: 3x3 matrix, columns = LPS directions of the column (x), row (y) and slice (z) axes.
        spacing_zyx_mm: slice step, row spacing, column spacing.
        shape: (slices, rows, columns).
    """

    order: tuple[int, ...]
    origin_xyz_mm: tuple[float, float, float]
    direction: NDArray[np.float64]
    spacing_zyx_mm: tuple[float, float, float]
    shape: tuple[int, int, int]


def ds_strings(values: Sequence[float] | NDArray[np.float64]) -> list[str]:
    """DICOM decimal strings (at most 16 characters); float noise below 1e-10 becomes 0."""
    return [format_number_as_ds(0.0 if abs(float(v)) < 1e-10 else float(v)) for v in values]


def spacing_tolerance_mm(step_mm: float) -> float:
    """How far a slice gap may stray from the mean step: max(0.01 mm, 1% of the step)."""
    return max(0.01, 0.01 * abs(step_mm))


def series_geometry(datasets: Sequence[Dataset], files: Sequence[Path]) -> SeriesGeometry:
    """Sort slices along the normal and check that they form a regular volume.

    Args:
        datasets: one header per slice (pixel data not needed).
        files: the file of each dataset, for messages.

    Returns:
        The slice order and the volume geometry.

    Raises:
        InvalidSeriesError: a plane attribute is missing, slices differ in size, pixel spacing or
            orientation, two slices share a position, or the slice gaps are uneven.
    """
    if not datasets:
        raise ValueError("series_geometry needs at least one slice")
    planes = [_plane(ds, path) for ds, path in zip(datasets, files, strict=True)]
    first = planes[0]
    for plane, path in zip(planes[1:], files[1:], strict=True):
        _check_same_plane(first, plane, files[0], path)
    row, col = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    positions = np.array([p.position for p in planes])
    along = positions @ normal
    order = [int(i) for i in np.argsort(along, kind="stable")]
    step = _check_positions(positions[order], along[order], normal, [files[i] for i in order])
    if step is None:
        step = _single_slice_spacing(datasets[0], files[0])
    origin = positions[order[0]]
    return SeriesGeometry(
        order=tuple(order),
        origin_xyz_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
        direction=np.column_stack([row, col, normal]),
        spacing_zyx_mm=(step, first.spacing_yx[0], first.spacing_yx[1]),
        shape=(len(datasets), first.rows, first.columns),
    )


@dataclass(frozen=True)
class _Plane:
    rows: int
    columns: int
    spacing_yx: tuple[float, float]
    orientation: NDArray[np.float64]
    position: NDArray[np.float64]


def _plane(ds: Dataset, path: Path) -> _Plane:
    # numbers() refuses a missing, short, non-numeric or non-finite value: NaN passes every check below.
    plane_values = (("ImagePositionPatient", 3), ("ImageOrientationPatient", 6), ("PixelSpacing", 2))
    values = {keyword: numbers(ds, keyword, path, count) for keyword, count in plane_values}
    if not ds.get("Rows") or not ds.get("Columns"):
        raise InvalidSeriesError(path, "missing Rows or Columns")
    orientation = np.array(values["ImageOrientationPatient"])
    row, col = orientation[:3], orientation[3:]
    unit = abs(np.linalg.norm(row) - 1) < 1e-3 and abs(np.linalg.norm(col) - 1) < 1e-3
    if not unit or abs(float(row @ col)) > 1e-3:
        raise InvalidSeriesError(path, "ImageOrientationPatient is not two orthogonal unit vectors")
    spacing = (values["PixelSpacing"][0], values["PixelSpacing"][1])
    if min(spacing) <= 0:
        raise InvalidSeriesError(path, f"PixelSpacing {spacing} is not positive")
    return _Plane(
        rows=integer(ds, "Rows", path),
        columns=integer(ds, "Columns", path),
        spacing_yx=spacing,
        orientation=orientation,
        position=np.array(values["ImagePositionPatient"]),
    )


def _check_same_plane(first: _Plane, other: _Plane, first_path: Path, path: Path) -> None:
    where = f"{path.name} vs {first_path.name}"
    if (other.rows, other.columns) != (first.rows, first.columns):
        raise InvalidSeriesError(
            path.parent,
            f"slices differ in size: {other.rows}x{other.columns} vs {first.rows}x{first.columns} ({where})",
        )
    if np.abs(np.subtract(other.spacing_yx, first.spacing_yx)).max() > _PLANE_TOLERANCE:
        raise InvalidSeriesError(
            path.parent,
            f"slices differ in PixelSpacing: {_mm(other.spacing_yx)} vs {_mm(first.spacing_yx)} mm ({where})",
        )
    if np.abs(other.orientation - first.orientation).max() > _PLANE_TOLERANCE:
        raise InvalidSeriesError(path.parent, f"slices differ in ImageOrientationPatient ({where})")


def _check_positions(
    positions: NDArray[np.float64], along: NDArray[np.float64], normal: NDArray[np.float64], files: list[Path]
) -> float | None:
    """Check sorted slice positions; return the mean step (mm), or None for a single slice."""
    if len(along) < 2:
        return None
    gaps = np.diff(along)
    if (duplicates := np.flatnonzero(gaps < _DUPLICATE_MM)).size:
        k = int(duplicates[0])
        raise InvalidSeriesError(
            files[k].parent,
            f"duplicate slice position {along[k]:.3f} mm along the normal "
            f"({files[k].name}, {files[k + 1].name})",
        )
    step = float((along[-1] - along[0]) / (len(along) - 1))
    tolerance = spacing_tolerance_mm(step)
    deviation = np.abs(gaps - step)
    if deviation.max() > tolerance:
        k = int(np.argmax(deviation))  # the worst gap is the one a user should look at
        raise InvalidSeriesError(
            files[k].parent,
            f"uneven slice spacing: gap of {gaps[k]:.3f} mm between {files[k].name} and {files[k + 1].name}, "
            f"most gaps are {float(np.median(gaps)):.3f} mm (missing slices?)",
        )
    # Positions must move along the normal only; a sideways drift (gantry tilt) is not a regular grid.
    sideways = (positions - positions[0]) - np.outer(along - along[0], normal)
    drift = np.linalg.norm(sideways, axis=1)
    if (off := np.flatnonzero(drift > tolerance)).size:
        k = int(off[0])
        raise InvalidSeriesError(
            files[k].parent,
            f"slice positions are not along the slice normal ({files[k].name} is {drift[k]:.3f} mm off; "
            "gantry tilt?)",
        )
    return step


def _single_slice_spacing(ds: Dataset, path: Path) -> float:
    # One slice has no step: SpacingBetweenSlices, else SliceThickness, else 1 mm (only a label then).
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = number(ds, keyword, path) if ds.get(keyword) not in (None, "") else 0.0
        except InvalidSeriesError:
            continue  # a label only: a damaged one is no reason to refuse the slice
        if value > 0:
            return value
    return 1.0


def _mm(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.4g}" for v in values)
