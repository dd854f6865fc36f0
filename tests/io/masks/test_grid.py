"""The CT's grid: LPS points to voxel coordinates, the tolerance of a match, and its one-line text."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial.transform import Rotation

from radiomicgan.io import Volume
from radiomicgan.io.masks.grid import Grid

OBLIQUE = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()


def _grid() -> Grid:
    volume = Volume(
        hu=np.zeros((4, 5, 6), dtype=np.float32),
        spacing_zyx_mm=(2.5, 0.7, 0.6),
        origin_xyz_mm=(-10.0, 20.0, 300.5),
        direction=OBLIQUE,
    )
    return Grid.of(volume)


def test_voxel_coordinates_invert_the_volume_geometry():
    grid = _grid()
    ijk = np.array([[0.0, 0.0, 0.0], [5.0, 4.0, 3.0], [2.5, 1.5, 0.25]])  # (column, row, slice)
    spacing_xyz = np.array(grid.spacing_zyx_mm[::-1])
    points = np.asarray(grid.origin_xyz_mm) + (ijk * spacing_xyz) @ grid.direction.T
    np.testing.assert_allclose(grid.voxel_coordinates(points), ijk, atol=1e-9)


def test_grids_match_within_a_hundredth_of_a_millimetre():
    grid = _grid()
    assert grid.matches(replace(grid, origin_xyz_mm=(-10.005, 20.0, 300.5)))
    assert not grid.matches(replace(grid, origin_xyz_mm=(-10.05, 20.0, 300.5)))
    assert not grid.matches(replace(grid, spacing_zyx_mm=(2.5, 0.7, 0.62)))
    assert not grid.matches(replace(grid, shape=(5, 5, 6)))
    assert not grid.matches(replace(grid, direction=np.eye(3)))


def test_a_grid_reads_in_one_line():
    text = Grid(
        shape=(4, 5, 6), spacing_zyx_mm=(2.5, 0.7, 0.6), origin_xyz_mm=(-10, 20, 300.5), direction=np.eye(3)
    )
    assert text.describe() == (
        "4x5x6 voxels (z, y, x), spacing 2.5x0.7x0.6 mm, origin (-10, 20, 300.5) mm, "
        "direction (1, 0, 0, 0, 1, 0, 0, 0, 1)"
    )
