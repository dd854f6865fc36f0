"""The reference CT's grid: how it reads in a message, whether another grid is the same, and where a
patient (LPS) point falls on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from radiomicgan.io.volume import Volume

# Two grids are the same when spacing and origin agree within 0.01 mm and direction cosines within
# 1e-4: DICOM prints positions as decimal strings of ~6 digits and NIfTI stores them as float32
# (about 3e-5 mm at 500 mm), both far below this; a real misregistration is far above it.
_POSITION_TOLERANCE_MM = 0.01
_DIRECTION_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Grid:
    """A voxel grid in the Volume's conventions.

    Attributes:
        shape: (slices, rows, columns).
        spacing_zyx_mm: slice step, row and column spacing.
        origin_xyz_mm: LPS position of voxel [0, 0, 0].
        direction: 3x3, columns = LPS directions of the x (column), y (row) and z (slice) axes.
    """

    shape: tuple[int, int, int]
    spacing_zyx_mm: tuple[float, float, float]
    origin_xyz_mm: tuple[float, float, float]
    direction: NDArray[np.float64]

    @classmethod
    def of(cls, volume: Volume) -> Grid:
        """The grid of a volume."""
        return cls(volume.shape, volume.spacing_zyx_mm, volume.origin_xyz_mm, np.asarray(volume.direction))

    def matches(self, other: Grid) -> bool:
        """True when both grids put every voxel at the same place (within the tolerances above)."""
        return (
            self.shape == other.shape
            and _close(self.spacing_zyx_mm, other.spacing_zyx_mm, _POSITION_TOLERANCE_MM)
            and _close(self.origin_xyz_mm, other.origin_xyz_mm, _POSITION_TOLERANCE_MM)
            and _close(self.direction.ravel(), other.direction.ravel(), _DIRECTION_TOLERANCE)
        )

    def describe(self) -> str:
        """One line: shape, spacing, origin and direction, e.g. for an error naming two grids."""
        z, y, x = self.shape
        spacing = "x".join(_number(v) for v in self.spacing_zyx_mm)
        origin = ", ".join(_number(v) for v in self.origin_xyz_mm)
        direction = ", ".join(_number(v) for v in self.direction.ravel())
        return (
            f"{z}x{y}x{x} voxels (z, y, x), spacing {spacing} mm, origin ({origin}) mm, "
            f"direction ({direction})"
        )

    def voxel_coordinates(self, points_xyz_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Continuous voxel coordinates (column, row, slice) of LPS points [n, 3] -> [n, 3].

        Voxel centres are at integer coordinates, as in the arrays: [k, j, i] is at (i, j, k).
        """
        spacing_xyz = np.asarray(self.spacing_zyx_mm[::-1], dtype=np.float64)
        to_patient = np.asarray(self.direction, dtype=np.float64) * spacing_xyz[None, :]
        offsets = np.asarray(points_xyz_mm, dtype=np.float64) - np.asarray(self.origin_xyz_mm)[None, :]
        return np.linalg.solve(to_patient, offsets.T).T


def _close(
    a: Sequence[float] | NDArray[np.float64], b: Sequence[float] | NDArray[np.float64], tol: float
) -> bool:
    return bool(np.all(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) <= tol))


def _number(value: float) -> str:
    return f"{float(value):.6g}"
